"""The networks' SDKs (Mastodon.py, atproto, tweepy) talk only through our guarded transport
(ground.http_transport.sdk): no redirect is followed, and the address actually connected to is
checked after DNS (INSTANCE_ALLOWED_HOSTS' policy).

Each fake listens on 127.0.0.1, which its fixture allows; the canary listens on 127.0.0.2,
which nothing allows. A fake that answers 302/307 pointing at the canary, or a name that
rebinds to it, must leave the canary with 0 connections and the user with a clear reason.
"""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from accounts.models import MastodonApp, Membership, SocialAccount
from ground import address_policy as netpolicy
from ground.http_transport import sdk as netclients
from networks import Rejected
from networks.bluesky import adapter as bluesky_provider
from networks.mastodon import adapter as mastodon_provider
from networks.x import adapter as x_provider
from publishing import services
from publishing.models import Delivery
from scheduling.models import Timeslot
from tests.factories import (
    ChannelFactory,
    MembershipFactory,
    QueueEntryFactory,
    ScheduleFactory,
    SocialAccountFactory,
    XAccountFactory,
)
from tests.networks import fake_bluesky as bluesky_fakes
from tests.networks import fake_mastodon as mastodon_fakes
from tests.networks import fake_x as x_fakes
from tests.networks.fake_http import Scripted
from tests.networks.netfakes import Canary, fake_dns, record_connects

fake_mastodon = mastodon_fakes.fake_mastodon
fake_bluesky = bluesky_fakes.fake_bluesky
fake_x = x_fakes.fake_x
pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)
APP_PASSWORD = "abcd-efgh-ijkl-mnop"
MAIN_PASSWORD = "main-main-main-main"  # shaped like an app password, as in the probe
PUBLIC = "93.184.215.14"  # handed out by the fake DNS; nothing may connect to it


@pytest.fixture
def canary():
    server = Canary("127.0.0.2")
    yield server
    server.stop()


@pytest.fixture
def web():
    member = MembershipFactory(role=Membership.Role.OWNER)
    client = Client()
    client.force_login(member.user)
    client.workspace = member.workspace
    return client


def redirect_to(canary: Canary, path: str, status: int = 307) -> Scripted:
    return Scripted(status, headers={"Location": f"{canary.url}{path}"})


def publish(account: SocialAccount) -> Delivery:
    """The engine's path: the slot publishes and its delivery is sent."""
    channel = ChannelFactory(workspace=account.workspace, with_sandbox=False)
    channel.accounts.add(account)
    QueueEntryFactory(channel=channel, post__text="Hello, network")
    slot = Timeslot.objects.create(
        channel=channel, schedule=ScheduleFactory(channel=channel), publish_at=T0, planned_for=T0
    )
    with time_machine.travel(T0, tick=False):
        services.timeslot_publish(timeslot_id=slot.id, token=str(slot.token))
        for delivery in Delivery.objects.filter(timeslot=slot):
            services.delivery_send(delivery_id=delivery.id)
    return Delivery.objects.get(timeslot=slot)


def form_error(response) -> str:
    assert response.status_code == 400, response.status_code
    return response.content.decode()


# --- Mastodon ------------------------------------------------------------------------------


def test_mastodon_app_registration_redirect_is_not_followed(web, fake_mastodon, canary):
    fake_mastodon.script("POST", "/api/v1/apps", redirect_to(canary, "/api/v1/apps"))
    response = web.post(
        reverse("mastodon_connect"), {"instance": fake_mastodon.url, "visibility": "public"}
    )
    assert canary.connections == 0
    assert "a redirect to 127.0.0.2" in form_error(response)
    assert "follows no redirects" in response.content.decode()
    assert not MastodonApp.objects.exists()


