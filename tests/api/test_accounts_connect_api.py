"""Adding social accounts through the API (issue 29, item 1), with the accounts page's own
forms and connect services: sandbox, webhook (the address rules), a Telegram bot against
the fake Bot API, a Discord webhook against the fake Discord (both on 127.0.0.1), and the
URL that starts X's OAuth in a browser. Secrets are stored encrypted and never answered; a
viewer may not add; a foreign workspace is unknown."""

from __future__ import annotations

import pytest
from django.db import connection

from accounts.models import Membership, SocialAccount
from tests.api.test_endpoints import API, client_for, member
from tests.factories import SocialAccountFactory, WorkspaceFactory
from tests.networks import fake_bluesky as bluesky_fakes
from tests.networks import fake_discord as discord_fakes
from tests.networks import fake_mastodon as mastodon_fakes
from tests.networks import fake_telegram as telegram_fakes

pytestmark = pytest.mark.django_db
fake_telegram = telegram_fakes.fake_telegram
fake_discord = discord_fakes.fake_discord
fake_mastodon = mastodon_fakes.fake_mastodon
fake_bluesky = bluesky_fakes.fake_bluesky
BLUESKY_PASSWORD = "abcd-efgh-ijkl-mnop"
CONNECT = f"{API}/accounts/connect"
SECRET = "s3cret-s3cret-s3cret"


@pytest.fixture
def ws():
    return WorkspaceFactory(slug="acme")


@pytest.fixture
def api(ws):
    return client_for(member(ws, Membership.Role.OWNER))


