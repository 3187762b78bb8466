"""Connecting a Discord channel: a short name and the channel webhook's URL. The form checks
the URL (Discord's shape, the webhook address rules); the adapter reads the webhook from
Discord (GET, which also proves the token); accounts.services.account_connect stores it,
the URL encrypted. Connecting the same webhook again updates its account."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from accounts.views import workspace_view
from networks.base import ProviderError
from networks.discord.connect import discord_account_connect
from networks.discord.forms import DiscordConnectForm


# The URL holds the webhook's token: kept out of Django's error reports.
@sensitive_post_parameters("url")
@never_cache
@workspace_view
@require_http_methods(["GET", "POST"])
def discord_connect(request: HttpRequest) -> HttpResponse:
    if not request.can_edit:
        return redirect("account_list")
    form = DiscordConnectForm(request.POST or None, workspace=request.workspace)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                account = discord_account_connect(
                    workspace=request.workspace,
                    handle=form.cleaned_data["handle"],
                    address=form.cleaned_data["url"],
                )
            except ProviderError as exc:
                form.add_error("url", exc.message)
            else:
                name = account.options.get("name") or account.handle
                messages.success(request, f"Connected @{account.handle}: Discord webhook “{name}”.")
                return redirect("account_list")
    return render(request, "networks/discord/connect.html", {"form": form}, status=status)
