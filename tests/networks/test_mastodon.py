"""Mastodon at its HTTP boundary: Mastodon.py talks to a fake instance on 127.0.0.1
(tests/networks/fake_mastodon.py) that answers in the documented shapes."""

from __future__ import annotations

import datetime as dt
import socket
import threading

import pytest
import time_machine

from accounts.models import SocialAccount
from networks import AuthFailed, RateLimited, Rejected, Transient, get_provider
from networks.mastodon import adapter as mastodon_provider
from publishing.models import Delivery
from scheduling.models import Timeslot
from tests.factories import ChannelFactory, PostFactory, SocialAccountFactory
from tests.networks import fake_mastodon as fakes
from tests.networks.fake_http import Scripted

fake_mastodon = fakes.fake_mastodon
pytestmark = pytest.mark.django_db
STATUSES = "/api/v1/statuses"
T0 = dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def provider():
    return get_provider("mastodon")


@pytest.fixture
def account(fake_mastodon):
    account_id, token = fake_mastodon.add_account("alice")
    return SocialAccountFactory(
        provider=SocialAccount.Provider.MASTODON,
        handle="alice@fake.social",
        external_id=f"{account_id}@fake.social",
        credentials={"access_token": token},
        options={"instance": fake_mastodon.url, "max_characters": 500, "visibility": "unlisted"},
    )


def make_delivery(account: SocialAccount, text: str = "Hello, fediverse") -> Delivery:
    channel = ChannelFactory(workspace=account.workspace, with_sandbox=False)
    channel.accounts.add(account)
    post = PostFactory(workspace=account.workspace, text=text)
    slot = Timeslot.objects.create(
        channel=channel, post=post, publish_at=dt.datetime.now(dt.UTC), status="publishing"
    )
    return Delivery.objects.create(timeslot=slot, account=account, post=post, text=text)


def test_publish_sends_the_status_with_its_idempotency_key(provider, account, fake_mastodon):
    delivery = make_delivery(account, "Hello, fediverse https://example.com/a/long/path")

    published = provider.publish(delivery)

    [call] = fake_mastodon.calls_to("POST", STATUSES)
    assert call.headers["idempotency-key"] == f"queueloop-delivery-{delivery.id}"
    assert call.bearer == account.credentials["access_token"]
    assert call.field("status") == delivery.text
    assert call.field("visibility") == "unlisted"
    [status] = fake_mastodon.statuses
    assert published.external_id == status["id"]
    assert published.url == f"https://fake.social/@alice/{status['id']}"


def test_a_repeated_publish_makes_one_status(provider, account, fake_mastodon):
    delivery = make_delivery(account)

    first = provider.publish(delivery)
    second = provider.publish(delivery)

    assert len(fake_mastodon.calls_to("POST", STATUSES)) == 2
    assert len(fake_mastodon.statuses) == 1
    assert first == second
    assert provider.idempotent is True


def test_5xx_before_sending_is_transient_and_nothing_is_posted(provider, account, fake_mastodon):
    fake_mastodon.script("POST", STATUSES, Scripted(503, {"error": "Service Unavailable"}))
    delivery = make_delivery(account)

    with pytest.raises(Transient):
        provider.publish(delivery)
    assert fake_mastodon.statuses == []

    provider.publish(delivery)  # the retry the delivery code makes
    assert len(fake_mastodon.statuses) == 1


def test_5xx_after_the_status_was_made_is_retried_into_the_same_status(
    provider, account, fake_mastodon
):
    fake_mastodon.script("POST", STATUSES, Scripted(502, b"<html>Bad Gateway</html>", after=True))
    delivery = make_delivery(account)

    with pytest.raises(Transient) as caught:
        provider.publish(delivery)
    assert caught.value.maybe_sent is True  # safe only because the provider is idempotent
    assert len(fake_mastodon.statuses) == 1

    published = provider.publish(delivery)
    assert len(fake_mastodon.statuses) == 1
    assert published.external_id == fake_mastodon.statuses[0]["id"]


def test_a_connection_dropped_after_posting_is_retried_into_the_same_status(
    provider, account, fake_mastodon
):
    fake_mastodon.script("POST", STATUSES, Scripted(drop=True, after=True))
    delivery = make_delivery(account)

    with pytest.raises(Transient) as caught:
        provider.publish(delivery)
    assert caught.value.maybe_sent is True
    provider.publish(delivery)
    assert len(fake_mastodon.statuses) == 1


def test_a_refused_connection_sent_nothing(provider, account, fake_mastodon):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    account.options = {**account.options, "instance": f"http://127.0.0.1:{port}"}
    account.save()

    with pytest.raises(Transient) as caught:
        provider.publish(make_delivery(account))
    assert caught.value.maybe_sent is False


@pytest.mark.parametrize("status", [401, 403])
def test_401_and_403_need_a_reconnect(provider, account, fake_mastodon, status):
    fake_mastodon.script(
        "POST",
        STATUSES,
        Scripted(status, {"error": "This action is outside the authorized scopes"}),
    )
    with pytest.raises(AuthFailed) as caught:
        provider.publish(make_delivery(account))
    assert "reconnect" in caught.value.message.lower()
    assert fake_mastodon.statuses == []