def test_mastodon_token_check_redirect_is_not_followed(web, fake_mastodon, canary):
    _, token = fake_mastodon.add_account("alice")
    path = "/api/v1/accounts/verify_credentials"
    fake_mastodon.script("GET", path, redirect_to(canary, path, status=302))
    response = web.post(
        reverse("mastodon_connect"),
        {"instance": fake_mastodon.url, "access_token": token, "visibility": "public"},
    )
    assert canary.connections == 0
    assert "answered 302, a redirect to 127.0.0.2" in form_error(response)
    assert not SocialAccount.objects.exists()


def test_mastodon_status_redirect_fails_the_delivery_with_its_reason(fake_mastodon, canary):
    account_id, token = fake_mastodon.add_account("alice")
    account = SocialAccountFactory(
        provider=SocialAccount.Provider.MASTODON,
        handle="alice@fake.social",
        external_id=f"{account_id}@fake.social",
        credentials={"access_token": token},
        options={"instance": fake_mastodon.url, "max_characters": 500},
    )
    fake_mastodon.script("POST", "/api/v1/statuses", redirect_to(canary, "/api/v1/statuses"))

    delivery = publish(account)

    assert canary.connections == 0
    assert delivery.status == Delivery.Status.FAILED
    assert "answered 307, a redirect to 127.0.0.2" in delivery.last_error
    assert len(fake_mastodon.calls_to("POST", "/api/v1/statuses")) == 1


def test_a_mastodon_instance_name_rebound_to_loopback_is_not_connected(
    settings, monkeypatch, canary
):
    """The check before the call sees a public address; the connection's own look-up sees
    the canary's: the session refuses the address it would connect to."""
    settings.INSTANCE_ALLOWED_HOSTS = []
    answers = iter([[PUBLIC], ["127.0.0.2"], ["127.0.0.2"]])
    lookups = fake_dns(monkeypatch, {"rebind.example": lambda: next(answers)})
    attempts = record_connects(monkeypatch)
    port = canary.url.rsplit(":", 1)[1]

    with pytest.raises(Rejected, match=r"rebind\.example is on a local, private or reserved"):
        mastodon_provider.verify_token(f"http://rebind.example:{port}", "token")

    assert lookups == ["rebind.example", "rebind.example"]  # the check, then the connect
    assert attempts == [] and canary.connections == 0


# --- Bluesky -------------------------------------------------------------------------------


def test_bluesky_create_session_redirect_never_reposts_the_app_password(web, fake_bluesky, canary):
    fake_bluesky.add_account("alice.test", APP_PASSWORD)
    path = "/xrpc/com.atproto.server.createSession"
    fake_bluesky.script("POST", path, redirect_to(canary, path))

    response = web.post(
        reverse("bluesky_connect"), {"handle": "alice.test", "app_password": APP_PASSWORD}
    )

    assert canary.connections == 0
    assert "answered 307, a redirect to 127.0.0.2" in form_error(response)
    assert not any(APP_PASSWORD.encode() in data for data in canary.received)
    assert not SocialAccount.objects.exists()


def test_bluesky_create_record_redirect_fails_the_delivery_with_its_reason(fake_bluesky, canary):
    did = fake_bluesky.add_account("alice.test", APP_PASSWORD)
    _, info = bluesky_provider.sign_in(fake_bluesky.url, "alice.test", APP_PASSWORD)
    account = SocialAccountFactory(
        provider=SocialAccount.Provider.BLUESKY,
        handle="alice.test",
        external_id=did,
        credentials={
            "identifier": "alice.test",
            "app_password": APP_PASSWORD,
            "session": info["session"],
        },
        options={"service": fake_bluesky.url, "langs": ["en"]},
    )
    path = "/xrpc/com.atproto.repo.createRecord"
    fake_bluesky.script("POST", path, redirect_to(canary, path))

    delivery = publish(account)

    assert canary.connections == 0
    assert delivery.status == Delivery.Status.FAILED
    assert "answered 307, a redirect to 127.0.0.2" in delivery.last_error
    assert fake_bluesky.posts_of(did) == []


