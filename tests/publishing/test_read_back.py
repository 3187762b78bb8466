"""Read-back resolves `unconfirmed` deliveries (publishing/read_back.py), against the fake X
(not idempotent: the network where a lost answer ends unconfirmed) and the sandbox.

Found → `sent` with its URL and no second post; proven absent → sent again exactly once;
undecidable → stays unconfirmed with the reason; a thread resumes after the part found."""

from __future__ import annotations

import datetime as dt

import pytest
import requests
import time_machine

from accounts.models import SocialAccount
from publishing import read_back
from publishing.models import Delivery
from publishing.problems import problem_deliveries
from publishing.services import delivery_send
from scheduling.models import Timeslot
from tests.factories import ChannelFactory, PostFactory, XAccountFactory
from tests.networks import fake_x as fakes

fake_x = fakes.fake_x
pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.UTC)
TWEETS = "/2/tweets"
TIMELINE = "/2/users/1001/tweets"
LATER = T0 + dt.timedelta(minutes=3)  # past READ_BACK_FIRST_AFTER (2 minutes)


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def account(fake_x, clock):
    fake_x.add_user("1001", "queueloop")
    tokens = fake_x.issue_tokens("1001", expires_in=7 * 86400)
    return XAccountFactory(
        handle="queueloop",
        external_id="1001",
        credentials={
            "auth": "oauth2",
            "access_token": tokens["access_token"],
            "refresh_token": tokens["refresh_token"],
            "expires_at": int(T0.timestamp()) + tokens["expires_in"],
            "user_id": "1001",
        },
    )


def make_delivery(account: SocialAccount, parts: list[str]) -> Delivery:
    channel = ChannelFactory(workspace=account.workspace, with_sandbox=False)
    channel.accounts.add(account)
    post = PostFactory(workspace=account.workspace, text=parts[0], thread_parts=parts[1:])
    slot = Timeslot.objects.create(
        channel=channel, post=post, publish_at=T0, status=Timeslot.Status.PUBLISHING
    )
    return Delivery.objects.create(
        timeslot=slot, account=account, post=post, text=parts[0], thread_parts=parts[1:]
    )


def reload(obj):
    obj.refresh_from_db()
    return obj


def run_read_back(clock, at: dt.datetime, capture) -> read_back.ReadBackResult:
    """What the beat's task does at `at`; the dispatches it asks for are captured (the test
    then sends what the dispatched message would: delivery_send)."""
    clock.move_to(at)
    with capture() as callbacks:
        result = read_back.deliveries_read_back(now=at)
    run_read_back.dispatched = len(callbacks)
    return result


def test_answer_lost_after_the_post_was_made_becomes_sent_with_its_url(
    fake_x, account, clock, django_capture_on_commit_callbacks
):
    delivery = make_delivery(account, ["Hello from Queue Loop"])
    fake_x.hang_on("POST", TWEETS)  # X makes the tweet, the answer never comes
    assert delivery_send(delivery_id=delivery.id) == "unconfirmed"
    assert reload(delivery.timeslot).status == Timeslot.Status.FAILED
    fake_x.hanging.clear()

    # Not yet: a listing may lag the post.
    early = run_read_back(clock, T0 + dt.timedelta(minutes=1), django_capture_on_commit_callbacks)
    assert early.checked == 0 and fake_x.calls_to("GET", TIMELINE) == []

    result = run_read_back(clock, LATER, django_capture_on_commit_callbacks)

    assert result.found == 1 and run_read_back.dispatched == 0
    [tweet] = fake_x.tweets("1001")
    delivery = reload(delivery)
    assert delivery.status == Delivery.Status.SENT
    assert delivery.external_id == tweet["id"]
    assert delivery.url == f"https://x.com/queueloop/status/{tweet['id']}"
    assert delivery.last_error == ""
    assert reload(delivery.timeslot).status == Timeslot.Status.PUBLISHED
    # Never a second post, however often it runs.
    again = run_read_back(clock, LATER + dt.timedelta(hours=1), django_capture_on_commit_callbacks)
    assert again.checked == 0
    assert len(fake_x.calls_to("POST", TWEETS)) == 1


