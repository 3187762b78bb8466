"""Connecting X accounts end to end with the Django test client against the fake X:
the OAuth 2.0 PKCE flow and pasted OAuth 1.0a keys."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from accounts.models import Membership, SocialAccount
from networks.x import connect as x_oauth
from networks.x.views import accounts_page_url
from tests.factories import MembershipFactory, WorkspaceFactory, XAccountFactory
from tests.networks import fake_x as fakes

fake_x = fakes.fake_x
secrets_never_logged = fakes.secrets_never_logged

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("secrets_never_logged")]

START = "/connect/x/start/"
CALLBACK = "/connect/x/callback/"
KEYS = "/connect/x/keys/"


@pytest.fixture
def member():
    return MembershipFactory(role=Membership.Role.OWNER)


@pytest.fixture
def client(member):
    c = Client()
    c.force_login(member.user)
    return c


def start(client, query: str = "") -> dict:
    response = client.get(START + query)
    assert response.status_code == 302
    url = urlsplit(response["Location"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://x.com/i/oauth2/authorize"
    return {k: v[0] for k, v in parse_qs(url.query).items()}


def raw_credentials() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM accounts_socialaccount")
        return [row[0] for row in cursor.fetchall()]


def test_the_urls_have_their_names():
    assert reverse("x_connect_start") == START
    assert reverse("x_connect_callback") == CALLBACK
    assert reverse("x_connect_keys") == KEYS


def test_start_redirects_to_x_with_pkce_state_and_scopes(client, fake_x):
    params = start(client)

    assert params["response_type"] == "code"
    assert params["client_id"] == fakes.CLIENT_ID
    assert params["redirect_uri"] == fakes.REDIRECT_URI
    assert params["scope"] == "tweet.read tweet.write users.read offline.access media.write"
    assert params["code_challenge_method"] == "S256"
    assert len(params["state"]) >= 32
    pending = client.session[x_oauth.SESSION_KEY]
    assert pending["state"] == params["state"]
    verifier = pending["code_verifier"]
    assert 43 <= len(verifier) <= 128
    digest = hashlib.sha256(verifier.encode()).digest()
    assert params["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert verifier not in client.get(START)["Location"]
    assert fake_x.calls == []


def test_callback_with_the_right_state_stores_the_account_encrypted(client, fake_x, member):
    params = start(client)
    callback = fake_x.authorize(params, user_id="1001", username="queueloop")

    response = client.get(CALLBACK, callback)

    assert response.status_code == 302
    assert response["Location"] == accounts_page_url()
    [account] = SocialAccount.objects.all()
    assert account.workspace == member.workspace
    assert (account.provider, account.handle, account.external_id) == ("x", "queueloop", "1001")
    assert account.status == SocialAccount.Status.ACTIVE
    credentials = account.credentials
    assert credentials["auth"] == "oauth2"
    assert credentials["access_token"] in fake_x.access_tokens
    assert credentials["refresh_token"] in fake_x.refresh_tokens
    assert credentials["user_id"] == "1001"
    assert credentials["expires_at"] > 0
    [raw] = raw_credentials()
    assert credentials["access_token"] not in raw
    assert credentials["refresh_token"] not in raw
    assert "access_token" not in raw and not raw.startswith("{")
    # The exchange sent the PKCE verifier and authenticated the app.
    [exchange] = fake_x.calls_to("POST", "/2/oauth2/token")
    assert exchange.form["grant_type"] == "authorization_code"
    assert exchange.form["code_verifier"]
    assert exchange.headers["Authorization"].startswith("Basic ")
    messages = [str(m) for m in response.wsgi_request._messages]
    assert messages == ["Connected @queueloop on X."]
    assert x_oauth.SESSION_KEY not in client.session


@pytest.mark.parametrize("state", ["wrong-state", ""])
def test_callback_with_a_wrong_or_missing_state_is_a_400_and_stores_nothing(client, fake_x, state):
    params = start(client)
    callback = fake_x.authorize(params)

    response = client.get(CALLBACK, {**callback, "state": state})

    assert response.status_code == 400
    assert b"state mismatch" in response.content
    assert SocialAccount.objects.count() == 0
    assert fake_x.calls_to("POST", "/2/oauth2/token") == []
    # The real answer still works afterwards: a forged callback cannot burn the flow.
    assert client.get(CALLBACK, callback).status_code == 302
    assert SocialAccount.objects.count() == 1


def test_callback_without_a_started_flow_is_a_400(client, fake_x):
    response = client.get(CALLBACK, {"code": "abc", "state": "abc"})

    assert response.status_code == 400
    assert b"start connecting again" in response.content.lower()
    assert SocialAccount.objects.count() == 0


def test_a_callback_cannot_be_replayed(client, fake_x):
    callback = fake_x.authorize(start(client))
    assert client.get(CALLBACK, callback).status_code == 302

    response = client.get(CALLBACK, callback)

    assert response.status_code == 400
    assert SocialAccount.objects.count() == 1


def test_callback_with_an_error_from_x_is_a_400(client, fake_x):
    params = start(client)

    denied = {"error": "access_denied", "error_description": "The user said no"}
    response = client.get(CALLBACK, {**denied, "state": params["state"]})

    assert response.status_code == 400
    assert b"not granted" in response.content
    assert b"The user said no" in response.content
    assert SocialAccount.objects.count() == 0
    assert x_oauth.SESSION_KEY not in client.session


def test_a_refused_code_exchange_is_a_400_and_stores_nothing(client, fake_x):
    params = start(client)
    callback = fake_x.authorize(params)
    fake_x.codes.clear()  # X no longer knows the code (expired)

    response = client.get(CALLBACK, callback)

    assert response.status_code == 400
    assert b"X refused the token request (400" in response.content
    assert SocialAccount.objects.count() == 0


def test_x_down_during_the_exchange_is_a_clear_400(client, fake_x):
    callback = fake_x.authorize(start(client))
    fake_x.script("POST", "/2/oauth2/token", 503, {"title": "Service Unavailable"})

    response = client.get(CALLBACK, callback)

    assert response.status_code == 400
    assert b"503" in response.content
    assert SocialAccount.objects.count() == 0


def test_reconnecting_updates_the_same_account_and_reactivates_it(client, fake_x, member):
    old = XAccountFactory(
        workspace=member.workspace,
        handle="oldname",
        external_id="1001",
        status=SocialAccount.Status.NEEDS_RECONNECT,
        last_error="X refused the access token",
        credentials={"auth": "oauth2", "access_token": "revoked", "refresh_token": "gone"},
    )
    old.reconnect_notified_at = old.created_at
    old.save()

    callback = fake_x.authorize(start(client), user_id="1001", username="newname")
    assert client.get(CALLBACK, callback).status_code == 302

    [account] = SocialAccount.objects.all()
    assert account.id == old.id
    assert account.handle == "newname"
    assert account.status == SocialAccount.Status.ACTIVE
    assert account.reconnect_notified_at is None
    assert account.last_error == ""
    assert account.credentials["access_token"] in fake_x.access_tokens


def test_start_picks_the_workspace_from_the_query(client, fake_x, member):
    other = MembershipFactory(user=member.user, role=Membership.Role.EDITOR).workspace
    callback = fake_x.authorize(start(client, f"?workspace={other.slug}"))

    client.get(CALLBACK, callback)

    assert SocialAccount.objects.get().workspace == other


@pytest.mark.parametrize("role", [Membership.Role.VIEWER, Membership.Role.APPROVER])
def test_viewers_and_strangers_cannot_connect(fake_x, role):
    viewer = MembershipFactory(role=role)
    c = Client()
    c.force_login(viewer.user)
    assert c.get(START).status_code == 403
    stranger_ws = WorkspaceFactory()
    assert c.get(f"{START}?workspace={stranger_ws.slug}").status_code == 403
    assert c.get(KEYS).status_code == 403


def test_anonymous_users_are_sent_to_log_in(fake_x):
    response = Client().get(START)
    assert response.status_code == 302
    assert "next=" in response["Location"]


def test_start_without_a_client_id_explains_the_setup(client, fake_x, settings):
    settings.X_CLIENT_ID = ""
    response = client.get(START)
    assert response.status_code == 503
    assert b"X_CLIENT_ID" in response.content


# --- OAuth 1.0a keys -------------------------------------------------------------------------


def test_keys_form_verifies_with_x_and_stores_the_keys_encrypted(fake_x, member):
    keys = fake_x.issue_oauth1_keys("1001")
    c = Client(enforce_csrf_checks=True)
    c.force_login(member.user)
    page = c.get(KEYS)
    assert page.status_code == 200
    token = page.context["csrf_token"]

    response = c.post(KEYS, {**keys, "csrfmiddlewaretoken": str(token)})

    assert response.status_code == 302
    [account] = SocialAccount.objects.all()
    assert (account.handle, account.external_id) == ("queueloop", "1001")
    assert account.credentials == {"auth": "oauth1", **keys, "user_id": "1001"}
    [raw] = raw_credentials()
    for value in keys.values():
        assert value not in raw
    [call] = fake_x.calls_to("GET", "/2/users/me")
    assert call.headers["Authorization"].startswith("OAuth ")


def test_wrong_keys_show_an_error_and_store_nothing(client, fake_x):
    keys = fake_x.issue_oauth1_keys("1001")

    response = client.post(KEYS, {**keys, "consumer_secret": "wrong"})

    assert response.status_code == 400
    assert b"X refused these keys (401)" in response.content
    assert keys["access_token_secret"].encode() not in response.content
    assert SocialAccount.objects.count() == 0


def test_missing_keys_are_form_errors(client, fake_x):
    response = client.post(KEYS, {"consumer_key": "only this"})

    assert response.status_code == 400
    assert b"This field is required." in response.content
    assert fake_x.calls == []
    assert SocialAccount.objects.count() == 0


def test_keys_form_needs_the_csrf_token(fake_x, member):
    keys = fake_x.issue_oauth1_keys("1001")
    c = Client(enforce_csrf_checks=True)
    c.force_login(member.user)

    assert c.post(KEYS, keys).status_code == 403
    assert SocialAccount.objects.count() == 0
    assert fake_x.calls == []
