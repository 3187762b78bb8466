"""Workspace plumbing shared by every page, the workspace switcher, accounts and notices.

Every page is wrapped in `workspace_view`: it requires a login, resolves the current
workspace (kept in the session, defaulting to the user's first membership) and refuses
any state-changing request from a viewer with 403. Views then scope every lookup to
`request.workspace`, so another workspace's object is a 404 (invariant 4).
"""

from __future__ import annotations

import datetime as dt
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts import services
from accounts.forms import SandboxAccountForm, WebhookAccountForm
from accounts.models import WRITE_ROLES, Membership, SocialAccount
from channels.models import Channel
from ground.zones import iana_zone_names

SESSION_WORKSPACE = "workspace_id"
SESSION_TZ = "display_tz"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# An account whose latest attempt in this window failed is marked on the Accounts page.
FAILING_WINDOW = dt.timedelta(days=1)
ACCOUNTS_PAGE_SIZE = 50


def workspace_view(view=None, *, viewers_may_post: bool = False):
    """Login required; sets request.workspace/.membership/.memberships/.can_edit/.display_tz.

    `viewers_may_post` is for POSTs that change only the visitor's own session (switching
    workspace), never the workspace's data.
    """
    if view is None:
        return lambda v: workspace_view(v, viewers_may_post=viewers_may_post)

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        memberships = list(
            Membership.objects.filter(user=request.user)
            .select_related("workspace")
            .order_by("workspace__name", "id")
        )
        if not memberships:
            return render(request, "accounts/no_workspace.html")
        wanted = request.session.get(SESSION_WORKSPACE)
        # A link may name one of the person's own workspaces (`?workspace=<slug>` on a GET:
        # the API's connect start hands out such links); it becomes the current one.
        named = request.GET.get("workspace", "") if request.method == "GET" else ""
        chosen = next((m for m in memberships if named and m.workspace.slug == named), None)
        if chosen is not None and chosen.workspace_id != wanted:
            request.session[SESSION_WORKSPACE] = wanted = chosen.workspace_id
        current = next((m for m in memberships if m.workspace_id == wanted), memberships[0])
        request.memberships = memberships
        request.membership = current
        request.workspace = current.workspace
        # Approvers and viewers read; only owners and editors change anything.
        request.can_edit = current.role in WRITE_ROLES
        request.is_owner = current.role == Membership.Role.OWNER
        if request.method not in SAFE_METHODS and not request.can_edit and not viewers_may_post:
            raise PermissionDenied(
                f"Your role here is {current.get_role_display().lower()}: you can look but not "
                "change anything."
            )
        request.display_tz = display_timezone(request)
        timezone.activate(request.display_tz)  # the middleware deactivates it after
        return view(request, *args, **kwargs)

    return wrapper


def display_timezone(request: HttpRequest) -> str:
    """The zone every time on the page is shown in: the person's own (profile, or the
    browser's as first stored: accounts.zone_middleware), else the calendar's pick in this
    session, else the first channel's zone, else UTC."""
    own = getattr(request, "user_tz", None)
    if own:
        return own
    chosen = request.session.get(SESSION_TZ)
    if chosen and chosen in iana_zone_names():
        return chosen
    first = (
        Channel.objects.filter(workspace=request.workspace)
        .order_by("name", "id")
        .values_list("timezone", flat=True)
        .first()
    )
    return first or "UTC"


def redirect_back(request: HttpRequest, fallback: str, *args) -> HttpResponse:
    """Back to the form's `next` (same host only), else to `fallback`."""
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect(fallback, *args)


@workspace_view(viewers_may_post=True)
@require_POST
def workspace_switch(request: HttpRequest) -> HttpResponse:
    wanted = request.POST.get("workspace", "")
    membership = next((m for m in request.memberships if str(m.workspace_id) == wanted), None)
    if membership is None:
        messages.error(request, "You are not a member of that workspace.")
    else:
        request.session[SESSION_WORKSPACE] = membership.workspace_id
        request.session.pop(SESSION_TZ, None)
        messages.success(request, f"Switched to {membership.workspace.name}.")
    return redirect("dashboard")


