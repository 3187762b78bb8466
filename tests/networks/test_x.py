"""Publishing to X through tweepy, at the HTTP boundary: a fake X (tests/networks/fake_x.py) is
mounted on the sessions the provider makes; deliveries go through
publishing.services.delivery_send exactly as the Celery task runs them."""

from __future__ import annotations

import datetime as dt
import time
from http.client import RemoteDisconnected

import pytest
import requests
import time_machine
from celery.exceptions import SoftTimeLimitExceeded
from django.core import mail
from django.db import connection
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from accounts.models import Notice, SocialAccount
from accounts.tasks import send_notice_email
from networks import Rejected
from networks.x import adapter as x_provider
from publishing.models import Delivery
from publishing.services import deliveries_recover, delivery_send
from scheduling.models import Timeslot
from tests.conftest import race
from tests.factories import ChannelFactory, MembershipFactory, PostFactory, XAccountFactory
from tests.networks import fake_x as fakes

fake_x = fakes.fake_x
secrets_never_logged = fakes.secrets_never_logged

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("secrets_never_logged")]

T0 = dt.datetime(2026, 3, 2, 14, 0, tzinfo=dt.UTC)
TWEETS = "/2/tweets"
TOKEN = "/2/oauth2/token"


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def oauth2_credentials(tokens: dict, *, now: dt.datetime = T0) -> dict:
    return {
        "auth": "oauth2",
        "access_token": tokens["access_token"],
        "refresh_token": tokens["refresh_token"],
        "token_type": "bearer",
        "scope": tokens["scope"],
        "expires_at": int(now.timestamp()) + tokens["expires_in"],
        "user_id": "1001",
    }


@pytest.fixture
def account(fake_x, clock):
    fake_x.add_user("1001", "queueloop")
    acc = XAccountFactory(
        handle="queueloop",
        external_id="1001",
        credentials=oauth2_credentials(fake_x.issue_tokens("1001")),
    )
    MembershipFactory(workspace=acc.workspace, user__email="owner@example.com")
    return acc


def make_delivery(account: SocialAccount, text: str = "Hello from Queue Loop") -> Delivery:
    """A claimed (publishing) pinned slot with one pending delivery to `account`."""
    channel = ChannelFactory(workspace=account.workspace, with_sandbox=False)
    channel.accounts.add(account)
    post = PostFactory(workspace=account.workspace, text=text)
    slot = Timeslot.objects.create(
        channel=channel, post=post, publish_at=dt.datetime.now(dt.UTC), status="publishing"
    )
    return Delivery.objects.create(timeslot=slot, account=account, post=post, text=text)


def reload(obj):
    obj.refresh_from_db()
    return obj