def test_answer_lost_before_the_post_was_made_is_sent_exactly_once(
    fake_x, account, clock, django_capture_on_commit_callbacks
):
    delivery = make_delivery(account, ["Only once, please"])
    # The connection broke mid-request and X never made the tweet.
    fake_x.script_exception("POST", TWEETS, requests.ConnectionError("reset by peer"))
    assert delivery_send(delivery_id=delivery.id) == "unconfirmed"
    assert fake_x.tweets("1001") == []

    result = run_read_back(clock, LATER, django_capture_on_commit_callbacks)

    assert result.resent == 1 and run_read_back.dispatched == 1
    delivery = reload(delivery)
    assert delivery.status == Delivery.Status.PENDING
    assert "sending it again, once" in delivery.last_error
    assert reload(delivery.timeslot).status == Timeslot.Status.PUBLISHING
    assert delivery_send(delivery_id=delivery.id) == "sent"  # the dispatched message
    [tweet] = fake_x.tweets("1001")
    assert reload(delivery).url.endswith(tweet["id"])
    assert reload(delivery.timeslot).status == Timeslot.Status.PUBLISHED


def test_a_second_read_back_never_sends_a_second_time(
    fake_x, account, clock, django_capture_on_commit_callbacks
):
    delivery = make_delivery(account, ["Lost twice"])
    fake_x.script_exception("POST", TWEETS, requests.ConnectionError("reset by peer"))
    assert delivery_send(delivery_id=delivery.id) == "unconfirmed"
    run_read_back(clock, LATER, django_capture_on_commit_callbacks)
    # The one resend loses its answer too, before X made anything.
    fake_x.script_exception("POST", TWEETS, requests.ConnectionError("reset again"))
    assert delivery_send(delivery_id=delivery.id) == "unconfirmed"

    result = run_read_back(
        clock, LATER + dt.timedelta(minutes=3), django_capture_on_commit_callbacks
    )

    assert result.absent == 1 and run_read_back.dispatched == 0
    delivery = reload(delivery)
    # Proven not posted, and not sent a third time: failed, with why.
    assert delivery.status == Delivery.Status.FAILED
    assert "already sent again once" in delivery.last_error
    assert reload(delivery.timeslot).status == Timeslot.Status.FAILED
    assert len(fake_x.calls_to("POST", TWEETS)) == 2
    assert fake_x.tweets("1001") == []


def test_listing_unavailable_stays_unconfirmed_with_the_reason(
    fake_x, account, clock, django_capture_on_commit_callbacks
):
    delivery = make_delivery(account, ["Who knows"])
    fake_x.hang_on("POST", TWEETS)
    assert delivery_send(delivery_id=delivery.id) == "unconfirmed"
    fake_x.hanging.clear()
    fake_x.script("GET", TIMELINE, 503, {"title": "Service Unavailable"})

    result = run_read_back(clock, LATER, django_capture_on_commit_callbacks)

    assert result.undecidable == 1
    delivery = reload(delivery)
    assert delivery.status == Delivery.Status.UNCONFIRMED
    assert delivery.last_error.startswith("X did not answer within")  # the original reason
    assert "Read back (1): X's timeline could not be read: X answered 503" in delivery.last_error
    assert "looking again at 2026-12-02 10:07 UTC" in delivery.last_error
    # Shown where unconfirmed deliveries are shown.
    [shown] = problem_deliveries(workspace=account.workspace, now=LATER)
    assert "X's timeline could not be read" in shown.last_error
    # Backoff: not before the time it named; then it looks again, and finds the post.
    assert (
        run_read_back(
            clock, LATER + dt.timedelta(minutes=3), django_capture_on_commit_callbacks
        ).checked
        == 0
    )
    later = run_read_back(
        clock, LATER + dt.timedelta(minutes=4), django_capture_on_commit_callbacks
    )
    assert later.found == 1
    delivery = reload(delivery)
    assert delivery.status == Delivery.Status.SENT and delivery.last_error == ""
    assert len(fake_x.tweets("1001")) == 1


def test_undecidable_until_the_horizon_then_left_to_a_person(
    fake_x, account, clock, django_capture_on_commit_callbacks, settings
):
    settings.READ_BACK_HORIZON = dt.timedelta(minutes=10)
    delivery = make_delivery(account, ["Who knows"])
    fake_x.hang_on("POST", TWEETS)
    assert delivery_send(delivery_id=delivery.id) == "unconfirmed"
    for _ in range(2):
        fake_x.script("GET", TIMELINE, 503, {"title": "Service Unavailable"})

    run_read_back(clock, LATER, django_capture_on_commit_callbacks)
    run_read_back(clock, LATER + dt.timedelta(minutes=4), django_capture_on_commit_callbacks)

    assert "read-back gave up: check the account" in reload(delivery).last_error
    assert (
        run_read_back(clock, T0 + dt.timedelta(hours=1), django_capture_on_commit_callbacks).checked
        == 0
    )
    assert reload(delivery).status == Delivery.Status.UNCONFIRMED


