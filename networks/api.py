"""REST API: adding social accounts, as the accounts page does: sandbox and webhook accounts,
a Telegram bot (bot token + chat), a Discord channel webhook, a Mastodon access token and a
Bluesky app password, each through the web form's
own validation and the same connect service; and, for X's OAuth in a browser, the URL to
open there.

Secrets sent here (webhook secret, bot token, Discord webhook URL) are stored encrypted and
never shown again (SocialAccountSerializer has no credentials).
"""

from __future__ import annotations

from django.urls import reverse
from django.utils.http import urlencode
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from accounts.api_scoping import WorkspaceScopedViewSet, workspace_for
from accounts.forms import SandboxAccountForm, WebhookAccountForm
from accounts.models import SocialAccount
from accounts.serializers import SocialAccountSerializer
from ground.rest import form_errors_to_drf
from networks.base import ProviderError
from networks.bluesky.connect import bluesky_account_connect
from networks.bluesky.forms import BlueskyConnectForm
from networks.discord.connect import discord_account_connect
from networks.discord.forms import DiscordConnectForm
from networks.mastodon.connect import mastodon_account_connect
from networks.mastodon.forms import MastodonConnectForm
from networks.telegram.connect import telegram_account_connect
from networks.telegram.forms import TelegramConnectForm

# Networks whose connect needs the person's consent in a browser (OAuth): the API answers
# the page to open, signed in, where the flow starts for the workspace it names
# (`?workspace=<slug>`: accounts.views.workspace_view makes it the current one).
BROWSER_CONNECT = {
    "x": "x_connect_start",
    "mastodon": "mastodon_connect",
    "linkedin": "linkedin_connect",
    "threads": "threads_connect",
    "facebook": "facebook_connect",
    "instagram": "instagram_connect",
}


class _WorkspaceField(serializers.Serializer):
    workspace = serializers.SlugField(
        required=False, max_length=100, help_text="Workspace slug; needed if you have several."
    )


class SandboxAddSerializer(_WorkspaceField):
    handle = serializers.CharField(
        max_length=100, help_text="Letters, digits, - and _; posts show on an in-app timeline."
    )


class WebhookAddSerializer(_WorkspaceField):
    handle = serializers.CharField(max_length=100, help_text="Short name (letters, digits, -).")
    url = serializers.CharField(
        max_length=500, help_text="Each post is POSTed here as signed JSON (public addresses)."
    )
    secret = serializers.CharField(
        max_length=200, write_only=True, help_text="At least 16 characters; signs each request."
    )


class TelegramAddSerializer(_WorkspaceField):
    bot_token = serializers.CharField(
        max_length=200, write_only=True, help_text="From @BotFather, such as 123456789:AAE…"
    )
    chat = serializers.CharField(
        max_length=200,
        help_text="The channel's or group's @name, t.me link or numeric id; the bot must be an "
        "administrator that may post there.",
    )


class DiscordAddSerializer(_WorkspaceField):
    handle = serializers.CharField(max_length=100, help_text="Short name (letters, digits, -).")
    url = serializers.CharField(
        max_length=500, write_only=True, help_text="The channel webhook's URL, from Discord."
    )


class MastodonAddSerializer(_WorkspaceField):
    instance = serializers.CharField(max_length=200, help_text="Such as mastodon.social.")
    access_token = serializers.CharField(
        max_length=500,
        write_only=True,
        help_text="From Preferences → Development → New application (scopes read:accounts "
        "and write:statuses).",
    )
    visibility = serializers.ChoiceField(choices=["public", "unlisted"], default="public")
    language = serializers.CharField(max_length=12, required=False, allow_blank=True, default="")


class BlueskyAddSerializer(_WorkspaceField):
    handle = serializers.CharField(max_length=253, help_text="Such as alice.bsky.social.")
    app_password = serializers.CharField(
        max_length=19, write_only=True, help_text="An app password (xxxx-xxxx-xxxx-xxxx)."
    )
    service = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default="",
        help_text="Only if the account is not on bsky.social: its PDS's address.",
    )  # fmt: skip
    language = serializers.CharField(max_length=12, required=False, allow_blank=True, default="")


class ConnectStartSerializer(_WorkspaceField):
    network = serializers.ChoiceField(choices=sorted(BROWSER_CONNECT))


class ConnectUrlSerializer(serializers.Serializer):
    url = serializers.URLField(help_text="Open it in a browser signed in to Queue Loop.")
    network = serializers.CharField()


CREATED = {201: SocialAccountSerializer, 400: OpenApiResponse(description="Refused input.")}


