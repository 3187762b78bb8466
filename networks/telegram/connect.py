"""Connecting a Telegram account, for the web page and the API alike: Telegram is asked
whether the bot may post in the chat (adapter.connect: getMe, getChat, getChatMember) before
anything is stored; accounts.services.account_connect stores it, the token encrypted. The
input's shape is checked first by networks.telegram.forms.TelegramConnectForm."""

from __future__ import annotations

from accounts.models import SocialAccount, Workspace
from accounts.services import account_connect
from networks.telegram import adapter


def telegram_account_connect(*, workspace: Workspace, bot_token: str, chat: str) -> SocialAccount:
    """Raises networks.base.ProviderError with Telegram's reason when the bot may not post."""
    found = adapter.connect(bot_token, chat)
    return account_connect(
        workspace=workspace,
        provider=adapter.network.name,
        handle=found["handle"],
        external_id=found["external_id"],
        credentials={"bot_token": bot_token},
        options=found["options"],
    )
