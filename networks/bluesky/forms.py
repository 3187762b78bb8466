"""The Bluesky connect form: it only checks the input; networks/bluesky/views.py signs in
and accounts.services stores the account."""

from __future__ import annotations

import re

from django import forms
from django.conf import settings

from networks import hosts
from networks.forms import LANGUAGE_HELP, clean_language

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
        raw = self.cleaned_data["service"].strip()
        if not raw:
            return settings.BLUESKY_SERVICE
        try:
            return hosts.normalise_base_url(raw)
        except hosts.BlockedHost as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_language(self) -> str:
        return clean_language(self.cleaned_data["language"])
