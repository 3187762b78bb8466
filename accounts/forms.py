"""Forms for social accounts added from the web UI: sandbox, webhook, Mastodon and Bluesky
(X has its own flow). They validate; accounts.services creates."""

from __future__ import annotations

from django import forms

from accounts.models import Membership, SocialAccount, Workspace
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


# --- Members (accounts.member_views) ---------------------------------------------------------


class InviteForm(forms.Form):
    email = forms.EmailField(label="Email address", max_length=254)
    role = forms.ChoiceField(
        choices=Membership.Role.choices,
        initial=Membership.Role.EDITOR,
        help_text=(
            "Owners manage members and everything else; editors write posts and manage "
            "channels; approvers and viewers read (approvers will approve posts)."
        ),
    )


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)


class RenameWorkspaceForm(forms.Form):
    name = forms.CharField(label="Workspace name", max_length=100)


class InviteSignupForm(forms.Form):
    """The invitee's new login; the email is the invited address."""

    username = forms.RegexField(
        regex=r"^[\w.@+-]+\Z",
        max_length=150,
        error_messages={"invalid": "Letters, digits and @ . + - _ only."},
        widget=forms.TextInput(attrs={"autocomplete": "username"}),
    )
    password1 = forms.CharField(
        label="Password", widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    password2 = forms.CharField(
        label="Password again",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self):
        from django.contrib.auth.password_validation import validate_password

        data = super().clean()
        p1, p2 = data.get("password1"), data.get("password2")
        if p1 and p2 and p1 != p2:
            self.add_error("password2", "The two passwords differ.")
        elif p1:
            try:
                validate_password(p1)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return data