def test_an_invalid_token_needs_a_reconnect(provider, account, fake_mastodon):
    account.credentials = {"access_token": "revoked"}
    account.save()
    with pytest.raises(AuthFailed, match="The access token is invalid"):
        provider.publish(make_delivery(account))


def test_422_fails_with_the_servers_message(provider, account, fake_mastodon):
    fake_mastodon.script(
        "POST", STATUSES, Scripted(422, {"error": "Validation failed: Text can't be blank"})
    )
    with pytest.raises(Rejected, match="Validation failed: Text can't be blank"):
        provider.publish(make_delivery(account))


def test_429_waits_for_x_ratelimit_reset(provider, account, fake_mastodon):
    reset = T0 + dt.timedelta(minutes=3, seconds=20)
    fake_mastodon.script(
        "POST",
        STATUSES,
        Scripted(
            429,
            {"error": "Too many requests"},
            headers={
                "X-RateLimit-Limit": "300",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": reset.isoformat().replace("+00:00", ".000Z"),
                "Date": "Wed, 02 Dec 2026 10:00:00 GMT",
            },
        ),
    )
    delivery = make_delivery(account)
    with time_machine.travel(T0, tick=False):
        with pytest.raises(RateLimited) as caught:
            provider.publish(delivery)
    assert abs((caught.value.reset_at - reset).total_seconds()) < 1
    assert fake_mastodon.statuses == []


def test_length_counts_urls_as_23_and_uses_the_instances_limit(provider, account, fake_mastodon):
    url = "https://example.com/" + "x" * 200
    assert provider.text_length(f"see {url}") == 4 + 23
    assert provider.text_length("@bob@very.long.instance.example hi") == len("@bob hi")
    long_text = "a" * 600
    assert provider.validate(long_text) == [
        "Mastodon counts this text as 600 characters (links count as 23); the limit is 500."
    ]
    account.options = {**account.options, "max_characters": 1000}
    assert provider.validate(long_text, account=account) == []
    fake_mastodon.max_characters = 1000
    assert provider.publish(make_delivery(account, long_text)).external_id


def test_instance_limits_are_read_from_the_instance(fake_mastodon):
    fake_mastodon.max_characters = 11_000
    limits = mastodon_provider.fetch_instance_limits(fake_mastodon.url)
    assert limits == {
        "max_characters": 11_000,
        "url_chars": 23,
        "image_size_limit": 16 * 1024 * 1024,
    }


def test_publish_is_thread_safe_with_one_pooled_session_per_account(
    provider, account, fake_mastodon
):
    deliveries = [make_delivery(account, f"post {i}") for i in range(6)]
    for delivery in deliveries:
        delivery.account  # load before the threads: they must not touch the database  # noqa: B018
    errors: list[BaseException] = []

    def send(delivery):
        try:
            provider.publish(delivery)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(d,)) for d in deliveries]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert sorted(s["text"] for s in fake_mastodon.statuses) == [f"post {i}" for i in range(6)]
    assert mastodon_provider.session_for(account.id) is mastodon_provider.session_for(account.id)


def test_a_private_instance_address_is_never_called(provider, account, settings, monkeypatch):
    """The DNS answer is faked (no real lookup); nothing may connect anywhere."""
    settings.INSTANCE_ALLOWED_HOSTS = []
    account.options = {**account.options, "instance": "https://mastodon.internal.example"}
    account.save()
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", 443))],
    )

    def no_connection(*args, **kwargs):
        raise AssertionError("a connection was attempted")

    monkeypatch.setattr(socket, "create_connection", no_connection)
    monkeypatch.setattr(socket.socket, "connect", no_connection)
    with pytest.raises(Rejected, match="private or reserved"):
        provider.publish(make_delivery(account))


def test_posts_are_validated_against_the_instances_own_limit(account):
    from editor.services import text_errors

    channel = ChannelFactory(workspace=account.workspace, with_sandbox=False)
    channel.accounts.add(account)
    account.options = {**account.options, "max_characters": 1000}
    account.save()

    assert text_errors(text="a" * 600, channels=[channel]) == []
    [error] = text_errors(text="a" * 1001, channels=[channel])
    assert error.endswith(
        "counts this text as 1001 characters (links count as 23); the limit is 1000."
    )


def test_check_accounts_reads_the_instance_limit_again(account, fake_mastodon):
    from io import StringIO

    from django.core.management import call_command

    fake_mastodon.max_characters = 3000
    out = StringIO()
    call_command("check_accounts", "--account", str(account.id), stdout=out)
    assert "Signed in to" in out.getvalue()
    assert "allows 3000 characters" in out.getvalue()
    account.refresh_from_db()
    assert account.options["max_characters"] == 3000
    assert account.last_checked_at is not None
