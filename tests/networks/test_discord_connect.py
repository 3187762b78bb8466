"""Connecting a Discord channel (networks/discord/views.py) and the webhook address rules
(DESIGN invariant 6) for Discord: the URL must name one of Discord's hosts and have a channel
webhook's shape, checked before any look-up; its address must be public (after DNS, at
connect time and again at every call); no redirect is followed. A loopback canary that no
setting allows proves a refusal by the absence of any connection. Publishing is in
test_discord.py, whose fixtures this module shares."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import SocialAccount
from networks.discord import address as discord_address
from publishing.services import delivery_send
from tests.factories import SocialAccountFactory
from tests.networks import fake_discord as fakes
from tests.networks import test_discord as discord_tests
from tests.networks.fake_http import Scripted
from tests.networks.netfakes import Canary, fake_dns, record_connects

fake_discord = fakes.fake_discord
hook = discord_tests.hook
account = discord_tests.account
clock = discord_tests.clock
secrets_never_logged = discord_tests.secrets_never_logged
make_delivery = discord_tests.make_delivery
reload = discord_tests.reload
raw_credentials = discord_tests.raw_credentials
pytestmark = pytest.mark.django_db

CONNECT = "/connect/discord/"


# --- Connecting ------------------------------------------------------------------------------


def test_the_accounts_page_offers_discord_and_the_form_shows(web, fake_discord):
    assert CONNECT in web.get(reverse("account_list")).content.decode()
    page = web.get(reverse("discord_connect"))
    assert page.status_code == 200
    assert "Copy Webhook URL" in page.content.decode()


def test_connect_checks_the_webhook_and_stores_its_url_encrypted(
    web, member, fake_discord, hook, secrets_never_logged
):
    response = web.post(CONNECT, {"handle": "announcements", "url": hook["url"]})

    assert response.status_code == 302
    account = SocialAccount.objects.get(provider="discord")
    assert account.workspace == member.workspace
    assert account.handle == "announcements"
    assert account.external_id == hook["id"]
    assert account.credentials == {"url": hook["url"]}
    assert account.options["name"] == "Announcements"
    assert account.options["channel_id"] == hook["channel_id"]
    assert account.options["guild_id"] == hook["guild_id"]
    # Stored encrypted: the token is not in the row.
    assert hook["token"] not in raw_credentials(account.id)
    # One GET of the versioned endpoint, nothing posted.
    [call] = fake_discord.calls
    assert (call.method, call.path) == ("GET", fake_discord.path_of(hook))
    assert fake_discord.messages == []


def test_connecting_the_same_webhook_again_updates_its_account(web, fake_discord, hook):
    web.post(CONNECT, {"handle": "announcements", "url": hook["url"]})
    SocialAccount.objects.update(status=SocialAccount.Status.NEEDS_RECONNECT)

    assert web.post(CONNECT, {"handle": "news", "url": hook["url"]}).status_code == 302

    [account] = SocialAccount.objects.filter(provider="discord")
    assert account.handle == "news"
    assert account.status == SocialAccount.Status.ACTIVE


def test_a_webhook_discord_does_not_know_is_refused_with_discords_message(web, fake_discord, hook):
    fake_discord.delete_webhook(hook["id"])

    response = web.post(CONNECT, {"handle": "announcements", "url": hook["url"]})

    assert response.status_code == 400
    body = response.content.decode()
    assert "Unknown Webhook" in body and "10015" in body
    assert hook["token"] not in body  # the URL is never rendered back
    assert not SocialAccount.objects.filter(provider="discord").exists()


def test_a_wrong_token_is_refused(web, fake_discord, hook):
    url = hook["url"].replace(hook["token"], "x" * 68)

    response = web.post(CONNECT, {"handle": "announcements", "url": url})

    assert response.status_code == 400
    assert "Invalid Webhook Token" in response.content.decode()
    assert not SocialAccount.objects.filter(provider="discord").exists()


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("", "This field is required"),
        ("https://example.com/api/webhooks/123456789012345678/" + "a" * 68, "its host is"),
        ("https://discord.com/channels/123456789012345678/123456789012345678", "should look"),
        ("https://discord.com/api/webhooks/123456789012345678/", "should look"),
        ("http://discord.com/api/webhooks/123456789012345678/" + "a" * 68, "https://"),
        ("ftp://discord.com/api/webhooks/123456789012345678/" + "a" * 68, "not a Discord"),
        ("https://user:pw@discord.com/api/webhooks/123456789012345678/" + "a" * 68, "not a"),
        ("https://discord.com/api/webhooks/123456789012345678/" + "a" * 68 + "/slack", "should"),
    ],
)
def test_what_is_not_a_channel_webhook_url_is_refused_before_any_lookup(
    web, fake_discord, monkeypatch, url, said
):
    lookups = fake_dns(monkeypatch, {})
    connects = record_connects(monkeypatch)

    response = web.post(CONNECT, {"handle": "announcements", "url": url})

    assert response.status_code == 400
    assert said in response.content.decode()
    assert lookups == [] and connects == []
    assert not SocialAccount.objects.filter(provider="discord").exists()


def test_the_versioned_and_the_old_hosts_are_discord_too(settings):
    settings.DISCORD_WEBHOOK_HOSTS = ["discord.com", "discordapp.com"]
    token = "T" * 68

    old = discord_address.parse(
        f"https://DiscordApp.com/api/v9/webhooks/123456789012345678/{token}"
    )

    assert old.url == f"https://discordapp.com/api/webhooks/123456789012345678/{token}"
    assert old.api_url(wait=True).endswith(
        "/api/v10/webhooks/123456789012345678/" + token + "?wait=true"
    )
    assert token not in repr(old)
    in_thread = discord_address.parse(
        f"https://discord.com/api/webhooks/123456789012345678/{token}?thread_id=987654321098765432"
    )
    assert in_thread.api_url(wait=True).endswith("?wait=true&thread_id=987654321098765432")
    assert "thread_id" not in in_thread.api_url()


# --- The address rules (DESIGN invariant 6) ----------------------------------------------------


@pytest.fixture
def canary():
    server = Canary("127.0.0.2")
    yield server
    server.stop()


def canary_hook_url(canary, host: str, scheme: str = "http") -> str:
    port = canary.url.rsplit(":", 1)[1]
    return f"{scheme}://{host}:{port}/api/webhooks/123456789012345678/{'a' * 68}"


def test_a_url_to_a_host_that_is_not_discord_never_reaches_it(web, fake_discord, canary):
    response = web.post(CONNECT, {"handle": "x", "url": canary_hook_url(canary, "127.0.0.2")})

    assert response.status_code == 400
    assert "its host is 127.0.0.2" in response.content.decode()
    assert canary.connections == 0


def test_a_discord_name_pointing_at_a_private_address_is_refused_unconnected(
    web, fake_discord, canary, monkeypatch
):
    # discord.com is an allowed Discord host, but its (faked) record points at loopback,
    # which WEBHOOK_ALLOWED_HOSTS does not allow.
    fake_dns(monkeypatch, {"discord.com": ["127.0.0.2"]})
    connects = record_connects(monkeypatch)

    url = canary_hook_url(canary, "discord.com", scheme="https")
    response = web.post(CONNECT, {"handle": "x", "url": url})

    assert response.status_code == 400
    assert "local, private or reserved network address" in response.content.decode()
    assert canary.connections == 0 and connects == []


def test_a_stored_discord_name_rebound_to_a_private_address_is_not_called(
    fake_discord, canary, monkeypatch, clock
):
    account = SocialAccountFactory(
        provider="discord",
        handle="rebound",
        external_id="123456789012345678",
        credentials={"url": canary_hook_url(canary, "discord.com", scheme="https")},
    )
    fake_dns(monkeypatch, {"discord.com": ["127.0.0.2"]})
    connects = record_connects(monkeypatch)
    delivery = make_delivery(account)

    assert delivery_send(delivery_id=delivery.id) == "failed"

    assert "local, private or reserved" in reload(delivery).last_error
    assert canary.connections == 0 and connects == []


def test_a_redirect_is_not_followed(fake_discord, account, hook, canary, clock):
    fake_discord.script(
        "POST",
        fake_discord.path_of(hook),
        Scripted(307, headers={"Location": f"{canary.url}/api/webhooks/1/abc"}),
    )
    delivery = make_delivery(account)

    assert delivery_send(delivery_id=delivery.id) == "failed"

    assert "redirect" in reload(delivery).last_error
    assert canary.connections == 0