def test_proven_absent_too_late_to_post_is_failed(
    fake_x, account, clock, django_capture_on_commit_callbacks, settings
):
    delivery = make_delivery(account, ["Too late now"])
    fake_x.script_exception("POST", TWEETS, requests.ConnectionError("reset by peer"))
    assert delivery_send(delivery_id=delivery.id) == "unconfirmed"

    late = T0 + settings.MISSED_AFTER + dt.timedelta(minutes=1)
    result = run_read_back(clock, late, django_capture_on_commit_callbacks)

    assert result.absent == 1 and run_read_back.dispatched == 0
    delivery = reload(delivery)
    assert delivery.status == Delivery.Status.FAILED
    assert "too late to post it now" in delivery.last_error
    assert fake_x.tweets("1001") == []


def test_a_thread_whose_answer_was_lost_mid_way_resumes_after_the_part_found(
    fake_x, account, clock, django_capture_on_commit_callbacks
):
    delivery = make_delivery(account, ["Part one", "Part two", "Part three"])
    # Part 1 answered; part 2 made by X but its answer lost.
    fake_x.hang_on("POST", TWEETS, passes=1)
    assert delivery_send(delivery_id=delivery.id) == "unconfirmed"
    fake_x.hanging.clear()
    first, second = fake_x.tweets("1001")
    assert len(reload(delivery).thread_sent) == 1

    result = run_read_back(clock, LATER, django_capture_on_commit_callbacks)

    assert result.resumed == 1 and run_read_back.dispatched == 1
    delivery = reload(delivery)
    assert delivery.status == Delivery.Status.PENDING
    assert [p["id"] for p in delivery.thread_sent] == [first["id"], second["id"]]
    assert delivery_send(delivery_id=delivery.id) == "sent"  # the dispatched message
    tweets = fake_x.tweets("1001")
    assert [t["text"] for t in tweets] == ["Part one", "Part two", "Part three"]
    assert tweets[2]["in_reply_to"] == second["id"]
    delivery = reload(delivery)
    assert delivery.external_id == first["id"] and len(delivery.thread_sent) == 3
    assert reload(delivery.timeslot).status == Timeslot.Status.PUBLISHED


def test_networks_that_cannot_read_back_are_left_alone(receivers, clock):
    from tests.factories import SocialAccountFactory

    account = SocialAccountFactory(
        provider=SocialAccount.Provider.WEBHOOK,
        credentials={"url": receivers[0].url, "secret": "s" * 32},
    )
    delivery = make_delivery(account, ["Webhooks are idempotent"])
    Delivery.objects.filter(id=delivery.id).update(status=Delivery.Status.UNCONFIRMED)

    assert read_back.due(now=LATER) == []


def test_the_beat_task_reads_back_and_reports_what_it_did(clock):
    from publishing.tasks import read_back_unconfirmed
    from tests.factories import SocialAccountFactory

    account = SocialAccountFactory(provider=SocialAccount.Provider.SANDBOX)
    posted = make_delivery(account, ["On the timeline"])
    assert delivery_send(delivery_id=posted.id) == "sent"
    never = make_delivery(account, ["Never begun"])
    # As a worker killed mid-call leaves them (the sandbox itself never does).
    Delivery.objects.filter(id__in=[posted.id, never.id]).update(
        status=Delivery.Status.UNCONFIRMED, url="", external_id="", sending_started_at=T0
    )
    clock.move_to(LATER)

    assert read_back_unconfirmed() == {
        "checked": 2,
        "found": 1,
        "resumed": 0,
        "resent": 1,
        "absent": 0,
        "undecidable": 0,
    }
    posted = reload(posted)
    assert posted.status == Delivery.Status.SENT and posted.url.endswith(
        f"#post-{posted.sandbox_post.id}"
    )
    assert reload(never).status == Delivery.Status.PENDING


def test_deliveries_past_the_horizon_are_left_to_a_person(fake_x, account, clock, settings):
    delivery = make_delivery(account, ["Long ago"])
    fake_x.hang_on("POST", TWEETS)
    assert delivery_send(delivery_id=delivery.id) == "unconfirmed"

    assert read_back.due(now=T0 + settings.READ_BACK_HORIZON + dt.timedelta(minutes=1)) == []
    assert [d.id for d in read_back.due(now=LATER)] == [delivery.id]
