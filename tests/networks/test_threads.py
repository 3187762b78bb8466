"""Threads at each network's HTTP boundary: the parts go out in order, each a reply to the
one before; every part's id is recorded on the delivery as it goes, so a failure at part 2
is retried from part 2 (nothing posted twice) or, when part 2 is refused for good, the
delivery ends `partial` listing what went out."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from accounts.models import SocialAccount
from networks.bluesky import adapter as bluesky_provider
from publishing.models import Delivery
from publishing.services import delivery_send
from scheduling.models import Timeslot
from tests.factories import ChannelFactory, PostFactory, SocialAccountFactory, XAccountFactory
from tests.networks import fake_bluesky as bluesky_fakes
from tests.networks import fake_mastodon as mastodon_fakes
from tests.networks import fake_x as x_fakes
from tests.networks.fake_http import Scripted
from tests.networks.test_x import oauth2_credentials

fake_x = x_fakes.fake_x
fake_mastodon = mastodon_fakes.fake_mastodon
fake_bluesky = bluesky_fakes.fake_bluesky
pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 2, 14, 0, tzinfo=dt.UTC)
PARTS = ["One: the start of a thread", "Two: the middle", "Three: the end"]
STATUSES = "/api/v1/statuses"
CREATE = "/xrpc/com.atproto.repo.createRecord"
APP_PASSWORD = "abcd-efgh-ijkl-mnop"


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def make_thread(account: SocialAccount, parts: list[str] = PARTS) -> Delivery:
    channel = ChannelFactory(workspace=account.workspace, with_sandbox=False)
    channel.accounts.add(account)
    post = PostFactory(workspace=account.workspace, text=parts[0], thread_parts=parts[1:])
    slot = Timeslot.objects.create(
        channel=channel, post=post, publish_at=dt.datetime.now(dt.UTC), status="publishing"
    )
    return Delivery.objects.create(
        timeslot=slot, account=account, post=post, text=parts[0], thread_parts=parts[1:]
    )


def retry_later(clock, delivery: Delivery) -> str:
    clock.shift(dt.timedelta(minutes=5))
    return delivery_send(delivery_id=delivery.id)


def reload(delivery: Delivery) -> Delivery:
    delivery.refresh_from_db()
    return delivery


# --- X -----------------------------------------------------------------------------------


@pytest.fixture
def x_account(fake_x, clock):
    fake_x.add_user("1001", "queueloop")
    return XAccountFactory(
        handle="queueloop",
        external_id="1001",
        credentials=oauth2_credentials(fake_x.issue_tokens("1001")),
    )


def test_x_thread_goes_out_as_replies_in_order(fake_x, x_account):
    delivery = make_thread(x_account)

    assert delivery_send(delivery_id=delivery.id) == "sent"

    tweets = fake_x.tweets("1001")
    assert [t["text"] for t in tweets] == PARTS
    assert [t["in_reply_to"] for t in tweets] == [None, tweets[0]["id"], tweets[1]["id"]]
    calls = fake_x.calls_to("POST", "/2/tweets")
    assert calls[1].json["reply"] == {"in_reply_to_tweet_id": tweets[0]["id"]}
    delivery = reload(delivery)
    assert [p["id"] for p in delivery.thread_sent] == [t["id"] for t in tweets]
    assert delivery.external_id == tweets[0]["id"]


def test_x_failure_at_part_2_is_retried_from_part_2(fake_x, x_account, clock):
    delivery = make_thread(x_account)
    fake_x.script("POST", "/2/tweets", 503, {"title": "Service Unavailable"}, passes=1)

    assert delivery_send(delivery_id=delivery.id) == "pending"
    delivery = reload(delivery)
    assert "Part 1 of 3 went out" in delivery.last_error
    assert len(delivery.thread_sent) == 1

    assert retry_later(clock, delivery) == "sent"

    tweets = fake_x.tweets("1001")
    assert [t["text"] for t in tweets] == PARTS  # part 1 once, then 2 and 3
    assert [c.json["text"] for c in fake_x.calls_to("POST", "/2/tweets")] == [
        PARTS[0],
        PARTS[1],
        PARTS[1],
        PARTS[2],
    ]
    assert tweets[1]["in_reply_to"] == tweets[0]["id"]


def test_x_part_2_refused_ends_partial_with_what_went_out(fake_x, x_account):
    delivery = make_thread(x_account)
    fake_x.script("POST", "/2/tweets", 400, {"title": "Invalid Request"}, passes=1)

    assert delivery_send(delivery_id=delivery.id) == "partial"

    delivery = reload(delivery)
    [tweet] = fake_x.tweets("1001")
    assert delivery.status == Delivery.Status.PARTIAL
    assert f"https://x.com/queueloop/status/{tweet['id']}" in delivery.last_error
    assert "Part 2" in delivery.last_error
    assert delivery.url == f"https://x.com/queueloop/status/{tweet['id']}"
    assert Timeslot.objects.get(id=delivery.timeslot_id).status == Timeslot.Status.PARTIAL


def test_a_part_over_xs_limit_sends_nothing(fake_x, x_account):
    delivery = make_thread(x_account, ["Fine", "x" * 281])

    assert delivery_send(delivery_id=delivery.id) == "failed"

    assert "Part 2: X counts this text as 281" in reload(delivery).last_error
    assert fake_x.calls_to("POST", "/2/tweets") == []


# --- Mastodon --------------------------------------------------------------------------


@pytest.fixture
def mastodon_account(fake_mastodon, clock):
    account_id, token = fake_mastodon.add_account("alice")
    return SocialAccountFactory(
        provider=SocialAccount.Provider.MASTODON,
        handle="alice@fake.social",
        external_id=f"{account_id}@fake.social",
        credentials={"access_token": token},
        options={"instance": fake_mastodon.url, "max_characters": 500},
    )


def test_mastodon_thread_goes_out_as_replies_with_a_key_per_part(fake_mastodon, mastodon_account):
    delivery = make_thread(mastodon_account)

    assert delivery_send(delivery_id=delivery.id) == "sent"

    statuses = fake_mastodon.statuses
    assert [s["text"] for s in statuses] == PARTS
    assert [s["in_reply_to_id"] for s in statuses] == [None, statuses[0]["id"], statuses[1]["id"]]
    assert [s["idempotency_key"] for s in statuses] == [
        f"queueloop-delivery-{delivery.id}",
        f"queueloop-delivery-{delivery.id}-part-2",
        f"queueloop-delivery-{delivery.id}-part-3",
    ]
    assert [p["id"] for p in reload(delivery).thread_sent] == [s["id"] for s in statuses]


def test_mastodon_failure_at_part_2_is_retried_from_part_2(fake_mastodon, mastodon_account, clock):
    delivery = make_thread(mastodon_account)
    fake_mastodon.script("POST", STATUSES, Scripted(503, {"error": "busy"}, passes=1))

    assert delivery_send(delivery_id=delivery.id) == "pending"
    assert retry_later(clock, delivery) == "sent"

    assert [s["text"] for s in fake_mastodon.statuses] == PARTS
    sent_texts = [c.field("status") for c in fake_mastodon.calls_to("POST", STATUSES)]
    assert sent_texts == [PARTS[0], PARTS[1], PARTS[1], PARTS[2]]


def test_mastodon_part_2_refused_ends_partial(fake_mastodon, mastodon_account):
    delivery = make_thread(mastodon_account)
    fake_mastodon.script("POST", STATUSES, Scripted(422, {"error": "Validation failed"}, passes=1))

    assert delivery_send(delivery_id=delivery.id) == "partial"

    [status] = fake_mastodon.statuses
    delivery = reload(delivery)
    assert status["url"] in delivery.last_error and "Validation failed" in delivery.last_error
    assert [p["id"] for p in delivery.thread_sent] == [status["id"]]


# --- Bluesky ---------------------------------------------------------------------------


@pytest.fixture
def bluesky_account(fake_bluesky, clock):
    did = fake_bluesky.add_account("alice.test", APP_PASSWORD)
    _, info = bluesky_provider.sign_in(fake_bluesky.url, "alice.test", APP_PASSWORD)
    return SocialAccountFactory(
        provider=SocialAccount.Provider.BLUESKY,
        handle="alice.test",
        external_id=did,
        credentials={"app_password": APP_PASSWORD, "session": info["session"]},
        options={"service": fake_bluesky.url},
    )


def test_bluesky_thread_goes_out_with_root_and_parent_refs(fake_bluesky, bluesky_account):
    delivery = make_thread(bluesky_account)

    assert delivery_send(delivery_id=delivery.id) == "sent"

    records = sorted(fake_bluesky.posts_of(bluesky_account.external_id), key=lambda r: r["uri"])
    assert [r["text"] for r in records] == PARTS  # record keys sort in thread order
    root = records[0]["uri"]
    assert "reply" not in records[0]
    assert records[1]["reply"]["root"]["uri"] == root
    assert records[1]["reply"]["parent"]["uri"] == root
    assert records[2]["reply"]["root"]["uri"] == root
    assert records[2]["reply"]["parent"]["uri"] == records[1]["uri"]
    assert [p["uri"] for p in reload(delivery).thread_sent] == [r["uri"] for r in records]


def test_bluesky_failure_at_part_2_is_retried_from_part_2(fake_bluesky, bluesky_account, clock):
    delivery = make_thread(bluesky_account)
    fake_bluesky.script(
        "POST", CREATE, Scripted(502, {"error": "BadGateway", "message": "down"}, passes=1)
    )

    assert delivery_send(delivery_id=delivery.id) == "pending"
    assert retry_later(clock, delivery) == "sent"

    records = fake_bluesky.posts_of(bluesky_account.external_id)
    assert sorted(r["text"] for r in records) == sorted(PARTS)
    texts = [c.json["record"]["text"] for c in fake_bluesky.calls_to("POST", CREATE)]
    assert texts == [PARTS[0], PARTS[1], PARTS[1], PARTS[2]]


def test_bluesky_part_2_refused_ends_partial(fake_bluesky, bluesky_account):
    delivery = make_thread(bluesky_account)
    fake_bluesky.script(
        "POST",
        CREATE,
        Scripted(400, {"error": "InvalidRequest", "message": "Nope"}, passes=1),
    )

    assert delivery_send(delivery_id=delivery.id) == "partial"

    [record] = fake_bluesky.posts_of(bluesky_account.external_id)
    delivery = reload(delivery)
    assert "Part 1 of 3 went out" in delivery.last_error and "Nope" in delivery.last_error
    assert delivery.thread_sent[0]["uri"] == record["uri"]


def test_a_thread_that_runs_out_of_time_after_part_1_ends_partial(fake_x, x_account, clock):
    delivery = make_thread(x_account)
    fake_x.script("POST", "/2/tweets", 503, {"title": "Service Unavailable"}, passes=1)
    assert delivery_send(delivery_id=delivery.id) == "pending"
    fake_x.script("POST", "/2/tweets", 503, {"title": "Service Unavailable"})
    clock.shift(dt.timedelta(minutes=29, seconds=58))  # the retry's backoff ends past MISSED_AFTER

    assert delivery_send(delivery_id=delivery.id) == "partial"

    delivery = reload(delivery)
    assert "Part 1 of 3 went out" in delivery.last_error and "too late" in delivery.last_error
    assert len(fake_x.tweets("1001")) == 1
    assert Timeslot.objects.get(id=delivery.timeslot_id).status == Timeslot.Status.PARTIAL


def test_mastodon_part_2_made_but_its_answer_lost_is_not_posted_twice(
    fake_mastodon, mastodon_account, clock
):
    delivery = make_thread(mastodon_account)
    # The instance makes part 2, then its answer is a 503: the part's own key finds it.
    fake_mastodon.script("POST", STATUSES, Scripted(503, {"error": "busy"}, after=True, passes=1))

    assert delivery_send(delivery_id=delivery.id) == "pending"
    assert retry_later(clock, delivery) == "sent"

    statuses = fake_mastodon.statuses
    assert [s["text"] for s in statuses] == PARTS  # part 2 once
    assert statuses[2]["in_reply_to_id"] == statuses[1]["id"]
    assert [p["id"] for p in reload(delivery).thread_sent] == [s["id"] for s in statuses]


def test_bluesky_part_2_written_but_its_answer_lost_is_read_back_not_rewritten(
    fake_bluesky, bluesky_account
):
    delivery = make_thread(bluesky_account)
    fake_bluesky.script(
        "POST", CREATE, Scripted(502, {"error": "BadGateway"}, after=True, passes=1)
    )

    assert delivery_send(delivery_id=delivery.id) == "sent"

    records = sorted(fake_bluesky.posts_of(bluesky_account.external_id), key=lambda r: r["uri"])
    assert [r["text"] for r in records] == PARTS
    assert records[2]["reply"]["parent"]["uri"] == records[1]["uri"]


def test_the_api_shows_a_deliverys_thread_parts_and_what_went_out(fake_x, x_account):
    from tests.api.test_endpoints import API, client_for
    from tests.factories import MembershipFactory

    delivery = make_thread(x_account)
    assert delivery_send(delivery_id=delivery.id) == "sent"
    api = client_for(MembershipFactory(workspace=x_account.workspace).user)

    data = api.get(f"{API}/deliveries/{delivery.id}/").json()

    tweets = fake_x.tweets("1001")
    assert data["thread_parts"] == PARTS[1:]
    assert [p["id"] for p in data["thread_sent"]] == [t["id"] for t in tweets]
    assert data["thread_sent"][0]["url"] == f"https://x.com/queueloop/status/{tweets[0]['id']}"
