"""The metrics collector against the loopback fakes: ages, batching, rate limits, deleted
posts, and a constant number of queries whatever the batch holds."""

from __future__ import annotations

import datetime as dt

import pytest
import requests
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from networks import get_provider
from networks.contract import Counts, Deleted, ReportsMetrics
from networks.registry import NETWORKS
from networks.sandbox import sandbox_counts
from publishing.models import Delivery
from results.collector import metrics_collect
from results.models import Age, Snapshot, Tracking
from tests.factories import SocialAccountFactory
from tests.networks import fake_bluesky as bluesky_fakes
from tests.networks import fake_mastodon as mastodon_fakes
from tests.networks import fake_x as x_fakes
from tests.results.helpers import (
    bluesky_account,
    mastodon_account,
    sandbox_posts,
    sent_deliveries,
    x_account,
    x_tweets,
)

fake_x = x_fakes.fake_x
fake_mastodon = mastodon_fakes.fake_mastodon
fake_bluesky = bluesky_fakes.fake_bluesky
pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def snapshots_of(delivery) -> list[Snapshot]:
    return list(Snapshot.objects.filter(delivery=delivery).order_by("taken_at"))


def test_x_mastodon_bluesky_and_the_sandbox_report_metrics():
    # The networks added later: tests/results/test_collector_networks.py.
    reporting = {n for n in NETWORKS if isinstance(get_provider(n), ReportsMetrics)}
    assert reporting >= {"x", "mastodon", "bluesky", "sandbox"}
    assert "webhook" not in reporting


# --- X ------------------------------------------------------------------------------------


def test_x_reads_100_ids_a_call(fake_x, clock):
    account = x_account(fake_x, now=T0)
    ids = x_tweets(fake_x, 250, now=T0)
    fake_x.set_metrics(ids[0], like_count=7, retweet_count=2, reply_count=1, quote_count=3)
    fake_x.set_metrics(ids[0], impression_count=90)
    answer = get_provider("x").metrics(account, ids)
    calls = fake_x.calls_to("GET", "/2/tweets")
    assert len(calls) == 3
    assert answer[ids[0]] == Counts(likes=7, reposts=2, replies=1, quotes=3, impressions=90)
    assert len(answer) == 250


def test_x_delivery_collected_at_the_three_ages_then_done(fake_x, clock):
    account = x_account(fake_x, now=T0)
    [tweet] = x_tweets(fake_x, 1, now=T0)
    [delivery] = sent_deliveries(account, [tweet], sent_at=T0)
    metrics_collect(now=T0)
    assert snapshots_of(delivery) == []  # not an hour old yet
    for age, likes, hours in ((Age.HOUR, 3, 1), (Age.DAY, 10, 24), (Age.WEEK, 12, 24 * 7)):
        fake_x.set_metrics(tweet, like_count=likes)
        clock.move_to(T0 + dt.timedelta(hours=hours, minutes=1))
        outcome = metrics_collect(now=dt.datetime.now(dt.UTC))
        assert outcome.snapshots == 1
        assert snapshots_of(delivery)[-1].age == age
        assert snapshots_of(delivery)[-1].likes == likes
    assert [s.age for s in snapshots_of(delivery)] == [Age.HOUR, Age.DAY, Age.WEEK]
    tracking = Tracking.objects.get(delivery=delivery)
    assert tracking.state == Tracking.State.DONE and tracking.due_at is None
    calls = len(fake_x.calls_to("GET", "/2/tweets"))
    clock.move_to(T0 + dt.timedelta(days=30))
    metrics_collect(now=dt.datetime.now(dt.UTC))
    assert len(fake_x.calls_to("GET", "/2/tweets")) == calls


def test_a_collector_that_was_down_takes_the_age_reached_not_a_late_first_one(fake_x, clock):
    account = x_account(fake_x, now=T0)
    [tweet] = x_tweets(fake_x, 1, now=T0)
    [delivery] = sent_deliveries(account, [tweet], sent_at=T0)
    clock.move_to(T0 + dt.timedelta(hours=30))
    metrics_collect(now=dt.datetime.now(dt.UTC))
    assert [s.age for s in snapshots_of(delivery)] == [Age.DAY]
    assert Tracking.objects.get(delivery=delivery).next_age == Age.WEEK


