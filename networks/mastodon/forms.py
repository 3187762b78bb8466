"""The Mastodon connect form: it only checks the input; networks/mastodon/views.py talks to
the instance and accounts.services stores the account."""

from __future__ import annotations

from django import forms

from networks import hosts
from networks.forms import LANGUAGE_HELP, clean_language


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
        try:
            return hosts.normalise_base_url(self.cleaned_data["instance"])
        except hosts.BlockedHost as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_access_token(self) -> str:
        return self.cleaned_data["access_token"].strip()

    def clean_language(self) -> str:
        return clean_language(self.cleaned_data["language"])
