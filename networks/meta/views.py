"""The Facebook Login flow's views, shared by Facebook Pages and Instagram (the network is a
URL keyword: networks/facebook/urls.py, networks/instagram/urls.py).

start (GET: what will happen; POST: to Meta's dialog) → callback (state checked, code →
long-lived user token → the Pages, kept encrypted in the session for ten minutes) → pick
(the person ticks Pages, or the Instagram accounts behind them; each becomes an account).
The talking is networks/meta/connect.py's; accounts.services.account_connect stores.
"""

from __future__ import annotations

import secrets
import time

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.crypto import constant_time_compare
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from accounts.services import account_connect
from accounts.views import workspace_view
from ground.fields import decrypt_json, encrypt_json
from networks.base import ProviderError
from networks.meta import connect
from networks.webhook import image_url_problem

SESSION_FLOW = "meta_connect"
SESSION_FOUND = "meta_connect_found"
FLOW_MAX_AGE = 10 * 60
LABELS = {"facebook": "Facebook", "instagram": "Instagram"}


def _page(request, network: str, *, error: str = "", status: int = 200) -> HttpResponse:
    return render(
        request,
        "networks/meta/connect.html",
        {
            "network": network,
            "label": LABELS[network],
            "error": error,
            "not_configured": connect.configured(),
            "public_url_problem": image_url_problem() if network == "instagram" else "",
            "start_url": reverse(f"{network}_connect"),
        },
        status=status,
    )


@never_cache
@workspace_view
@require_http_methods(["GET", "POST"])
def meta_connect(request: HttpRequest, network: str) -> HttpResponse:
    if not request.can_edit:
        return redirect("account_list")
    if request.method == "GET":
        return _page(request, network)
    if problem := connect.configured():
        return _page(request, network, error=problem, status=503)
    state = secrets.token_urlsafe(32)
    redirect_uri = request.build_absolute_uri(reverse(f"{network}_connect_callback"))
    request.session[SESSION_FLOW] = {
        "state": state,
        "network": network,
        "workspace_id": request.workspace.id,
        "redirect_uri": redirect_uri,
        "started": int(time.time()),
    }
    return redirect(connect.authorize_url(network=network, state=state, redirect_uri=redirect_uri))


@never_cache
@workspace_view
@require_GET
def meta_connect_callback(request: HttpRequest, network: str) -> HttpResponse:
    flow = request.session.pop(SESSION_FLOW, None) or {}
    state, code = request.GET.get("state", ""), request.GET.get("code", "")
    error = ""
    if not flow or not state or not constant_time_compare(state, flow.get("state", "")):
        error = "This sign-in link is stale or was not started here. Start again."
    elif flow.get("network") != network or flow.get("workspace_id") != request.workspace.id:
        error = "Switch back to the workspace you started connecting from, then start again."
    elif not request.can_edit:
        error = "Viewers cannot connect accounts."
    elif time.time() - flow.get("started", 0) > FLOW_MAX_AGE:
        error = "This sign-in took too long (over 10 minutes): start again."
    elif request.GET.get("error"):
        said = request.GET.get("error_description") or request.GET.get("error")
        error = f"Facebook did not allow the connection: {said[:200]}."
    elif not code:
        error = "Facebook sent no authorization code. Start again."
    if not error:
        try:
            user = connect.user_tokens(code=code, redirect_uri=flow["redirect_uri"])
            found = connect.pages(user["token"])
        except ProviderError as exc:
            error = exc.message
    if error:
        return _page(request, network, error=error, status=400)
    request.session[SESSION_FOUND] = encrypt_json(
        {"network": network, "user": user, "pages": found, "started": int(time.time())}
    )
    return redirect(f"{network}_connect_pick")


def _choices(network: str, found: list[dict]) -> list[tuple[str, str]]:
    if network == "facebook":
        return [(p["id"], p["name"]) for p in found]
    return [
        (p["instagram"]["id"], f"@{p['instagram']['username']} (Page “{p['name']}”)")
        for p in found
        if p["instagram"]
    ]


class PickForm(forms.Form):
    chosen = forms.MultipleChoiceField(
        label="Accounts to connect", widget=forms.CheckboxSelectMultiple, choices=()
    )

    def __init__(self, *args, choices, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["chosen"].choices = choices


def _found(request: HttpRequest, network: str) -> dict | None:
    sealed = request.session.get(SESSION_FOUND)
    if not sealed:
        return None
    try:
        found = decrypt_json(sealed)
    except Exception:  # a session from before a key rotation: start again
        return None
    if found.get("network") != network or time.time() - found.get("started", 0) > FLOW_MAX_AGE:
        return None
    return found


@never_cache
@workspace_view
@require_http_methods(["GET", "POST"])
def meta_connect_pick(request: HttpRequest, network: str) -> HttpResponse:
    found = _found(request, network)
    if found is None or not request.can_edit:
        return _page(
            request, network, error="Nothing to pick from: start connecting again.", status=400
        )
    choices = _choices(network, found["pages"])
    form = PickForm(request.POST or None, choices=choices)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            connected = [
                _store(request, network, found, chosen) for chosen in form.cleaned_data["chosen"]
            ]
            request.session.pop(SESSION_FOUND, None)
            names = ", ".join(a.handle for a in connected)
            messages.success(request, f"Connected {names} on {LABELS[network]}.")
            return redirect("account_list")
    return render(
        request,
        "networks/meta/pick.html",
        {
            "form": form,
            "network": network,
            "label": LABELS[network],
            "none": not choices,
            "public_url_problem": image_url_problem() if network == "instagram" else "",
        },
        status=status,
    )


def _store(request: HttpRequest, network: str, found: dict, chosen: str):
    user = found["user"]
    tokens = {"user_token": user["token"], "user_token_expires_at": user["expires_at"]}
    if network == "facebook":
        page = next(p for p in found["pages"] if p["id"] == chosen)
        return account_connect(
            workspace=request.workspace,
            provider=network,
            handle=page["name"],
            external_id=page["id"],
            credentials={"page_token": page["access_token"], **tokens},
            options={"page_id": page["id"], "page_name": page["name"]},
        )
    page = next(p for p in found["pages"] if p["instagram"] and p["instagram"]["id"] == chosen)
    instagram = page["instagram"]
    return account_connect(
        workspace=request.workspace,
        provider=network,
        handle=instagram["username"],
        external_id=instagram["id"],
        credentials={"page_token": page["access_token"], **tokens},
        options={
            "ig_user_id": instagram["id"],
            "username": instagram["username"],
            "page_id": page["id"],
            "page_name": page["name"],
        },
    )
