"""The Members page (who is in the workspace, pending invitations, roles, removal, renaming)
and the invitation link an invitee opens (issue 27, item 1).

The services (accounts.members) check the acting person's role: these views only pick the
objects, scoped to the current workspace (another workspace's id is a 404), and turn a
refused action into a message. Viewers and approvers may post here because leaving is
theirs to do; everything else an owner-only service refuses with 403.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_POST

from accounts import members
from accounts.forms import InviteForm, InviteSignupForm, RenameWorkspaceForm, RoleForm
from accounts.models import Invitation, Membership
from accounts.views import SESSION_WORKSPACE, workspace_view

MEMBERS_PAGE_SIZE = 50
# Pending invitations shown (newest first); an owner revokes old ones to see more.
INVITATIONS_SHOWN = 200


def _error_text(exc: ValidationError) -> str:
    return " ".join(exc.messages)


def _page(request: HttpRequest, *, invite_form=None, rename_form=None, status=200):
    is_owner = request.membership.role == Membership.Role.OWNER
    now = timezone.now()
    invitations = []
    if is_owner:
        invitations = list(
            Invitation.objects.filter(
                workspace=request.workspace, accepted_at__isnull=True, revoked_at__isnull=True
            ).order_by("-created_at", "-id")[:INVITATIONS_SHOWN]
        )
        for invitation in invitations:
            invitation.expired = invitation.expires_at <= now
    # A page at a time (invariant 7): an agency may have many clients as approvers.
    page = Paginator(
        Membership.objects.filter(workspace=request.workspace)
        .select_related("user")
        .order_by("user__username", "id"),
        MEMBERS_PAGE_SIZE,
    ).get_page(request.GET.get("page"))
    context = {
        "members": page.object_list,
        "page": page,
        "invitations": invitations,
        "is_owner": is_owner,
        "roles": Membership.Role.choices,
        "invite_form": invite_form or InviteForm(),
        "rename_form": rename_form or RenameWorkspaceForm(initial={"name": request.workspace.name}),
    }
    return render(request, "accounts/members.html", context, status=status)


@workspace_view
def member_list(request: HttpRequest) -> HttpResponse:
    return _page(request)


@workspace_view(viewers_may_post=True)
@require_POST
def invitation_create(request: HttpRequest) -> HttpResponse:
    form = InviteForm(request.POST)
    if form.is_valid():
        try:
            invitation = members.invitation_create(
                actor=request.user,
                workspace=request.workspace,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                origin=request.build_absolute_uri("/").rstrip("/"),
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(
                request,
                f"Invitation sent to {invitation.email} as {invitation.get_role_display().lower()}"
                " (the link works for 7 days).",
            )
            return redirect("member_list")
    return _page(request, invite_form=form, status=400)


def _invitation(request: HttpRequest, invitation_id: int) -> Invitation:
    return get_object_or_404(
        Invitation.objects.select_related("workspace"),
        id=invitation_id,
        workspace=request.workspace,
    )


@workspace_view(viewers_may_post=True)
@require_POST
def invitation_resend(request: HttpRequest, invitation_id: int) -> HttpResponse:
    invitation = _invitation(request, invitation_id)
    try:
        members.invitation_resend(actor=request.user, invitation=invitation)
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, f"Invitation sent again to {invitation.email}.")
    return redirect("member_list")


@workspace_view(viewers_may_post=True)
@require_POST
def invitation_revoke(request: HttpRequest, invitation_id: int) -> HttpResponse:
    invitation = _invitation(request, invitation_id)
    members.invitation_revoke(actor=request.user, invitation=invitation)
    messages.success(
        request, f"Invitation of {invitation.email} revoked: its link no longer works."
    )
    return redirect("member_list")


def _membership(request: HttpRequest, membership_id: int) -> Membership:
    return get_object_or_404(
        Membership.objects.select_related("user", "workspace"),
        id=membership_id,
        workspace=request.workspace,
    )


@workspace_view(viewers_may_post=True)
@require_POST
def member_role(request: HttpRequest, membership_id: int) -> HttpResponse:
    membership = _membership(request, membership_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose one of the roles.")
        return redirect("member_list")
    try:
        members.member_set_role(
            actor=request.user, membership=membership, role=form.cleaned_data["role"]
        )
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(
            request, f"{membership.user.get_username()} is now {membership.get_role_display()}."
        )
    return redirect("member_list")


@workspace_view(viewers_may_post=True)
@require_POST
def member_remove(request: HttpRequest, membership_id: int) -> HttpResponse:
    membership = _membership(request, membership_id)
    leaving = membership.user_id == request.user.pk
    try:
        members.member_remove(actor=request.user, membership=membership)
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
        return redirect("member_list")
    if leaving:
        request.session.pop(SESSION_WORKSPACE, None)
        messages.success(request, f"You left {request.workspace.name}.")
        return redirect("dashboard")
    messages.success(
        request,
        f"{membership.user.get_username()} was removed: their sessions and API token "
        "no longer work.",
    )
    return redirect("member_list")


@workspace_view(viewers_may_post=True)
@require_POST
def workspace_rename(request: HttpRequest) -> HttpResponse:
    form = RenameWorkspaceForm(request.POST)
    if form.is_valid():
        try:
            members.workspace_rename(
                actor=request.user, workspace=request.workspace, name=form.cleaned_data["name"]
            )
        except ValidationError as exc:
            form.add_error("name", exc.messages)
        else:
            messages.success(request, f"Workspace renamed to {request.workspace.name}.")
            return redirect("member_list")
    return _page(request, rename_form=form, status=400)


# --- The invitation link ----------------------------------------------------------------------


@never_cache
@csrf_protect
def invitation_open(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows the invitation (opening it changes nothing: mail scanners open links);
    POST joins the signed-in person, or creates the invitee's login and joins."""
    invitation = members.invitation_from_token(token)
    valid = invitation is not None and invitation.is_pending()
    context = {"invitation": invitation if valid else None, "token": token}
    if not valid:
        return render(request, "accounts/invitation.html", context, status=400)
    signup = InviteSignupForm(request.POST if request.method == "POST" else None)
    context["form"] = signup
    if request.method != "POST":
        return render(request, "accounts/invitation.html", context)
    try:
        if request.user.is_authenticated:
            membership = members.invitation_accept(token=token, user=request.user)
        elif signup.is_valid():
            user = members.invitation_accept_new_user(
                token=token,
                username=signup.cleaned_data["username"],
                password=signup.cleaned_data["password1"],
            )
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            membership = Membership.objects.get(workspace=invitation.workspace, user=user)
        else:
            return render(request, "accounts/invitation.html", context, status=400)
    except ValidationError as exc:
        if hasattr(exc, "error_dict") and "username" in exc.error_dict:
            signup.add_error("username", exc.error_dict["username"])
            return render(request, "accounts/invitation.html", context, status=400)
        context["invitation"] = None
        context["error"] = _error_text(exc)
        return render(request, "accounts/invitation.html", context, status=400)
    request.session[SESSION_WORKSPACE] = membership.workspace_id
    messages.success(request, f"Welcome to {membership.workspace.name}.")
    return redirect("dashboard")
