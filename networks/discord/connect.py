"""Connecting a Discord channel webhook, for the web page and the API alike: the adapter
reads the webhook from Discord (a GET, which also proves its token) before anything is
stored; accounts.services.account_connect stores it, the URL encrypted. The input is checked
first by networks.discord.forms.DiscordConnectForm (Discord's shape, the address rules)."""

from __future__ import annotations

from accounts.models import SocialAccount, Workspace
from accounts.services import account_connect
from networks.discord import adapter as discord
from networks.discord.address import WebhookAddress


def discord_account_connect(
    *, workspace: Workspace, handle: str, address: WebhookAddress
) -> SocialAccount:
    """Raises networks.base.ProviderError with Discord's reason when the webhook fails."""
    hook = discord.fetch_webhook(address)
    return account_connect(
        workspace=workspace,
        provider=discord.network.name,
        handle=handle,
        external_id=address.webhook_id,
        credentials={"url": address.url},
        options=discord.options_from(hook, address),
    )