def test_a_main_password_session_on_a_forbidden_pds_sends_nothing_there(web, fake_bluesky, canary):
    """The didDoc names the canary as the PDS: it is refused before deleteSession (or any
    other call) is sent there."""
    fake_bluesky.add_account("alice.test", APP_PASSWORD, password=MAIN_PASSWORD)
    fake_bluesky.pds = canary.url

    response = web.post(
        reverse("bluesky_connect"), {"handle": "alice.test", "app_password": MAIN_PASSWORD}
    )

    assert canary.connections == 0
    assert "127.0.0.2 is on a local, private or reserved network address" in form_error(response)
    assert not SocialAccount.objects.exists()


def test_an_app_password_session_on_a_forbidden_pds_is_refused(web, fake_bluesky, canary):
    fake_bluesky.add_account("alice.test", APP_PASSWORD)
    fake_bluesky.pds = canary.url

    response = web.post(
        reverse("bluesky_connect"), {"handle": "alice.test", "app_password": APP_PASSWORD}
    )

    assert canary.connections == 0
    assert "127.0.0.2 is on a local, private or reserved network address" in form_error(response)


def test_a_bluesky_server_name_rebound_to_loopback_is_not_connected(settings, monkeypatch, canary):
    settings.INSTANCE_ALLOWED_HOSTS = []
    answers = iter([[PUBLIC], ["127.0.0.2"], ["127.0.0.2"]])
    lookups = fake_dns(monkeypatch, {"pds.rebind.example": lambda: next(answers)})
    attempts = record_connects(monkeypatch)
    port = canary.url.rsplit(":", 1)[1]

    with pytest.raises(Rejected, match=r"pds\.rebind\.example is on a local, private"):
        bluesky_provider.sign_in(f"http://pds.rebind.example:{port}", "alice.test", APP_PASSWORD)

    assert lookups == ["pds.rebind.example", "pds.rebind.example"]
    assert attempts == [] and canary.connections == 0


# --- X -------------------------------------------------------------------------------------


def test_x_tweet_redirect_fails_the_delivery_with_its_reason(fake_x, canary):
    fake_x.add_user("1001", "queueloop")
    with time_machine.travel(T0, tick=False):
        tokens = fake_x.issue_tokens("1001")
    account = XAccountFactory(
        handle="queueloop",
        credentials={
            "auth": "oauth2",
            "access_token": tokens["access_token"],
            "refresh_token": tokens["refresh_token"],
            "token_type": "bearer",
            "scope": tokens["scope"],
            "expires_at": int(T0.timestamp()) + tokens["expires_in"],
            "user_id": "1001",
        },
    )
    fake_x.script("POST", "/2/tweets", 307, headers={"Location": f"{canary.url}/2/tweets"})

    delivery = publish(account)

    assert canary.connections == 0
    assert delivery.status == Delivery.Status.FAILED
    assert "(307)" in delivery.last_error


def test_x_on_a_refused_address_is_known_unsent_not_unconfirmed(monkeypatch, settings):
    """X's API host (tweepy's api.twitter.com) answering with a refused address (here
    127.0.0.2, on no allow-list): our transport refuses before connecting, so the delivery
    provably did not post and must not be left 'unconfirmed' (asking the user to check X)."""
    settings.INSTANCE_ALLOWED_HOSTS = []
    lookups = fake_dns(monkeypatch, {"api.twitter.com": lambda: ["127.0.0.2"]})
    attempts = record_connects(monkeypatch)
    account = XAccountFactory(
        handle="queueloop",
        credentials={
            "auth": "oauth2",
            "access_token": "a-token",
            "refresh_token": "r-token",
            "token_type": "bearer",
            "scope": "tweet.read tweet.write users.read offline.access",
            "expires_at": int(T0.timestamp()) + 7200,
            "user_id": "1001",
        },
    )

    delivery = publish(account)

    assert "api.twitter.com" in lookups and attempts == []
    assert delivery.status != Delivery.Status.UNCONFIRMED, delivery.last_error
    assert delivery.status != Delivery.Status.SENT