def test_a_deleted_tweet_is_recorded_as_deleted_and_not_asked_again(fake_x, clock):
    account = x_account(fake_x, now=T0)
    kept, gone = x_tweets(fake_x, 2, now=T0)
    d_kept, d_gone = sent_deliveries(account, [kept, gone], sent_at=T0)
    fake_x.delete_tweet(gone)
    clock.move_to(T0 + HOUR)
    metrics_collect(now=T0 + HOUR)
    [snapshot] = snapshots_of(d_gone)
    assert snapshot.deleted and snapshot.likes is None
    assert Tracking.objects.get(delivery=d_gone).state == Tracking.State.DELETED
    assert not snapshots_of(d_kept)[0].deleted
    assert len(fake_x.calls_to("GET", "/2/tweets")) == 1  # both ids in one call


def test_a_rate_limited_account_waits_for_the_reset_and_others_are_collected(fake_x, clock):
    account = x_account(fake_x, now=T0)
    [tweet] = x_tweets(fake_x, 1, now=T0)
    [delivery] = sent_deliveries(account, [tweet], sent_at=T0)
    sandbox = SocialAccountFactory()
    [other] = sent_deliveries(sandbox, sandbox_posts(sandbox, 1), sent_at=T0)
    reset = T0 + HOUR + dt.timedelta(minutes=15)
    fake_x.script(
        "GET",
        "/2/tweets",
        429,
        {"title": "Too Many Requests", "detail": "Too Many Requests", "status": 429},
        {"x-rate-limit-reset": str(int(reset.timestamp())), "x-rate-limit-remaining": "0"},
    )
    clock.move_to(T0 + HOUR)
    outcome = metrics_collect(now=T0 + HOUR)
    assert outcome.rate_limited == 1 and outcome.snapshots == 1
    assert snapshots_of(delivery) == [] and len(snapshots_of(other)) == 1
    tracking = Tracking.objects.get(delivery=delivery)
    assert tracking.due_at == reset and "rate limit" in tracking.last_error
    # Not before the reset...
    clock.move_to(reset - dt.timedelta(minutes=1))
    metrics_collect(now=dt.datetime.now(dt.UTC))
    assert len(fake_x.calls_to("GET", "/2/tweets")) == 1
    # ...and at it.
    clock.move_to(reset)
    metrics_collect(now=reset)
    assert [s.age for s in snapshots_of(delivery)] == [Age.HOUR]


def test_a_failing_network_backs_off(fake_x, clock):
    account = x_account(fake_x, now=T0)
    [tweet] = x_tweets(fake_x, 1, now=T0)
    [delivery] = sent_deliveries(account, [tweet], sent_at=T0)
    fake_x.script_exception("GET", "/2/tweets", requests.ConnectionError("refused"))
    clock.move_to(T0 + HOUR)
    outcome = metrics_collect(now=T0 + HOUR)
    assert outcome.failed == 1 and outcome.failures_by_network == {"x": 1}
    tracking = Tracking.objects.get(delivery=delivery)
    assert tracking.failures == 1 and tracking.due_at == T0 + HOUR + dt.timedelta(minutes=10)
    assert tracking.next_age == Age.HOUR


# --- Mastodon, Bluesky, the sandbox ---------------------------------------------------------


def _mastodon_status(fake_mastodon, account, text: str) -> str:
    answer = requests.post(
        f"{fake_mastodon.url}/api/v1/statuses",
        data={"status": text},
        headers={"Authorization": f"Bearer {account.credentials['access_token']}"},
        timeout=5,
    )
    return answer.json()["id"]