def raw_credentials(account_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM accounts_socialaccount WHERE id = %s", [account_id])
        return cursor.fetchone()[0]


# --- Success ---------------------------------------------------------------------------------


def test_publish_with_an_oauth2_token_sends_and_records_the_tweet(fake_x, account):
    delivery = make_delivery(account)

    assert delivery_send(delivery_id=delivery.id) == "sent"

    delivery = reload(delivery)
    [tweet] = fake_x.tweets("1001")
    assert tweet["text"] == "Hello from Queue Loop"
    assert delivery.external_id == tweet["id"]
    assert delivery.url == f"https://x.com/queueloop/status/{tweet['id']}"
    assert delivery.last_error == ""
    assert reload(delivery.timeslot).status == Timeslot.Status.PUBLISHED
    [call] = fake_x.calls_to("POST", TWEETS)
    assert call.bearer == account.credentials["access_token"]
    assert call.json == {"text": "Hello from Queue Loop"}
    # tweepy sets no timeout; ours is on every request.
    assert call.timeout == 7


def test_publish_with_oauth1_keys_signs_the_request(fake_x, clock):
    keys = fake_x.issue_oauth1_keys("1001")
    account = XAccountFactory(handle="keys", credentials={"auth": "oauth1", **keys})
    delivery = make_delivery(account, "Signed with OAuth 1.0a")

    assert delivery_send(delivery_id=delivery.id) == "sent"

    [call] = fake_x.calls_to("POST", TWEETS)
    assert call.headers["Authorization"].startswith("OAuth ")
    assert keys["consumer_secret"] not in call.headers["Authorization"]
    assert reload(delivery).url.startswith("https://x.com/keys/status/")


def test_wrong_oauth1_secret_is_an_auth_failure(fake_x, clock):
    keys = fake_x.issue_oauth1_keys("1001")
    keys["access_token_secret"] = "not-the-secret"
    account = XAccountFactory(handle="keys", credentials={"auth": "oauth1", **keys})
    delivery = make_delivery(account)

    assert delivery_send(delivery_id=delivery.id) == "failed"

    assert reload(account).status == SocialAccount.Status.NEEDS_RECONNECT
    assert "OAuth 1.0a" in reload(delivery).last_error
    assert fake_x.calls_to("POST", TOKEN) == []  # OAuth 1.0a has nothing to refresh


def test_text_over_the_limit_is_rejected_without_calling_x(fake_x, account):
    delivery = make_delivery(account, "x" * 281)

    assert delivery_send(delivery_id=delivery.id) == "failed"

    assert "X counts this text as 281 characters; the limit is 280." in reload(delivery).last_error
    assert fake_x.calls == []


# --- Rate limits, server errors, network -------------------------------------------------


def test_429_waits_for_the_rate_limit_reset_then_sends(fake_x, account, clock):
    reset = int(T0.timestamp()) + 300
    fake_x.script(
        "POST",
        TWEETS,
        429,
        {"title": "Too Many Requests", "detail": "Too Many Requests", "status": 429},
        headers={"x-rate-limit-limit": "200", "x-rate-limit-remaining": "0",
                 "x-rate-limit-reset": str(reset)},
    )  # fmt: skip
    delivery = make_delivery(account)

    assert delivery_send(delivery_id=delivery.id) == "pending"

    delivery = reload(delivery)
    assert delivery.next_attempt_at == dt.datetime.fromtimestamp(reset, tz=dt.UTC)
    assert "rate limit" in delivery.last_error
    assert reload(delivery.timeslot).status == Timeslot.Status.PUBLISHING

    clock.move_to(T0 + dt.timedelta(seconds=60))  # a stray early message does nothing
    assert delivery_send(delivery_id=delivery.id) == "not claimed"
    assert len(fake_x.calls_to("POST", TWEETS)) == 1

    clock.move_to(dt.datetime.fromtimestamp(reset + 1, tz=dt.UTC))
    assert delivery_send(delivery_id=delivery.id) == "sent"
    assert len(fake_x.calls_to("POST", TWEETS)) == 2
    assert len(fake_x.tweets("1001")) == 1
    assert reload(delivery.timeslot).status == Timeslot.Status.PUBLISHED


def test_429_on_the_daily_cap_waits_for_the_24_hour_reset(fake_x, account, clock):
    window_reset = int(T0.timestamp()) + 120
    day_reset = int(T0.timestamp()) + 600
    fake_x.script(
        "POST",
        TWEETS,
        429,
        {"title": "Too Many Requests"},
        headers={"x-rate-limit-remaining": "50", "x-rate-limit-reset": str(window_reset),
                 "x-user-limit-24hour-remaining": "0",
                 "x-user-limit-24hour-reset": str(day_reset)},
    )  # fmt: skip
    delivery = make_delivery(account)

    assert delivery_send(delivery_id=delivery.id) == "pending"
    assert reload(delivery).next_attempt_at == dt.datetime.fromtimestamp(day_reset, tz=dt.UTC)


def test_503_retries_with_backoff_and_does_not_fail(fake_x, account, clock):
    fake_x.script("POST", TWEETS, 503, {"title": "Service Unavailable"})
    delivery = make_delivery(account)

    assert delivery_send(delivery_id=delivery.id) == "pending"

    delivery = reload(delivery)
    assert delivery.next_attempt_at == T0 + dt.timedelta(seconds=5)
    assert "503" in delivery.last_error
    clock.move_to(T0 + dt.timedelta(seconds=5))
    assert delivery_send(delivery_id=delivery.id) == "sent"
    assert len(fake_x.tweets("1001")) == 1


def test_connection_refused_before_sending_is_retried(fake_x, account, clock):
    refused = NewConnectionError(None, "Failed to establish a new connection: refused")
    fake_x.script_exception(
        "POST", TWEETS, requests.ConnectionError(MaxRetryError(None, TWEETS, reason=refused))
    )
    delivery = make_delivery(account)

    assert delivery_send(delivery_id=delivery.id) == "pending"
    assert "nothing was sent" in reload(delivery).last_error


def test_connect_timeout_is_retried(fake_x, account, clock):
    fake_x.script_exception("POST", TWEETS, requests.ConnectTimeout("connect timed out"))
    delivery = make_delivery(account)

    assert delivery_send(delivery_id=delivery.id) == "pending"


def test_connection_dropped_mid_request_is_unconfirmed(fake_x, account, clock):
    aborted = ProtocolError("Connection aborted.", RemoteDisconnected("closed"))
    fake_x.script_exception("POST", TWEETS, requests.ConnectionError(aborted))
    delivery = make_delivery(account)

    assert delivery_send(delivery_id=delivery.id) == "unconfirmed"


def test_x_that_never_answers_leaves_the_delivery_unconfirmed_and_never_resends(
    fake_x, account, clock
):
    fake_x.hang_on("POST", TWEETS)
    delivery = make_delivery(account)

    assert delivery_send(delivery_id=delivery.id) == "unconfirmed"

    delivery = reload(delivery)
    assert "may have reached X" in delivery.last_error
    assert reload(delivery.timeslot).status == Timeslot.Status.FAILED
    assert Notice.objects.filter(kind=Notice.Kind.TIMESLOT_UNCONFIRMED).count() == 1
    # X did get it (the fake posted it); nothing may ever send it again.
    fake_x.hanging.clear()
    clock.move_to(T0 + dt.timedelta(minutes=10))
    assert delivery_send(delivery_id=delivery.id) == "not claimed"
    deliveries_recover(now=T0 + dt.timedelta(minutes=10))
    assert reload(delivery).status == Delivery.Status.UNCONFIRMED
    [call] = fake_x.calls_to("POST", TWEETS)
    assert call.timeout == 7
    assert len(fake_x.tweets("1001")) == 1


def test_time_limit_hitting_mid_call_leaves_the_delivery_unconfirmed(fake_x, account, clock):
    fake_x.script_exception("POST", TWEETS, SoftTimeLimitExceeded())
    delivery = make_delivery(account)

    assert delivery_send(delivery_id=delivery.id) == "unconfirmed"
    assert delivery_send(delivery_id=delivery.id) == "not claimed"
    assert len(fake_x.calls_to("POST", TWEETS)) == 1


def test_504_gateway_timeout_is_unconfirmed(fake_x, account, clock):
    fake_x.script("POST", TWEETS, 504, {"title": "Gateway Timeout"})
    delivery = make_delivery(account)

    assert delivery_send(delivery_id=delivery.id) == "unconfirmed"


# --- Refusals --------------------------------------------------------------------------------


def test_403_duplicate_fails_and_asks_for_a_variation(fake_x, account, clock):
    first = make_delivery(account, "Same words again")
    assert delivery_send(delivery_id=first.id) == "sent"
    second = make_delivery(account, "Same words again")

    assert delivery_send(delivery_id=second.id) == "failed"

    second = reload(second)
    assert second.last_error == "X rejected a duplicate: add a variation to this post."
    slot = reload(second.timeslot)
    assert slot.status == Timeslot.Status.FAILED
    assert "add a variation" in slot.reason
    assert reload(account).status == SocialAccount.Status.ACTIVE


def test_other_403_and_400_fail_with_xs_message(fake_x, account, clock):
    fake_x.script(
        "POST",
        TWEETS,
        403,
        {"title": "Forbidden", "detail": "You are not permitted to perform this action."},
    )
    fake_x.script(
        "POST",
        TWEETS,
        400,
        {"errors": [{"message": "Invalid Request: text is malformed"}], "title": "Invalid"},
    )
    d1, d2 = make_delivery(account, "one"), make_delivery(account, "two")

    assert delivery_send(delivery_id=d1.id) == "failed"
    assert delivery_send(delivery_id=d2.id) == "failed"

    assert "You are not permitted to perform this action." in reload(d1).last_error
    assert "text is malformed" in reload(d2).last_error
    assert reload(account).status == SocialAccount.Status.ACTIVE


# --- Authentication --------------------------------------------------------------------------


def _reconnect_emails() -> list:
    for notice in Notice.objects.all():
        send_notice_email(notice.id)  # what the after-commit Celery task does
    return [m for m in mail.outbox if "needs reconnect" in m.subject.lower()]


def test_401_marks_the_account_and_emails_once_and_the_next_delivery_fails_fast(
    fake_x, account, clock
):
    credentials = account.credentials
    fake_x.revoke(credentials["access_token"])
    fake_x.revoke(credentials["refresh_token"])
    first = make_delivery(account, "first")

    assert delivery_send(delivery_id=first.id) == "failed"

    account = reload(account)
    assert account.status == SocialAccount.Status.NEEDS_RECONNECT
    assert "reconnect" in account.last_error.lower()
    # One refresh attempt, no retry of the post after the refresh failed.
    assert len(fake_x.calls_to("POST", TWEETS)) == 1
    assert len(fake_x.calls_to("POST", TOKEN)) == 1
    emails = _reconnect_emails()
    assert len(emails) == 1
    assert emails[0].to == ["owner@example.com"]

    calls_before = len(fake_x.calls)
    second = make_delivery(account, "second")
    assert delivery_send(delivery_id=second.id) == "failed"

    assert len(fake_x.calls) == calls_before  # failed fast: no HTTP call
    assert "needs reconnecting" in reload(second).last_error
    assert Notice.objects.filter(kind=Notice.Kind.ACCOUNT_RECONNECT).count() == 1
    assert len(_reconnect_emails()) == 1


def test_401_refreshes_once_and_retries_once(fake_x, account, clock):
    old = account.credentials
    fake_x.revoke(old["access_token"])  # revoked early, but the refresh token still works
    delivery = make_delivery(account)

    assert delivery_send(delivery_id=delivery.id) == "sent"

    tweet_calls = fake_x.calls_to("POST", TWEETS)
    assert len(tweet_calls) == 2
    assert tweet_calls[0].bearer == old["access_token"]
    new = reload(account).credentials
    assert tweet_calls[1].bearer == new["access_token"] != old["access_token"]
    assert reload(account).status == SocialAccount.Status.ACTIVE


def test_401_after_a_successful_refresh_is_an_auth_failure(fake_x, account, clock):
    fake_x.script("POST", TWEETS, 401, {"title": "Unauthorized"})
    fake_x.script("POST", TWEETS, 401, {"title": "Unauthorized"})
    delivery = make_delivery(account)

    assert delivery_send(delivery_id=delivery.id) == "failed"

    assert len(fake_x.calls_to("POST", TWEETS)) == 2
    assert len(fake_x.calls_to("POST", TOKEN)) == 1
    assert reload(account).status == SocialAccount.Status.NEEDS_RECONNECT


def test_an_expired_token_is_refreshed_before_publishing(fake_x, account, clock):
    old = account.credentials
    clock.move_to(T0 + dt.timedelta(hours=2, minutes=1))  # the 2 h access token has expired
    delivery = make_delivery(account)

    assert delivery_send(delivery_id=delivery.id) == "sent"

    assert [(c.method, c.path) for c in fake_x.calls] == [("POST", TOKEN), ("POST", TWEETS)]
    refresh, tweet = fake_x.calls
    assert refresh.form == {"grant_type": "refresh_token", "refresh_token": old["refresh_token"]}
    stored = reload(account).credentials
    assert tweet.bearer == stored["access_token"] != old["access_token"]
    assert stored["refresh_token"] != old["refresh_token"]
    assert stored["expires_at"] == int((T0 + dt.timedelta(hours=4, minutes=1)).timestamp())
    raw = raw_credentials(account.id)
    for secret in (stored["access_token"], stored["refresh_token"], old["access_token"]):
        assert secret not in raw
    assert not raw.startswith("{")


def test_a_token_expiring_within_two_minutes_is_refreshed_first(fake_x, account, clock):
    clock.move_to(T0 + dt.timedelta(hours=2) - dt.timedelta(seconds=90))
    delivery = make_delivery(account)

    assert delivery_send(delivery_id=delivery.id) == "sent"
    assert [c.path for c in fake_x.calls] == [TOKEN, TWEETS]


def test_a_token_valid_for_longer_is_not_refreshed(fake_x, account, clock):
    clock.move_to(T0 + dt.timedelta(hours=1))
    delivery = make_delivery(account)

    assert delivery_send(delivery_id=delivery.id) == "sent"
    assert [c.path for c in fake_x.calls] == [TWEETS]


# --- Two workers refreshing --------------------------------------------------------------------


def test_tokens_another_worker_already_refreshed_are_used_without_refreshing(
    fake_x, account, clock
):
    stale = SocialAccount.objects.get(id=account.id)  # what a second worker loaded earlier
    clock.move_to(T0 + dt.timedelta(hours=2, minutes=1))
    newer = oauth2_credentials(fake_x.issue_tokens("1001"), now=T0 + dt.timedelta(hours=2))
    SocialAccount.objects.filter(id=account.id).update(credentials=newer)

    delivery = make_delivery(stale)  # delivery.account is the stale object
    published = x_provider.provider.publish(delivery)

    assert published.external_id
    assert fake_x.calls_to("POST", TOKEN) == []
    assert fake_x.calls_to("POST", TWEETS)[0].bearer == newer["access_token"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_with_an_expired_token_spend_the_refresh_token_once(fake_x, account, clock):
    clock.move_to(T0 + dt.timedelta(hours=2, minutes=1))
    first, second = make_delivery(account, "one"), make_delivery(account, "two")
    # A slow token endpoint: without serialisation both workers would spend the single-use
    # refresh token, and the loser would wrongly mark the account for reconnecting.
    fake_x.on_refresh = lambda token: time.sleep(0.3)

    results = race(
        lambda: delivery_send(delivery_id=first.id), lambda: delivery_send(delivery_id=second.id)
    )

    assert results == ["sent", "sent"]
    assert len(fake_x.calls_to("POST", TOKEN)) == 1
    account = reload(account)
    assert account.status == SocialAccount.Status.ACTIVE
    bearers = {c.bearer for c in fake_x.calls_to("POST", TWEETS)}
    assert bearers == {account.credentials["access_token"]}
    assert account.credentials["refresh_token"] in fake_x.refresh_tokens


# --- check() ---------------------------------------------------------------------------------


def test_check_reads_users_me(fake_x, account):
    assert x_provider.provider.check(account) == ("Signed in to X as @queueloop (user id 1001).")
    [call] = fake_x.calls_to("GET", "/2/users/me")
    assert call.timeout == 7


def test_check_refuses_credentials_of_another_x_user(fake_x, account):
    fake_x.add_user("2002", "someoneelse")
    account.credentials = oauth2_credentials(fake_x.issue_tokens("2002"))
    with pytest.raises(Rejected, match="someoneelse"):
        x_provider.provider.check(account)


def test_the_session_applies_the_timeout_to_every_request(settings):
    settings.X_HTTP_TIMEOUT = 3
    seen = []

    class Recorder(requests.adapters.BaseAdapter):
        def send(self, request, timeout=None, **kwargs):
            seen.append(timeout)
            raise requests.ConnectTimeout("stop here")

        def close(self):
            pass

    session = x_provider.new_session()
    session.mount("https://", Recorder())
    with pytest.raises(requests.ConnectTimeout):
        session.get("https://example.invalid/anything")
    assert seen == [3]