def test_x_token_endpoint_redirect_is_not_followed(fake_x, canary):
    fake_x.script(
        "POST", "/2/oauth2/token", 302, headers={"Location": f"{canary.url}/2/oauth2/token"}
    )
    with pytest.raises(x_provider.TokenRequestFailed, match=r"\(302\)"):
        x_provider.token_request({"grant_type": "refresh_token", "refresh_token": "r"})


# --- The transports themselves --------------------------------------------------------------


def test_guarded_clients_keep_their_connections_between_calls(fake_mastodon, monkeypatch):
    """The guard costs a check per new connection, not a new connection per call."""
    attempts = record_connects(monkeypatch)
    url = f"{fake_mastodon.url}/api/v1/instance"
    session = netclients.requests_session(netpolicy.NETWORKS, timeout=5)
    assert [session.get(url).status_code for _ in range(3)] == [200, 200, 200]
    session.close()
    with httpx.Client(**netclients.httpx_options(netpolicy.NETWORKS)) as client:
        assert [client.get(url).status_code for _ in range(3)] == [200, 200, 200]
    assert attempts == ["127.0.0.1", "127.0.0.1"]


def test_the_guarded_session_takes_no_proxy_or_netrc_from_the_environment(
    fake_mastodon, monkeypatch, tmp_path, canary
):
    """A proxy named in the environment would receive the connection meant for the checked
    address (and forward it anywhere), and ~/.netrc's password would go to whichever host we
    call: the guarded session reads neither. Its CA bundle setting is still honoured."""
    monkeypatch.setenv("HTTP_PROXY", canary.url)
    monkeypatch.setenv("http_proxy", canary.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login someone password hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "ca.pem"))
    attempts = record_connects(monkeypatch)

    session = netclients.requests_session(netpolicy.NETWORKS, timeout=5)
    answer = session.get(f"{fake_mastodon.url}/api/v1/instance")

    assert answer.status_code == 200
    assert "Authorization" not in answer.request.headers
    assert attempts == ["127.0.0.1"] and canary.connections == 0
    assert session.verify == str(tmp_path / "ca.pem")
    session.close()


def test_guarded_clients_refuse_an_address_the_operator_did_not_allow(
    settings, monkeypatch, canary
):
    settings.INSTANCE_ALLOWED_HOSTS = []
    attempts = record_connects(monkeypatch)
    session = netclients.requests_session(netpolicy.NETWORKS, timeout=5)
    with pytest.raises(netclients.GuardedConnectionError) as refused:
        session.get(canary.url)
    assert "127.0.0.2 is on a local, private or reserved" in str(refused.value.refusal)
    with httpx.Client(**netclients.httpx_options(netpolicy.NETWORKS)) as client:
        with pytest.raises(netpolicy.BlockedDestination, match="INSTANCE_ALLOWED_HOSTS"):
            client.get(canary.url)
    assert attempts == [] and canary.connections == 0


def test_the_httpx_transport_tries_each_checked_answer_and_maps_failures(
    settings, monkeypatch, fake_mastodon
):
    """A name with two answers: the first refuses connections, the second is the server
    (socket.create_connection's behaviour, kept). Nothing listening anywhere → httpx's
    ConnectError, which the SDK and our classifier read as "nothing was sent"."""
    settings.INSTANCE_ALLOWED_HOSTS = ["two.example"]
    fake_dns(monkeypatch, {"two.example": ["127.0.0.3", "127.0.0.1"]})
    attempts = record_connects(monkeypatch)
    port = fake_mastodon.url.rsplit(":", 1)[1]
    url = f"http://two.example:{port}/api/v1/instance"
    with httpx.Client(**netclients.httpx_options(netpolicy.NETWORKS)) as client:
        assert client.get(url).status_code == 200
    assert attempts == ["127.0.0.3", "127.0.0.1"]
    fake_mastodon.stop()
    with httpx.Client(**netclients.httpx_options(netpolicy.NETWORKS)) as client:
        with pytest.raises(httpx.ConnectError):
            client.get(url)