class AccountConnectViewSet(WorkspaceScopedViewSet):
    """POST accounts/connect/<kind>/ adds an account; owners and editors only."""

    serializer_class = SocialAccountSerializer

    def base_queryset(self):
        return SocialAccount.objects.select_related("workspace")

    def _input(self, serializer_class):
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        workspace = workspace_for(self.request, data.pop("workspace", None), write=True)
        return workspace, data

    def _created(self, account: SocialAccount) -> Response:
        account = self.base_queryset().get(pk=account.pk)
        context = self.get_serializer_context()
        return Response(
            SocialAccountSerializer(account, context=context).data, status=status.HTTP_201_CREATED
        )

    def _form_account(self, form_class, serializer_class) -> Response:
        workspace, data = self._input(serializer_class)
        form = form_class(data, workspace=workspace)
        if not form.is_valid():
            raise form_errors_to_drf(form)
        return self._created(form.save())

    @extend_schema(request=SandboxAddSerializer, responses=CREATED)
    @action(detail=False, methods=["post"])
    def sandbox(self, request):
        """A sandbox account: its posts appear on an in-app timeline (try things safely)."""
        return self._form_account(SandboxAccountForm, SandboxAddSerializer)

    @extend_schema(request=WebhookAddSerializer, responses=CREATED)
    @action(detail=False, methods=["post"])
    def webhook(self, request):
        """A webhook account: each post is POSTed to your URL, signed with the secret."""
        return self._form_account(WebhookAccountForm, WebhookAddSerializer)

    @extend_schema(request=TelegramAddSerializer, responses=CREATED)
    @action(detail=False, methods=["post"])
    def telegram(self, request):
        """A Telegram channel or group, posted to by your bot. Telegram is asked first
        whether the bot may post there; its refusal is a 400 with the reason."""
        workspace, data = self._input(TelegramAddSerializer)
        form = TelegramConnectForm(data)
        if not form.is_valid():
            raise form_errors_to_drf(form)
        try:
            account = telegram_account_connect(
                workspace=workspace,
                bot_token=form.cleaned_data["bot_token"],
                chat=form.cleaned_data["chat"],
            )
        except ProviderError as exc:
            raise ValidationError({"non_field_errors": [exc.message]}) from None
        return self._created(account)

    @extend_schema(request=DiscordAddSerializer, responses=CREATED)
    @action(detail=False, methods=["post"])
    def discord(self, request):
        """A Discord channel, through its webhook URL. Discord is asked for the webhook
        first; a refusal is a 400 with the reason."""
        workspace, data = self._input(DiscordAddSerializer)
        form = DiscordConnectForm(data, workspace=workspace)
        if not form.is_valid():
            raise form_errors_to_drf(form)
        try:
            account = discord_account_connect(
                workspace=workspace,
                handle=form.cleaned_data["handle"],
                address=form.cleaned_data["url"],
            )
        except ProviderError as exc:
            raise ValidationError({"url": [exc.message]}) from None
        return self._created(account)

    @extend_schema(request=MastodonAddSerializer, responses=CREATED)
    @action(detail=False, methods=["post"])
    def mastodon(self, request):
        """A Mastodon account with an access token (the instance checks it first). To sign
        in on the instance instead, use the web page."""
        workspace, data = self._input(MastodonAddSerializer)
        form = MastodonConnectForm(data)
        if not form.is_valid():
            raise form_errors_to_drf(form)
        clean = form.cleaned_data
        if not clean["access_token"]:
            raise ValidationError({"access_token": ["This field may not be blank."]})
        try:
            account = mastodon_account_connect(
                workspace=workspace,
                instance=clean["instance"],
                token=clean["access_token"],
                options={"visibility": clean["visibility"], "language": clean["language"]},
            )
        except ProviderError as exc:
            raise ValidationError({"non_field_errors": [exc.message]}) from None
        return self._created(account)

    @extend_schema(request=BlueskyAddSerializer, responses=CREATED)
    @action(detail=False, methods=["post"])
    def bluesky(self, request):
        """A Bluesky account with an app password (signed in first: a refusal is a 400)."""
        workspace, data = self._input(BlueskyAddSerializer)
        form = BlueskyConnectForm(data)
        if not form.is_valid():
            raise form_errors_to_drf(form)
        clean = form.cleaned_data
        try:
            account = bluesky_account_connect(
                workspace=workspace,
                service=clean["service"],
                handle=clean["handle"],
                app_password=clean["app_password"],
                language=clean["language"],
            )
        except ProviderError as exc:
            raise ValidationError({"non_field_errors": [exc.message]}) from None
        return self._created(account)

    @extend_schema(request=ConnectStartSerializer, responses=ConnectUrlSerializer)
    @action(detail=False, methods=["post"])
    def start(self, request):
        """Start a browser connect (OAuth: X, Mastodon, LinkedIn, Threads, Facebook,
        Instagram): the answer is the URL to open in a browser signed in to Queue Loop as
        you. The consent happens there (the OAuth state is bound to that browser's session,
        so a link cannot be replayed by someone else); the account then appears in
        GET /accounts/."""
        workspace, data = self._input(ConnectStartSerializer)
        path = reverse(BROWSER_CONNECT[data["network"]])
        url = request.build_absolute_uri(f"{path}?{urlencode({'workspace': workspace.slug})}")
        return Response({"url": url, "network": data["network"]})
