"""The Discord connect form: a short name and the channel webhook's URL. It checks the URL
against Discord's shape and the webhook address rules (networks/discord/address.py: a
Discord host, then every address the name resolves to public); networks/discord/views.py
then reads the webhook from Discord and accounts.services stores the account."""

from __future__ import annotations

from django import forms

from accounts.models import SocialAccount, Workspace
from ground.http_transport import curl as netguard
from networks.discord import address as discord_address


class DiscordConnectForm(forms.Form):
    handle = forms.SlugField(
        max_length=100,
        label="Short name (letters, digits, dashes)",
        help_text="How the account is shown (as @name), such as announcements.",
    )
    # Never rendered back: the URL holds the webhook's token, a secret.
    url = forms.CharField(
        label="Webhook URL",
        max_length=500,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=(
            "In Discord: the channel's Edit Channel → Integrations → Webhooks → New Webhook, "
            "then Copy Webhook URL. It looks like https://discord.com/api/webhooks/…"
        ),
    )

    def __init__(self, *args, workspace: Workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.workspace = workspace

    def clean_url(self) -> discord_address.WebhookAddress:
        try:
            address = discord_address.parse(self.cleaned_data["url"])
            # Resolves the name; connects nowhere (the GET comes after the form).
            discord_address.check(address)
        except (discord_address.InvalidWebhookUrl, netguard.BlockedDestination) as exc:
            raise forms.ValidationError(str(exc)) from None
        return address

    def clean(self):
        cleaned = super().clean()
        address, handle = cleaned.get("url"), cleaned.get("handle")
        if address is not None and handle:
            # The same webhook connected again keeps its account (and its name).
            taken = (
                SocialAccount.objects.filter(
                    workspace=self.workspace, provider="discord", handle=handle
                )
                .exclude(external_id=address.webhook_id)
                .exists()
            )
            if taken:
                self.add_error("handle", f"This workspace already has a Discord account @{handle}.")
        return cleaned
