"""Connecting Mastodon and Bluesky accounts through the web UI, against the local fakes."""

from __future__ import annotations

import logging
import socket
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from accounts.models import MastodonApp, Membership, SocialAccount
from tests.factories import MembershipFactory
from tests.networks import fake_bluesky as bluesky_fakes
from tests.networks import fake_mastodon as mastodon_fakes

fake_mastodon = mastodon_fakes.fake_mastodon
fake_bluesky = bluesky_fakes.fake_bluesky
pytestmark = pytest.mark.django_db
APP_PASSWORD = "abcd-efgh-ijkl-mnop"


@pytest.fixture
def member():
    return MembershipFactory(role=Membership.Role.OWNER)


@pytest.fixture
def client(member):
    c = Client()
    c.force_login(member.user)
    return c


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


def raw_credentials() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM accounts_socialaccount")
        return "\n".join(row[0] for row in cursor.fetchall())


def assert_never_logged(caplog, secrets: list[str]) -> None:
    everything = "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records)
    assert not [s for s in secrets if s in everything]


# --- Mastodon -------------------------------------------------------------------------------


def mastodon_sign_in(client, fake, account_id: str, **form) -> tuple:
    response = client.post(
        reverse("mastodon_connect"), {"instance": fake.url, "visibility": "unlisted", **form}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    url = urlsplit(response["Location"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{fake.url}/oauth/authorize"
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert query["response_type"] == "code"
    assert query["scope"] == "read:accounts write:statuses write:media"
    code = fake.authorize(query["client_id"], query["redirect_uri"], account_id)
    return client.get(reverse("mastodon_connect_callback"), {"state": query["state"], "code": code})


def test_mastodon_oauth_registers_the_app_once_per_instance(client, member, fake_mastodon, logs):
    alice, _ = fake_mastodon.add_account("alice")
    bob, _ = fake_mastodon.add_account("bob")
    fake_mastodon.max_characters = 5000

    assert mastodon_sign_in(client, fake_mastodon, alice).status_code == 302
    assert mastodon_sign_in(client, fake_mastodon, bob).status_code == 302

    assert len(fake_mastodon.calls_to("POST", "/api/v1/apps")) == 1
    [app] = MastodonApp.objects.all()
    assert app.instance_url == fake_mastodon.url
    assert app.redirect_uri == "http://testserver/connect/mastodon/callback/"
    accounts = SocialAccount.objects.filter(workspace=member.workspace).order_by("handle")
    host = fake_mastodon.url.split("://")[1]  # 127.0.0.1:port
    assert [a.handle for a in accounts] == [f"alice@{host}", f"bob@{host}"]
    alice_account = accounts[0]
    assert alice_account.provider == "mastodon"
    assert alice_account.options["max_characters"] == 5000
    assert alice_account.options["visibility"] == "unlisted"
    assert alice_account.credentials["access_token"] in fake_mastodon.tokens
    raw = raw_credentials()
    assert alice_account.credentials["access_token"] not in raw
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM accounts_mastodonapp")
        [[raw_secret]] = cursor.fetchall()
    assert app.secret["client_secret"] not in raw_secret
    assert_never_logged(logs, fake_mastodon.issued)


def test_mastodon_callback_with_a_forged_state_connects_nothing(client, fake_mastodon):
    fake_mastodon.add_account("alice")
    client.post(
        reverse("mastodon_connect"), {"instance": fake_mastodon.url, "visibility": "public"}
    )
    response = client.get(
        reverse("mastodon_connect_callback"), {"state": "forged", "code": "whatever"}
    )
    assert response.status_code == 400
    assert "stale" in response.content.decode()
    assert not SocialAccount.objects.exists()
    assert not fake_mastodon.calls_to("POST", "/oauth/token")


def test_mastodon_pasted_token(client, member, fake_mastodon):
    alice, token = fake_mastodon.add_account("alice")
    response = client.post(
        reverse("mastodon_connect"),
        {"instance": fake_mastodon.url, "access_token": token, "visibility": "public"},
    )
    assert response.status_code == 302
    account = SocialAccount.objects.get(workspace=member.workspace)
    assert account.external_id == f"{alice}@{fake_mastodon.url.split('://')[1]}"
    assert account.options["max_characters"] == 500
    assert not fake_mastodon.calls_to("POST", "/api/v1/apps")


def test_mastodon_bad_token_is_a_clear_400(client, fake_mastodon):
    response = client.post(
        reverse("mastodon_connect"),
        {"instance": fake_mastodon.url, "access_token": "nope", "visibility": "public"},
    )
    assert response.status_code == 400
    assert "refused the access token" in response.content.decode()
    assert not SocialAccount.objects.exists()


@pytest.mark.parametrize(
    ("instance", "message"),
    [
        ("", "This field is required"),
        ("ftp://mastodon.social", "Use an https:// address"),
        ("http://10.0.0.8", "private or reserved"),
        ("https://[::1]:8443", "private or reserved"),
        ("https://user:pw@mastodon.social", "not a valid server address"),
    ],
)
def test_mastodon_bad_instances_are_refused_without_a_request(
    client, settings, monkeypatch, instance, message
):
    settings.INSTANCE_ALLOWED_HOSTS = []

    def no_connection(*args, **kwargs):
        raise AssertionError("a connection was attempted")

    monkeypatch.setattr(socket, "create_connection", no_connection)
    monkeypatch.setattr(socket, "getaddrinfo", no_connection)  # not even a DNS question
    response = client.post(
        reverse("mastodon_connect"), {"instance": instance, "visibility": "public"}
    )
    assert response.status_code == 400
    assert message in response.content.decode()


# --- Bluesky --------------------------------------------------------------------------------


def test_bluesky_connect_stores_the_session_encrypted(client, member, fake_bluesky, logs):
    did = fake_bluesky.add_account("alice.test", APP_PASSWORD)
    response = client.post(
        reverse("bluesky_connect"),
        {"handle": "@Alice.test", "app_password": APP_PASSWORD, "language": "en"},
    )
    assert response.status_code == 302
    account = SocialAccount.objects.get(workspace=member.workspace)
    assert (account.provider, account.handle, account.external_id) == ("bluesky", "alice.test", did)
    assert account.options == {"service": fake_bluesky.url, "langs": ["en"]}
    assert account.credentials["session"]
    raw = raw_credentials()
    assert APP_PASSWORD not in raw
    assert account.credentials["session"].split(":::")[2] not in raw
    assert_never_logged(logs, fake_bluesky.issued)


def test_bluesky_form_says_never_the_main_password(client):
    page = client.get(reverse("bluesky_connect")).content.decode()
    assert "Never enter your main Bluesky password here." in page
    assert "App passwords" in page


def test_bluesky_refuses_what_is_not_an_app_password_before_any_request(client, fake_bluesky):
    fake_bluesky.add_account("alice.test", APP_PASSWORD, password="hunter2hunter2")
    response = client.post(
        reverse("bluesky_connect"), {"handle": "alice.test", "app_password": "hunter2hunter2"}
    )
    assert response.status_code == 400
    assert "never use your main password" in response.content.decode()
    assert fake_bluesky.calls == []


def test_bluesky_refuses_a_main_password_shaped_like_an_app_password(client, fake_bluesky):
    """The session's scope tells: com.atproto.access is a main password. That session is
    deleted on the spot and nothing is stored."""
    fake_bluesky.add_account("alice.test", APP_PASSWORD, password="main-main-main-main")
    response = client.post(
        reverse("bluesky_connect"), {"handle": "alice.test", "app_password": "main-main-main-main"}
    )
    assert response.status_code == 400
    assert "main password" in response.content.decode()
    assert len(fake_bluesky.calls_to("POST", "/xrpc/com.atproto.server.deleteSession")) == 1
    assert fake_bluesky.refresh == {}  # the main-password session was revoked
    assert not SocialAccount.objects.exists()


def test_bluesky_wrong_app_password_is_a_clear_400(client, fake_bluesky):
    fake_bluesky.add_account("alice.test", APP_PASSWORD)
    response = client.post(
        reverse("bluesky_connect"), {"handle": "alice.test", "app_password": "zzzz-zzzz-zzzz-zzzz"}
    )
    assert response.status_code == 400
    assert "refused this handle and app password" in response.content.decode()


def test_reconnecting_bluesky_reactivates_the_same_account(client, member, fake_bluesky):
    fake_bluesky.add_account("alice.test", APP_PASSWORD)
    form = {"handle": "alice.test", "app_password": APP_PASSWORD}
    client.post(reverse("bluesky_connect"), form)
    account = SocialAccount.objects.get()
    SocialAccount.objects.filter(id=account.id).update(
        status="needs_reconnect", last_error="Bluesky refused the session"
    )
    client.post(reverse("bluesky_connect"), form)
    account.refresh_from_db()
    assert SocialAccount.objects.count() == 1
    assert (account.status, account.last_error) == ("active", "")


@pytest.mark.parametrize("role", [Membership.Role.VIEWER, Membership.Role.APPROVER])
def test_viewers_cannot_connect(member, fake_bluesky, role):
    viewer = MembershipFactory(workspace=member.workspace, role=role)
    c = Client()
    c.force_login(viewer.user)
    response = c.post(
        reverse("bluesky_connect"), {"handle": "alice.test", "app_password": APP_PASSWORD}
    )
    assert response.status_code == 403
    assert fake_bluesky.calls == []


def test_the_accounts_page_offers_both_networks(client):
    page = client.get(reverse("account_list")).content.decode()
    assert reverse("mastodon_connect") in page
    assert reverse("bluesky_connect") in page
