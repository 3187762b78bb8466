"""Forms for social accounts added from the web UI: sandbox, webhook, Mastodon and Bluesky
(X has its own flow). They validate; accounts.services creates."""

from __future__ import annotations

from django import forms

from accounts.models import SocialAccount, Workspace
from accounts.services import account_create_sandbox, account_create_webhook
from ground.http_transport import curl
from ground.zone_field import ZoneField


def _unique_handle(form: forms.Form, workspace: Workspace, provider: str) -> str:
    handle = form.cleaned_data["handle"].strip().lstrip("@")
    if SocialAccount.objects.filter(workspace=workspace, provider=provider, handle=handle).exists():
        raise forms.ValidationError(f"This workspace already has a {provider} account @{handle}.")
    return handle


class SandboxAccountForm(forms.Form):
    handle = forms.SlugField(
        max_length=100,
        help_text="Letters, digits, - and _. Its posts appear on an in-app timeline.",
    )

    def __init__(self, *args, workspace: Workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.workspace = workspace

    def clean_handle(self) -> str:
        return _unique_handle(self, self.workspace, SocialAccount.Provider.SANDBOX)

    def save(self) -> SocialAccount:
        return account_create_sandbox(workspace=self.workspace, handle=self.cleaned_data["handle"])


class WebhookAccountForm(forms.Form):
    handle = forms.SlugField(
        max_length=100,
        label="Short name (letters, digits, dashes)",
        help_text=(
            "How the account is shown (as @name) and sent to your receiver as `account`, "
            "such as team-chat."
        ),
    )
    url = forms.URLField(
        label="URL",
        max_length=500,
        assume_scheme="https",
        help_text="Each post is sent here as a signed JSON POST.",
    )
    # Never rendered back (render_value=False): secrets are write-only in the UI.
    secret = forms.CharField(
        min_length=16,
        max_length=200,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="At least 16 characters; used to sign each request (HMAC-SHA256).",
    )

    def __init__(self, *args, workspace: Workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.workspace = workspace

    def clean_handle(self) -> str:
        return _unique_handle(self, self.workspace, SocialAccount.Provider.WEBHOOK)

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        if not url.lower().startswith(("https://", "http://")):
            raise forms.ValidationError("Use an http:// or https:// URL.")
        # Checked again at every send, after DNS resolution (a name can be re-pointed).
        try:
            curl.check_url(url)
        except curl.BlockedDestination as exc:
            raise forms.ValidationError(str(exc)) from None
        return url

    def save(self) -> SocialAccount:
        return account_create_webhook(
            workspace=self.workspace,
            handle=self.cleaned_data["handle"],
            url=self.cleaned_data["url"],
            secret=self.cleaned_data["secret"],
        )


class ProfileForm(forms.Form):
    timezone = ZoneField(
        label="Display time zone",
        help_text=(
            "Every time in Queue Loop is shown in this zone; a channel's own time is shown "
            "beside it where its clock differs."
        ),
    )
