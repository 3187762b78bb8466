"""Connecting a Bluesky account: handle + app password → createSession; the session and
the app password are stored encrypted (the app password signs in again when the session
cannot be refreshed). The talking is done by the adapter; accounts.services.account_connect
stores the account.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from accounts.views import workspace_view
from networks.base import ProviderError
from networks.bluesky.connect import bluesky_account_connect
from networks.bluesky.forms import BlueskyConnectForm


@never_cache
@workspace_view
@require_http_methods(["GET", "POST"])
def bluesky_connect(request: HttpRequest) -> HttpResponse:
    if not request.can_edit:
        return redirect("account_list")
    form = BlueskyConnectForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                account = bluesky_account_connect(
                    workspace=request.workspace,
                    service=data["service"],
                    handle=data["handle"],
                    app_password=data["app_password"],
                    language=data["language"],
                )
            except ProviderError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, f"Connected @{account.handle} on Bluesky.")
                return redirect("account_list")
    return render(request, "networks/bluesky/connect.html", {"form": form}, status=status)
