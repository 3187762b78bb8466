"""What a person reads when connecting an account fails: it says what happened and where.

- A Mastodon instance that answers app registration with an HTTP error (a 501 from a proxy,
  a 500, a 422) did not register Queue Loop: the message says the instance refused or
  failed and to try again, never "may have gone through" (nothing is posted by a
  registration, and the next try registers afresh).
- A Bluesky sign-in that fails names the server address it tried.

Against the loopback fakes (tests/networks/fake_mastodon.py, tests/networks/fake_bluesky.py).
"""

from __future__ import annotations

import html
import socket

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import MastodonApp, Membership, SocialAccount
from tests.factories import MembershipFactory
from tests.networks import fake_bluesky as bluesky_fakes
from tests.networks import fake_mastodon as mastodon_fakes
from tests.networks.fake_http import Scripted

fake_mastodon = mastodon_fakes.fake_mastodon
fake_bluesky = bluesky_fakes.fake_bluesky
pytestmark = pytest.mark.django_db
APP_PASSWORD = "abcd-efgh-ijkl-mnop"


@pytest.fixture
def client():
    member = MembershipFactory(role=Membership.Role.OWNER)
    c = Client()
    c.force_login(member.user)
    return c


def page_text(response) -> str:
    return html.unescape(response.content.decode())


@pytest.mark.parametrize(
    "answer",
    [
        Scripted(
            501,
            b"<html><body><h1>501 Not Implemented</h1></body></html>",
            headers={"Content-Type": "text/html"},
        ),
        Scripted(501, {"error": "Not implemented"}),
        Scripted(500, {"error": "We're sorry, but something went wrong on our end."}),
        Scripted(503, b""),
    ],
    ids=["501-html", "501-json", "500-json", "503-empty"],
)
def test_a_server_error_to_app_registration_says_it_failed_and_to_try_again(
    client, fake_mastodon, answer
):
    fake_mastodon.script("POST", "/api/v1/apps", answer)
    response = client.post(
        reverse("mastodon_connect"), {"instance": fake_mastodon.url, "visibility": "public"}
    )
    text = page_text(response)
    host = fake_mastodon.url.split("://")[1]
    assert response.status_code == 400
    assert f"{host} could not register Queue Loop (HTTP {answer.status} " in text
    assert "Nothing was registered" in text and "try again" in text
    assert "may have gone through" not in text
    assert not MastodonApp.objects.exists()
    # The next try registers afresh and goes on to the instance's sign-in page.
    response = client.post(
        reverse("mastodon_connect"), {"instance": fake_mastodon.url, "visibility": "public"}
    )
    assert response.status_code == 302
    assert MastodonApp.objects.count() == 1


def test_a_refused_app_registration_quotes_the_instance(client, fake_mastodon):
    fake_mastodon.script(
        "POST", "/api/v1/apps", Scripted(422, {"error": "Validation failed: Redirect URI is bad"})
    )
    response = client.post(
        reverse("mastodon_connect"), {"instance": fake_mastodon.url, "visibility": "public"}
    )
    text = page_text(response)
    assert response.status_code == 400
    assert (
        "refused to register Queue Loop (HTTP 422): Validation failed: Redirect URI is bad" in text
    )
    assert "may have gone through" not in text
    assert not MastodonApp.objects.exists()


def test_a_registration_answer_without_credentials_is_a_clear_400(client, fake_mastodon):
    fake_mastodon.script("POST", "/api/v1/apps", Scripted(200, {"name": "Queue Loop"}))
    response = client.post(
        reverse("mastodon_connect"), {"instance": fake_mastodon.url, "visibility": "public"}
    )
    assert response.status_code == 400
    assert "did not return the app's client credentials" in page_text(response)
    assert not MastodonApp.objects.exists()


def free_loopback_port() -> int:
    """A 127.0.0.1 port with nothing listening (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_bluesky_server_that_cannot_be_reached_is_named(client, fake_bluesky):
    service = f"http://127.0.0.1:{free_loopback_port()}"
    response = client.post(
        reverse("bluesky_connect"),
        {"service": service, "handle": "alice.test", "app_password": APP_PASSWORD},
    )
    assert response.status_code == 400
    text = page_text(response)
    assert f"Could not connect to {service}" in text
    assert not SocialAccount.objects.exists()


def test_a_bluesky_refusal_names_the_server_that_refused(client, fake_bluesky):
    fake_bluesky.add_account("alice.test", APP_PASSWORD)
    response = client.post(
        reverse("bluesky_connect"), {"handle": "alice.test", "app_password": "zzzz-zzzz-zzzz-zzzz"}
    )
    assert response.status_code == 400
    text = page_text(response)
    assert f"{fake_bluesky.url} refused this handle and app password" in text
    assert not SocialAccount.objects.exists()


def test_a_bluesky_server_error_names_the_server(client, fake_bluesky):
    fake_bluesky.add_account("alice.test", APP_PASSWORD)
    fake_bluesky.script(
        "POST",
        "/xrpc/com.atproto.server.createSession",
        Scripted(502, {"error": "InternalServerError", "message": "upstream down"}),
    )
    response = client.post(
        reverse("bluesky_connect"), {"handle": "alice.test", "app_password": APP_PASSWORD}
    )
    assert response.status_code == 400
    assert fake_bluesky.url in page_text(response)
