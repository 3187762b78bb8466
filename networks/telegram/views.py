"""Connecting a Telegram account: a bot token and a chat. Telegram is asked whether the bot
may post there (networks.telegram.adapter.connect: getMe, getChat, getChatMember) before
anything is stored; accounts.services.account_connect stores the account, the token
encrypted. A chat connected again (a new token, new rights) updates its account."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from accounts.views import workspace_view
from networks.base import ProviderError
from networks.telegram.connect import telegram_account_connect
from networks.telegram.forms import TelegramConnectForm


@never_cache
@workspace_view
@require_http_methods(["GET", "POST"])
def telegram_connect(request: HttpRequest) -> HttpResponse:
    if not request.can_edit:
        return redirect("account_list")
    form = TelegramConnectForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                account = telegram_account_connect(
                    workspace=request.workspace,
                    bot_token=form.cleaned_data["bot_token"],
                    chat=form.cleaned_data["chat"],
                )
            except ProviderError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, f"Connected @{account.handle} on Telegram.")
                return redirect("account_list")
    return render(request, "networks/telegram/connect.html", {"form": form}, status=status)
