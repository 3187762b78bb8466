"""Views of the X connect flow: OAuth 2.0 PKCE (start + callback) and pasted OAuth 1.0a keys.

The logic lives in networks/x/connect.py; these views only read the request and render.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from accounts.models import Workspace
from networks.x import connect as x_oauth

# The web UI keeps the current workspace under this session key (accounts/views.py).
SESSION_WORKSPACE = "workspace_id"


def accounts_page_url() -> str:
    """Where to go after connecting: the accounts page when it exists, else home."""
    for name in ("accounts_list", "account_list"):
        try:
            return reverse(name)
        except NoReverseMatch:
            continue
    return "/"


def _error(request: HttpRequest, message: str, *, status: int = 400) -> HttpResponse:
    return render(
        request,
        "networks/x/connect_error.html",
        {"message": message, "accounts_url": accounts_page_url()},
        status=status,
    )


def _target_workspace(request: HttpRequest) -> Workspace | None:
    """`?workspace=<slug>`, else the workspace the UI has selected, else the user's first
    workspace they own or edit; only ever one where they are owner or editor."""
    slug = request.GET.get("workspace") or request.POST.get("workspace")
    if slug:
        return x_oauth.writable_workspace(request.user, slug)
    current = request.session.get(SESSION_WORKSPACE)
    if current:
        workspace = Workspace.objects.filter(
            id=current, memberships__user=request.user, memberships__role__in=x_oauth.WRITE_ROLES
        ).first()
        if workspace is not None:
            return workspace
    return x_oauth.writable_workspace(request.user)


NO_WORKSPACE = "You need to be an owner or editor of a workspace to connect an X account there."


@never_cache
@login_required
@require_GET
def connect_start(request: HttpRequest) -> HttpResponse:
    workspace = _target_workspace(request)
    if workspace is None:
        return _error(request, NO_WORKSPACE, status=403)
    try:
        url = x_oauth.authorize_url(
            session=request.session,
            workspace=workspace,
            redirect_uri=request.build_absolute_uri(reverse("x_connect_callback")),
            user_id=request.user.id,
        )
    except x_oauth.ConnectError as exc:
        return _error(request, exc.message, status=503)
    return redirect(url)


@never_cache
@login_required
@require_GET
def connect_callback(request: HttpRequest) -> HttpResponse:
    try:
        account = x_oauth.authorize_finish(
            session=request.session,
            user=request.user,
            state=request.GET.get("state"),
            code=request.GET.get("code"),
            error=request.GET.get("error"),
            error_description=request.GET.get("error_description"),
        )
    except x_oauth.ConnectError as exc:
        return _error(request, exc.message)
    messages.success(request, f"Connected @{account.handle} on X.")
    return redirect(accounts_page_url())


class XKeysForm(forms.Form):
    consumer_key = forms.CharField(label="API key (consumer key)", max_length=200)
    consumer_secret = forms.CharField(
        label="API key secret (consumer secret)",
        max_length=200,
        widget=forms.PasswordInput(render_value=False),
    )
    access_token = forms.CharField(
        label="Access token", max_length=200, widget=forms.PasswordInput(render_value=False)
    )
    access_token_secret = forms.CharField(
        label="Access token secret",
        max_length=200,
        widget=forms.PasswordInput(render_value=False),
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def connect_keys(request: HttpRequest) -> HttpResponse:
    workspace = _target_workspace(request)
    if workspace is None:
        return _error(request, NO_WORKSPACE, status=403)
    form = XKeysForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                account = x_oauth.connect_with_keys(workspace=workspace, **form.cleaned_data)
            except x_oauth.ConnectError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, f"Connected @{account.handle} on X with OAuth 1.0a keys.")
                return redirect(accounts_page_url())
        status = 400
    return render(
        request,
        "networks/x/connect_keys.html",
        {"form": form, "workspace": workspace, "accounts_url": accounts_page_url()},
        status=status,
    )