def test_mastodon_counts_and_a_deleted_status(fake_mastodon, clock):
    account = mastodon_account(fake_mastodon)
    kept = _mastodon_status(fake_mastodon, account, "kept")
    gone = _mastodon_status(fake_mastodon, account, "gone")
    fake_mastodon.set_counts(kept, favourites_count=5, reblogs_count=2, replies_count=1)
    fake_mastodon.delete_status(gone)
    answer = get_provider("mastodon").metrics(account, [kept, gone])
    assert answer[kept] == Counts(likes=5, reposts=2, replies=1, quotes=None)
    assert isinstance(answer[gone], Deleted)


def _bluesky_posts(fake_bluesky, did: str, n: int) -> list[str]:
    uris = []
    for i in range(n):
        uri = f"at://{did}/app.bsky.feed.post/3lrkey{i:06d}"
        fake_bluesky.records[uri] = {
            "$type": "app.bsky.feed.post",
            "text": f"post {i}",
            "createdAt": T0.isoformat(),
        }
        uris.append(uri)
    return uris


def test_bluesky_reads_25_uris_a_call_and_a_missing_post_is_deleted(fake_bluesky, clock):
    account = bluesky_account(fake_bluesky)
    uris = _bluesky_posts(fake_bluesky, account.external_id, 30)
    fake_bluesky.set_counts(uris[0], likeCount=4, repostCount=3, replyCount=2, quoteCount=1)
    del fake_bluesky.records[uris[-1]]
    answer = get_provider("bluesky").metrics(account, uris)
    assert len(fake_bluesky.calls_to("GET", "/xrpc/app.bsky.feed.getPosts")) == 2
    assert answer[uris[0]] == Counts(likes=4, reposts=3, replies=2, quotes=1)
    assert isinstance(answer[uris[-1]], Deleted)
    assert sum(isinstance(a, Counts) for a in answer.values()) == 29


def test_sandbox_counts_are_deterministic_and_grow(clock):
    account = SocialAccountFactory()
    [external_id] = sandbox_posts(account, 1)
    row_id = int(external_id.removeprefix("sandbox-"))
    clock.move_to(T0 + HOUR)
    first = get_provider("sandbox").metrics(account, [external_id, "sandbox-999999"])
    assert first[external_id] == sandbox_counts(row_id, 1)
    assert isinstance(first["sandbox-999999"], Deleted)
    clock.move_to(T0 + dt.timedelta(days=7))
    later = get_provider("sandbox").metrics(account, [external_id])[external_id]
    assert later.likes > first[external_id].likes


def test_a_network_without_metrics_is_marked_unsupported_once(clock):
    hook = SocialAccountFactory(provider="webhook", credentials={"url": "http://127.0.0.1:9/"})
    [delivery] = sent_deliveries(hook, ["webhook-1"], sent_at=T0)
    metrics_collect(now=T0 + HOUR)
    tracking = Tracking.objects.get(delivery=delivery)
    assert tracking.state == Tracking.State.UNSUPPORTED and tracking.due_at is None


# --- Queries ---------------------------------------------------------------------------------


def _collect_queries(n: int) -> int:
    accounts = [SocialAccountFactory(), SocialAccountFactory()]
    for account in accounts:
        sent_deliveries(account, sandbox_posts(account, n), sent_at=T0)
    metrics_collect(now=T0)  # enrols them (none due yet)
    with CaptureQueriesContext(connection) as queries:
        outcome = metrics_collect(now=T0 + HOUR)
    assert outcome.snapshots == 2 * n
    Delivery.objects.all().delete()  # with their trackings and snapshots
    return len(queries)


def test_a_batch_costs_the_same_queries_whatever_it_holds(clock):
    assert _collect_queries(3) == _collect_queries(40)


def test_one_account_s_posts_beyond_the_per_run_cap_wait_for_the_next_run(clock, monkeypatch):
    from results import collector

    monkeypatch.setattr(collector, "PER_ACCOUNT", 5)
    account = SocialAccountFactory()
    sent_deliveries(account, sandbox_posts(account, 8), sent_at=T0)
    outcome = metrics_collect(now=T0 + HOUR)
    assert (outcome.snapshots, outcome.released) == (5, 3)
    assert Tracking.objects.filter(due_at=T0 + HOUR).count() == 3
    assert metrics_collect(now=T0 + HOUR).snapshots == 3
