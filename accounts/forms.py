"""Forms for social accounts added from the web UI: sandbox, webhook, Mastodon and Bluesky
(X has its own flow). They validate; accounts.services creates."""

from __future__ import annotations

import re

from django import forms
from django.conf import settings

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


# --- Mastodon and Bluesky: these forms only check the input; accounts/network_views.py
# talks to the network and accounts.services stores the account.

LANGUAGE_HELP = "Optional: the language to tag posts with (ISO 639-1, such as en or de)."


def _clean_language(value: str) -> str:
    value = value.strip().lower()
    if value and not re.fullmatch(r"[a-z]{2,3}(-[a-z0-9]{2,8})?", value):
        raise forms.ValidationError("Use a language code such as en, de or pt-br.")
    return value


class MastodonConnectForm(forms.Form):
    instance = forms.CharField(
        label="Instance",
        max_length=200,
        help_text="The server your account is on, such as mastodon.social.",
        widget=forms.TextInput(attrs={"placeholder": "mastodon.social", "autocomplete": "url"}),
    )
    # Never rendered back: tokens are write-only in the UI.
    access_token = forms.CharField(
        label="Access token (optional)",
        required=False,
        max_length=500,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=(
            "Leave empty to sign in on your instance. Or paste a token from Preferences → "
            "Development → New application (scopes read:accounts and write:statuses)."
        ),
    )
    visibility = forms.ChoiceField(
        choices=[("public", "Public"), ("unlisted", "Unlisted (quiet public)")],
        initial="public",
        help_text="Who sees the posts in public timelines.",
    )
    language = forms.CharField(required=False, max_length=12, help_text=LANGUAGE_HELP)

    def clean_instance(self) -> str:
        from publishing.providers import hosts

        try:
            return hosts.normalise_base_url(self.cleaned_data["instance"])
        except hosts.BlockedHost as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_access_token(self) -> str:
        return self.cleaned_data["access_token"].strip()

    def clean_language(self) -> str:
        return _clean_language(self.cleaned_data["language"])


# Bluesky app passwords are four groups of four lowercase letters and digits 2-7.
APP_PASSWORD_RE = re.compile(r"[a-z2-7]{4}(-[a-z2-7]{4}){3}")


class BlueskyConnectForm(forms.Form):
    handle = forms.CharField(
        max_length=253,
        help_text="Your handle, such as alice.bsky.social (or your own domain).",
        widget=forms.TextInput(attrs={"placeholder": "alice.bsky.social", "autocomplete": "off"}),
    )
    app_password = forms.CharField(
        label="App password",
        max_length=19,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=(
            "An app password, never your main password: create one in Bluesky under Settings → "
            "Privacy and security → App passwords. It looks like xxxx-xxxx-xxxx-xxxx."
        ),
    )
    service = forms.CharField(
        label="Server (optional)",
        required=False,
        max_length=200,
        help_text="Only if your account is not on bsky.social: your PDS's address.",
    )
    language = forms.CharField(required=False, max_length=12, help_text=LANGUAGE_HELP)

    def clean_handle(self) -> str:
        handle = self.cleaned_data["handle"].strip().lstrip("@").lower()
        if not re.fullmatch(
            r"([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]*[a-z0-9])?", handle
        ):
            raise forms.ValidationError("Enter a handle such as alice.bsky.social.")
        return handle

    def clean_app_password(self) -> str:
        password = self.cleaned_data["app_password"].strip().lower()
        if not APP_PASSWORD_RE.fullmatch(password):
            raise forms.ValidationError(
                "This is not an app password (xxxx-xxxx-xxxx-xxxx). Create one in Bluesky under "
                "Settings → Privacy and security → App passwords; never use your main password."
            )
        return password

    def clean_service(self) -> str:
        from publishing.providers import hosts

        raw = self.cleaned_data["service"].strip()
        if not raw:
            return settings.BLUESKY_SERVICE
        try:
            return hosts.normalise_base_url(raw)
        except hosts.BlockedHost as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_language(self) -> str:
        return _clean_language(self.cleaned_data["language"])


class ProfileForm(forms.Form):
    timezone = ZoneField(
        label="Display time zone",
        help_text=(
            "Every time in Queue Loop is shown in this zone; a channel's own time is shown "
            "beside it where its clock differs."
        ),
    )
