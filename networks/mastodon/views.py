"""Connecting a Mastodon account: the user names their instance. With a pasted token the
token is checked (GET verify_credentials) and stored. Without one, Queue Loop's OAuth app on
that instance is looked up or registered (networks.mastodon.adapter.app_for), the browser
goes to the instance's authorize page with a random `state` kept in the session, and the
callback trades the code for a token. Either way the instance's character limit is read and
kept. The talking is done by the adapter; accounts.services.account_connect stores the
account.
"""

from __future__ import annotations

import secrets

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.crypto import constant_time_compare
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from accounts.views import workspace_view
from networks.base import ProviderError
from networks.mastodon import adapter as mastodon_provider
from networks.mastodon.connect import mastodon_account_connect
from networks.mastodon.forms import MastodonConnectForm

SESSION_MASTODON_FLOW = "mastodon_connect"


def _connect_mastodon_account(request: HttpRequest, *, instance: str, token: str, options: dict):
    return mastodon_account_connect(
        workspace=request.workspace, instance=instance, token=token, options=options
    )


@never_cache
@workspace_view
@require_http_methods(["GET", "POST"])
def mastodon_connect(request: HttpRequest) -> HttpResponse:
    if not request.can_edit:
        return redirect("account_list")
    form = MastodonConnectForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            options = {"visibility": data["visibility"], "language": data["language"]}
            try:
                if data["access_token"]:
                    account = _connect_mastodon_account(
                        request,
                        instance=data["instance"],
                        token=data["access_token"],
                        options=options,
                    )
                    messages.success(request, f"Connected @{account.handle} on Mastodon.")
                    return redirect("account_list")
                app = mastodon_provider.app_for(
                    data["instance"],
                    redirect_uri=request.build_absolute_uri(reverse("mastodon_connect_callback")),
                )
                state = secrets.token_urlsafe(32)
                request.session[SESSION_MASTODON_FLOW] = {
                    "state": state,
                    "app_id": app.id,
                    "workspace_id": request.workspace.id,
                    "options": options,
                }
                return redirect(mastodon_provider.authorize_url(app, state=state))
            except ProviderError as exc:
                form.add_error(None, exc.message)
    return render(request, "networks/mastodon/connect.html", {"form": form}, status=status)


@never_cache
@workspace_view
@require_GET
def mastodon_connect_callback(request: HttpRequest) -> HttpResponse:
    from accounts.models import MastodonApp

    flow = request.session.pop(SESSION_MASTODON_FLOW, None)
    state, code = request.GET.get("state", ""), request.GET.get("code", "")
    error = None
    if not flow or not state or not constant_time_compare(state, flow.get("state", "")):
        error = "This sign-in link is stale or was not started here. Start again."
    elif flow.get("workspace_id") != request.workspace.id or not request.can_edit:
        error = "Switch back to the workspace you started connecting from, then start again."
    elif request.GET.get("error"):
        error = f"The instance did not allow the connection: {request.GET.get('error')}."
    elif not code:
        error = "The instance sent no authorization code. Start again."
    app = MastodonApp.objects.filter(id=(flow or {}).get("app_id")).first()
    if error is None and app is None:
        error = "The instance's app registration is gone. Start again."
    if error is None:
        try:
            token = mastodon_provider.exchange_code(app, code=code)
            account = _connect_mastodon_account(
                request, instance=app.instance_url, token=token, options=flow.get("options", {})
            )
        except ProviderError as exc:
            error = exc.message
        else:
            messages.success(request, f"Connected @{account.handle} on Mastodon.")
            return redirect("account_list")
    return render(
        request,
        "networks/mastodon/connect.html",
        {"form": MastodonConnectForm(), "error": error},
        status=400,
    )