def _accounts_context(request: HttpRequest) -> dict:
    """The Accounts page: each account marked when its latest attempt failed, and the
    deliveries that need a person (publishing reads, imported here: views sit on top)."""
    from publishing import problems

    now = timezone.now()
    failing = problems.failing_accounts(workspace=request.workspace, since=now - FAILING_WINDOW)
    # A page at a time: an agency's 300 accounts with their channels were 325 KB of HTML.
    page = Paginator(
        SocialAccount.objects.filter(workspace=request.workspace)
        .prefetch_related("channels")
        .order_by("provider", "handle", "id"),
        ACCOUNTS_PAGE_SIZE,
    ).get_page(request.GET.get("page"))
    accounts = list(page.object_list)
    for account in accounts:
        account.failing = failing.get(account.id)
    return {
        "accounts": accounts,
        "page": page,
        "sandbox_form": SandboxAccountForm(workspace=request.workspace),
        "webhook_form": WebhookAccountForm(workspace=request.workspace),
        "problem_deliveries": problems.problem_deliveries(workspace=request.workspace, now=now),
        # Sign in with X needs the operator's app (README, "X keys"); pasted keys do not.
        "x_oauth_configured": bool(settings.X_CLIENT_ID),
    }


@workspace_view
def account_list(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/account_list.html", _accounts_context(request))


def _add_account(request: HttpRequest, form_class, label: str) -> HttpResponse:
    form = form_class(request.POST, workspace=request.workspace)
    if form.is_valid():
        account = form.save()
        messages.success(request, f"{label} account @{account.handle} added.")
        if account.provider == SocialAccount.Provider.WEBHOOK:
            from networks.webhook import image_url_problem

            if problem := image_url_problem():
                # Said now, not when the first post with an image fails on this account.
                messages.warning(
                    request, f"Posts with images will fail on @{account.handle}. {problem}"
                )
        return redirect("account_list")
    context = _accounts_context(request)
    context["sandbox_form" if form_class is SandboxAccountForm else "webhook_form"] = form
    return render(request, "accounts/account_list.html", context, status=400)


@workspace_view
@require_POST
def account_add_sandbox(request: HttpRequest) -> HttpResponse:
    return _add_account(request, SandboxAccountForm, "Sandbox")


@workspace_view
@require_POST
def account_add_webhook(request: HttpRequest) -> HttpResponse:
    return _add_account(request, WebhookAccountForm, "Webhook")


def _set_status(request: HttpRequest, account_id: int, status: str, verb: str) -> HttpResponse:
    account = get_object_or_404(SocialAccount, id=account_id, workspace=request.workspace)
    services.account_set_status(account=account, status=status)
    messages.success(request, f"{account} {verb}.")
    return redirect_back(request, "account_list")


@workspace_view
@require_POST
def account_disable(request: HttpRequest, account_id: int) -> HttpResponse:
    return _set_status(request, account_id, SocialAccount.Status.DISABLED, "disabled")


@workspace_view
@require_POST
def account_enable(request: HttpRequest, account_id: int) -> HttpResponse:
    # An X account that was failing comes back as "needs reconnect" only through its check;
    # enabling trusts the user and lets the next delivery (or check) tell.
    return _set_status(request, account_id, SocialAccount.Status.ACTIVE, "enabled")


@workspace_view(viewers_may_post=True)
@require_POST
def notice_dismiss(request: HttpRequest, notice_id: int) -> HttpResponse:
    notice = get_object_or_404(
        services.notices_visible(workspace=request.workspace, user=request.user), id=notice_id
    )
    # Anyone dismisses their own personal notice (a mention); the workspace's, its writers.
    if not request.can_edit and notice.subject != f"{services.PERSON_SUBJECT}{request.user.id}":
        raise PermissionDenied("Viewers can look but not change anything.")
    services.notice_dismiss(notice=notice)
    if request.headers.get("HX-Request"):
        return HttpResponse("")
    return redirect_back(request, "dashboard")


@workspace_view
@require_POST
def notices_dismiss_all(request: HttpRequest) -> HttpResponse:
    count = services.notices_dismiss_all(workspace=request.workspace, user=request.user)
    messages.success(request, f"Dismissed {count} notice(s).")
    return redirect_back(request, "dashboard")