def raw_credentials(account_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM accounts_socialaccount WHERE id = %s", [account_id])
        return str(cursor.fetchone()[0])


def test_a_sandbox_account_is_added(api, ws):
    response = api.post(f"{CONNECT}/sandbox/", {"handle": "trial"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["provider"] == "sandbox" and response.json()["handle"] == "trial"
    again = api.post(f"{CONNECT}/sandbox/", {"handle": "trial"}, format="json")
    assert again.status_code == 400
    assert "already has a sandbox account" in again.json()["handle"][0]


def test_a_webhook_account_keeps_its_secret_encrypted_and_unshown(api, ws, settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["hooks.example.test"]
    body = {"handle": "team-chat", "url": "https://hooks.example.test/in", "secret": SECRET}

    response = api.post(f"{CONNECT}/webhook/", body, format="json")

    assert response.status_code == 201, response.content
    assert SECRET not in response.content.decode()
    account = SocialAccount.objects.get(id=response.json()["id"])
    assert account.credentials["secret"] == SECRET
    assert SECRET not in raw_credentials(account.id)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"handle": "a", "url": "http://127.0.0.1:9/in", "secret": SECRET}, "url"),
        ({"handle": "a", "url": "http://10.0.0.5/in", "secret": SECRET}, "url"),
        ({"handle": "a", "url": "ftp://example.com/", "secret": SECRET}, "url"),
        ({"handle": "a", "url": "https://example.com/", "secret": "short"}, "secret"),
        ({"handle": "no spaces", "url": "https://example.com/", "secret": SECRET}, "handle"),
        ({"url": "https://example.com/", "secret": SECRET}, "handle"),
    ],
)
def test_a_bad_webhook_is_a_400_on_its_field(api, settings, body, field):
    # example.com is allowed, so its other faults show without asking any DNS.
    settings.WEBHOOK_ALLOWED_HOSTS = ["example.com"]
    response = api.post(f"{CONNECT}/webhook/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not SocialAccount.objects.exists()


def test_a_telegram_bot_is_checked_then_connected(api, ws, fake_telegram):
    token = fake_telegram.add_bot("queueloop_bot")
    chat_id = fake_telegram.add_channel("queueloop_news")
    fake_telegram.set_member(chat_id, token)

    response = api.post(
        f"{CONNECT}/telegram/", {"bot_token": token, "chat": "@queueloop_news"}, format="json"
    )

    assert response.status_code == 201, response.content
    account = SocialAccount.objects.get(provider="telegram")
    assert (account.workspace, account.handle) == (ws, "queueloop_news")
    assert token not in response.content.decode() and token not in raw_credentials(account.id)


def test_telegram_refusals_are_400s_with_the_reason(api, fake_telegram):
    token = fake_telegram.add_bot("queueloop_bot")
    fake_telegram.add_channel("elsewhere")  # the bot is not a member there
    shape = api.post(f"{CONNECT}/telegram/", {"bot_token": "nope", "chat": "@x"}, format="json")
    assert shape.status_code == 400 and "bot token" in shape.json()["bot_token"][0]
    refused = api.post(
        f"{CONNECT}/telegram/", {"bot_token": token, "chat": "@elsewhere"}, format="json"
    )
    assert refused.status_code == 400, refused.content
    assert refused.json()["non_field_errors"][0]
    assert not SocialAccount.objects.exists()


def test_a_discord_webhook_is_read_then_connected(api, fake_discord):
    hook = fake_discord.add_webhook("Announcements")
    response = api.post(
        f"{CONNECT}/discord/", {"handle": "announcements", "url": hook["url"]}, format="json"
    )
    assert response.status_code == 201, response.content
    account = SocialAccount.objects.get(provider="discord")
    assert account.external_id == hook["id"]
    assert hook["token"] not in response.content.decode()
    assert hook["token"] not in raw_credentials(account.id)

    fake_discord.delete_webhook(hook["id"])
    gone = api.post(f"{CONNECT}/discord/", {"handle": "other", "url": hook["url"]}, format="json")
    assert gone.status_code == 400 and gone.json()["url"][0]
    bad = api.post(f"{CONNECT}/discord/", {"handle": "x", "url": "https://a.b/"}, format="json")
    assert bad.status_code == 400 and "url" in bad.json()


def test_start_answers_the_url_that_begins_x_oauth_in_a_browser(api, ws):
    response = api.post(f"{CONNECT}/start/", {"network": "x"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["url"] == "http://testserver/connect/x/start/?workspace=acme"
    assert api.post(f"{CONNECT}/start/", {"network": "myspace"}, format="json").status_code == 400


@pytest.mark.parametrize("network", ["mastodon", "linkedin", "threads", "facebook", "instagram"])
def test_start_answers_each_oauth_networks_page_in_the_named_workspace(ws, network, settings):
    from django.test import Client

    from accounts.views import SESSION_WORKSPACE

    # Keys set, so each page shows its flow's start (Threads' redirects to its consent page).
    settings.THREADS_APP_ID, settings.THREADS_APP_SECRET = "1234", "threads-secret"
    owner = member(ws, Membership.Role.OWNER)
    other = WorkspaceFactory(slug="zeta")
    Membership.objects.create(workspace=other, user=owner, role=Membership.Role.OWNER)
    api = client_for(owner)
    response = api.post(
        f"{CONNECT}/start/", {"network": network, "workspace": "zeta"}, format="json"
    )
    assert response.status_code == 200, response.content
    url = response.json()["url"]
    assert url == f"http://testserver/connect/{network}/?workspace=zeta"
    # Opened in a browser signed in as the same person: the page acts in that workspace.
    browser = Client()
    browser.force_login(owner)
    page = browser.get(url.removeprefix("http://testserver"))
    assert page.status_code in (200, 302), page.status_code
    assert browser.session[SESSION_WORKSPACE] == other.id


@pytest.mark.parametrize("role", ["owner", "editor", "viewer"])
def test_each_role_and_another_workspace(ws, role, settings):
    api = client_for(member(ws, role))
    WorkspaceFactory(slug="rival")
    writes = role != "viewer"
    calls = [
        ("sandbox", {"handle": f"try-{role}"}),
        ("start", {"network": "x"}),
    ]
    for kind, body in calls:
        response = api.post(f"{CONNECT}/{kind}/", body, format="json")
        assert response.status_code == ((201, 200)[kind == "start"] if writes else 403), kind
        # Another workspace's slug: unknown (a viewer is refused before it is read).
        foreign = api.post(f"{CONNECT}/{kind}/", {**body, "workspace": "rival"}, format="json")
        if writes:
            assert foreign.status_code == 400
            assert "not a member" in foreign.json()["workspace"][0]
        else:
            assert foreign.status_code == 403
    assert SocialAccount.objects.count() == (1 if writes else 0)


def test_an_account_is_disabled_and_enabled_as_on_the_accounts_page(ws):
    account = SocialAccountFactory(workspace=ws)
    foreign = SocialAccountFactory(workspace=WorkspaceFactory(slug="rival"))
    api, viewer = (client_for(member(ws, role)) for role in ("editor", "viewer"))

    assert viewer.post(f"{API}/accounts/{account.id}/disable/").status_code == 403
    disabled = api.post(f"{API}/accounts/{account.id}/disable/")
    assert disabled.status_code == 200 and disabled.json()["status"] == "disabled"
    assert api.post(f"{API}/accounts/{account.id}/enable/").json()["status"] == "active"
    assert api.post(f"{API}/accounts/{foreign.id}/disable/").status_code == 404
    foreign.refresh_from_db()
    assert foreign.status == "active"


def test_a_mastodon_token_is_checked_then_connected(api, fake_mastodon):
    alice, token = fake_mastodon.add_account("alice")
    body = {"instance": fake_mastodon.url, "access_token": token}

    response = api.post(f"{CONNECT}/mastodon/", body, format="json")

    assert response.status_code == 201, response.content
    account = SocialAccount.objects.get(provider="mastodon")
    assert account.external_id == f"{alice}@{fake_mastodon.url.split('://')[1]}"
    assert token not in response.content.decode() and token not in raw_credentials(account.id)
    bad = api.post(f"{CONNECT}/mastodon/", {**body, "access_token": "wrong"}, format="json")
    assert bad.status_code == 400 and bad.json()["non_field_errors"][0]
    assert api.post(f"{CONNECT}/mastodon/", {"instance": "x"}, format="json").status_code == 400


def test_a_bluesky_app_password_signs_in_then_connects(api, fake_bluesky):
    did = fake_bluesky.add_account("alice.test", BLUESKY_PASSWORD)
    body = {"handle": "alice.test", "app_password": BLUESKY_PASSWORD, "language": "en"}

    response = api.post(f"{CONNECT}/bluesky/", body, format="json")

    assert response.status_code == 201, response.content
    account = SocialAccount.objects.get(provider="bluesky")
    assert (account.external_id, account.options["langs"]) == (did, ["en"])
    assert BLUESKY_PASSWORD not in raw_credentials(account.id)
    wrong = api.post(
        f"{CONNECT}/bluesky/", {**body, "app_password": "aaaa-bbbb-cccc-dddd"}, format="json"
    )
    assert wrong.status_code == 400
    shape = api.post(f"{CONNECT}/bluesky/", {**body, "app_password": "nope"}, format="json")
    assert shape.status_code == 400 and "app_password" in shape.json()
