"""The metrics of the networks added last — LinkedIn pages, Threads, Facebook Pages and
Instagram — collected by results/collector.py against their loopback fakes: counts into
snapshots, a deleted post recorded deleted, a rate limit that delays only its account, and
the calls a batch costs. Telegram, Discord and the webhook report nothing: their deliveries
are marked unsupported once."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import time_machine

from networks import get_provider
from networks.base import RateLimited
from networks.contract import Counts, Deleted, ReportsMetrics
from networks.registry import NETWORKS
from results.collector import metrics_collect
from results.models import Age, Snapshot, Tracking
from tests.factories import SocialAccountFactory
from tests.networks import fake_linkedin as linkedin_fakes
from tests.networks import fake_meta_graph as meta_fakes
from tests.networks import fake_threads as threads_fakes
from tests.networks.fake_http import Scripted
from tests.results.helpers import (
    facebook_account,
    facebook_posts,
    instagram_account,
    instagram_media,
    linkedin_page_account,
    linkedin_posts,
    sent_deliveries,
    threads_account,
    threads_posts,
)

fake_linkedin = linkedin_fakes.fake_linkedin
fake_threads = threads_fakes.fake_threads
fake_meta = meta_fakes.fake_meta
pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
# LinkedIn (no reset header), Meta and Threads (no time in the answer) wait 15 minutes.
RESET = T0 + HOUR + dt.timedelta(minutes=15)
META_GRAPH = f"/{meta_fakes.VERSION}"


def _meta_error(code: int, message: str, status: int = 400) -> Scripted:
    body = {"error": {"message": message, "type": "OAuthException", "code": code}}
    return Scripted(status, body)


def _linkedin_counts(fake, post: str) -> None:
    fake.set_reactions(post, LIKE=5, PRAISE=2)
    fake.comments.append({"object": post, "message": {"text": "Nice"}, "actor": "x"})


@dataclass(frozen=True)
class Net:
    name: str
    fixture: str
    account: Callable  # (fake, n) → an account, the n-th of its kind
    posts: Callable  # (fake, account, n) → external ids
    set_counts: Callable  # (fake, id): likes 7, replies 2 (1 on LinkedIn)...
    counts: Counts  # ...as the network reads them
    delete: Callable  # (fake, id)
    calls: Callable  # (fake) → the metrics requests made
    per_call: int
    calls_with_one_deleted: int
    rate_limit: Callable  # (fake, the account's first post): its next metrics call is limited


NETS = [
    Net(
        name="linkedin",
        fixture="fake_linkedin",
        account=lambda fake, n: linkedin_page_account(fake, f"Page {n}"),
        posts=linkedin_posts,
        set_counts=_linkedin_counts,
        counts=Counts(likes=7, reposts=None, replies=1),
        delete=lambda fake, post: fake.delete_post(post),
        calls=lambda fake: fake.calls_to("GET", "/rest/socialMetadata"),
        per_call=50,
        calls_with_one_deleted=1,
        rate_limit=lambda fake, post: fake.script(
            "GET",
            "/rest/socialMetadata",
            Scripted(
                429,
                {
                    "status": 429,
                    "code": "TOO_MANY_REQUESTS",
                    "message": "Resource level throttle limit for calls to this resource is "
                    "reached.",
                },
            ),
        ),
    ),
    Net(
        name="threads",
        fixture="fake_threads",
        account=lambda fake, n: threads_account(fake, f"queueloop{n}"),
        posts=threads_posts,
        set_counts=lambda fake, post: fake.set_insights(
            post, likes=7, replies=2, reposts=3, quotes=1, views=90
        ),
        counts=Counts(likes=7, reposts=3, replies=2, quotes=1, impressions=90),
        delete=lambda fake, post: fake.delete_post(post),
        calls=lambda fake: [c for c in fake.calls if c.path.endswith("/insights")],
        per_call=1,
        calls_with_one_deleted=2,
        rate_limit=lambda fake, post: fake.script(
            "GET",
            f"/v1.0/{post}/insights",
            _meta_error(613, "Calls to this api have exceeded the rate limit."),
        ),
    ),
    Net(
        name="facebook",
        fixture="fake_meta",
        account=lambda fake, n: facebook_account(fake, f"Page {n}"),
        posts=facebook_posts,
        set_counts=lambda fake, post: fake.set_counts(post, reactions=7, comments=2, shares=3),
        counts=Counts(likes=7, reposts=3, replies=2),
        delete=lambda fake, post: fake.delete(post),
        calls=lambda fake: fake.calls_to("GET", META_GRAPH),
        per_call=50,
        # The call naming the missing id, then the rest again.
        calls_with_one_deleted=2,
        rate_limit=lambda fake, post: fake.script(
            "GET", META_GRAPH, _meta_error(4, "(#4) Application request limit reached")
        ),
    ),
    Net(
        name="instagram",
        fixture="fake_meta",
        account=lambda fake, n: instagram_account(fake, f"queueloop{n}"),
        posts=instagram_media,
        set_counts=lambda fake, post: fake.set_counts(post, like_count=7, comments_count=2),
        counts=Counts(likes=7, reposts=None, replies=2),
        delete=lambda fake, post: fake.delete(post),
        calls=lambda fake: fake.calls_to("GET", META_GRAPH),
        per_call=50,
        calls_with_one_deleted=2,
        rate_limit=lambda fake, post: fake.script(
            "GET", META_GRAPH, _meta_error(32, "(#32) Page request limit reached")
        ),
    ),
]


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture(params=NETS, ids=lambda net: net.name)
def net(request):
    return request.param, request.getfixturevalue(request.param.fixture)


def snapshots_of(delivery) -> list[Snapshot]:
    return list(Snapshot.objects.filter(delivery=delivery).order_by("taken_at"))


def test_every_network_with_public_counts_reports_them_and_the_bots_do_not():
    reporting = {n for n in NETWORKS if isinstance(get_provider(n), ReportsMetrics)}
    assert reporting >= {"linkedin", "threads", "facebook", "instagram"}
    # Telegram's bots and Discord's webhooks are given no counts of their messages.
    assert not reporting & {"telegram", "discord", "webhook"}


def test_sent_deliveries_counts_become_snapshots_at_each_age(net, clock):
    spec, fake = net
    account = spec.account(fake, 1)
    [post] = spec.posts(fake, account, 1)
    spec.set_counts(fake, post)
    [delivery] = sent_deliveries(account, [post], sent_at=T0)
    for age, later in ((Age.HOUR, HOUR), (Age.DAY, dt.timedelta(days=1))):
        clock.move_to(T0 + later)
        outcome = metrics_collect(now=T0 + later)
        assert (outcome.snapshots, outcome.failed) == (1, 0)
        snapshot = snapshots_of(delivery)[-1]
        assert snapshot.age == age and not snapshot.deleted
        got = Counts(
            likes=snapshot.likes,
            reposts=snapshot.reposts,
            replies=snapshot.replies,
            quotes=snapshot.quotes,
            impressions=snapshot.impressions,
        )
        assert got == spec.counts
    assert Tracking.objects.get(delivery=delivery).next_age == Age.WEEK


def test_a_batch_costs_as_few_calls_as_the_api_allows(net, clock):
    spec, fake = net
    account = spec.account(fake, 1)
    posts = spec.posts(fake, account, 60)
    spec.set_counts(fake, posts[0])
    answer = get_provider(spec.name).metrics(account, posts)
    assert len(spec.calls(fake)) == math.ceil(60 / spec.per_call)
    assert answer[posts[0]] == spec.counts
    assert all(isinstance(answer[p], Counts) for p in posts)


def test_a_deleted_post_is_recorded_deleted_and_not_asked_again(net, clock):
    spec, fake = net
    account = spec.account(fake, 1)
    kept, gone = spec.posts(fake, account, 2)
    spec.set_counts(fake, kept)
    d_kept, d_gone = sent_deliveries(account, [kept, gone], sent_at=T0)
    spec.delete(fake, gone)
    outcome = metrics_collect(now=T0 + HOUR)
    assert (outcome.snapshots, outcome.deleted, outcome.failed) == (2, 1, 0)
    [snapshot] = snapshots_of(d_gone)
    assert snapshot.deleted and snapshot.likes is None
    assert Tracking.objects.get(delivery=d_gone).state == Tracking.State.DELETED
    assert snapshots_of(d_kept)[0].likes == spec.counts.likes
    assert len(spec.calls(fake)) == spec.calls_with_one_deleted
    # The next age asks for the kept post only.
    before = len(spec.calls(fake))
    clock.move_to(T0 + dt.timedelta(days=1))
    metrics_collect(now=T0 + dt.timedelta(days=1))
    assert len(spec.calls(fake)) == before + 1
    assert [s.age for s in snapshots_of(d_gone)] == [Age.HOUR]


def test_a_rate_limit_delays_only_that_account(net, clock):
    spec, fake = net
    limited, other = spec.account(fake, 1), spec.account(fake, 2)
    [first] = spec.posts(fake, limited, 1)
    [second] = spec.posts(fake, other, 1)
    [d_limited] = sent_deliveries(limited, [first], sent_at=T0)
    [d_other] = sent_deliveries(other, [second], sent_at=T0)
    spec.rate_limit(fake, first)
    clock.move_to(T0 + HOUR)
    outcome = metrics_collect(now=T0 + HOUR)
    assert (outcome.rate_limited, outcome.snapshots) == (1, 1)
    assert outcome.failures_by_network == {spec.name: 1}
    assert snapshots_of(d_limited) == [] and len(snapshots_of(d_other)) == 1
    tracking = Tracking.objects.get(delivery=d_limited)
    assert tracking.due_at == RESET and "rate limit" in tracking.last_error
    assert tracking.failures == 0  # a rate limit is not a failure of the post
    calls = len(spec.calls(fake))
    clock.move_to(RESET - dt.timedelta(minutes=1))
    metrics_collect(now=RESET - dt.timedelta(minutes=1))
    assert len(spec.calls(fake)) == calls  # not before the reset...
    clock.move_to(RESET)
    metrics_collect(now=RESET)
    assert [s.age for s in snapshots_of(d_limited)] == [Age.HOUR]  # ...and at it


@pytest.mark.parametrize(
    "answer",
    [
        _meta_error(4, "(#4) Application request limit reached"),
        _meta_error(17, "(#17) User request limit reached"),
        _meta_error(32, "(#32) Page request limit reached"),
        _meta_error(613, "(#613) Calls to this api have exceeded the rate limit."),
        _meta_error(0, "Too many calls", status=429),
    ],
    ids=["4", "17", "32", "613", "http-429"],
)
def test_every_meta_rate_limit_answer_is_a_rate_limit(fake_meta, clock, answer):
    account = facebook_account(fake_meta)
    posts = facebook_posts(fake_meta, account, 1)
    fake_meta.script("GET", META_GRAPH, answer)
    with pytest.raises(RateLimited):
        get_provider("facebook").metrics(account, posts)


def test_a_linkedin_member_without_r_member_social_is_told_why(fake_linkedin, clock):
    from networks.base import Rejected
    from networks.linkedin import tokens

    sub = fake_linkedin.add_member("Ada Lovelace")
    author = f"urn:li:person:{sub}"
    account = SocialAccountFactory(
        provider="linkedin",
        external_id=author,
        credentials=tokens.credentials_from_token(fake_linkedin.issue(sub)),
        options={"author": author, "kind": "member", "member": author},
    )
    posts = linkedin_posts(fake_linkedin, account, 1)
    with pytest.raises(Rejected, match="r_member_social"):
        get_provider("linkedin").metrics(account, posts)


def test_an_instagram_post_alone_that_is_gone_is_deleted(fake_meta, clock):
    account = instagram_account(fake_meta)
    [gone] = instagram_media(fake_meta, account, 1)
    fake_meta.delete(gone)
    answer = get_provider("instagram").metrics(account, [gone])
    assert isinstance(answer[gone], Deleted)


@pytest.mark.parametrize("provider", ["telegram", "discord", "webhook"])
def test_a_network_without_counts_is_marked_unsupported_once(provider, clock):
    account = SocialAccountFactory(provider=provider)
    [delivery] = sent_deliveries(account, [f"{provider}-1"], sent_at=T0)
    outcome = metrics_collect(now=T0 + HOUR)
    assert (outcome.snapshots, outcome.failed) == (0, 0)
    tracking = Tracking.objects.get(delivery=delivery)
    assert tracking.state == Tracking.State.UNSUPPORTED and tracking.due_at is None
    assert metrics_collect(now=T0 + dt.timedelta(days=8)).claimed == 0


@pytest.mark.parametrize("network", ["facebook", "instagram"])
def test_a_meta_token_that_may_no_longer_read_is_not_taken_for_deleted_posts(
    network, fake_meta, clock
):
    """Meta says of a post the token may no longer read that it "does not exist, cannot be
    loaded due to missing permissions". The posts are not marked deleted: the account's own
    post list, refused with Meta's reason, is what the owner is told; once access is given
    back, the counts are read."""
    if network == "facebook":
        account = facebook_account(fake_meta)
        posts = facebook_posts(fake_meta, account, 2)
        page_id = account.options["page_id"]
        permission = "pages_read_engagement"
    else:
        account = instagram_account(fake_meta)
        posts = instagram_media(fake_meta, account, 2)
        page_id = account.options["page_id"]
        permission = "does not have permission"
    deliveries = sent_deliveries(account, posts, sent_at=T0)
    fake_meta.reads_revoked.add(page_id)

    outcome = metrics_collect(now=T0 + HOUR)

    assert (outcome.deleted, outcome.snapshots, outcome.failed) == (0, 0, 2)
    for delivery in deliveries:
        tracking = Tracking.objects.get(delivery=delivery)
        assert tracking.state != Tracking.State.DELETED
        assert permission in tracking.last_error and tracking.due_at > T0 + HOUR
    fake_meta.reads_revoked.clear()
    later = Tracking.objects.get(delivery=deliveries[0]).due_at
    clock.move_to(later)
    outcome = metrics_collect(now=later)
    assert (outcome.deleted, outcome.snapshots) == (0, 2)


def test_a_meta_post_gone_while_the_token_reads_the_rest_costs_one_check(fake_meta, clock):
    account = facebook_account(fake_meta)
    [gone] = facebook_posts(fake_meta, account, 1)
    fake_meta.delete(gone)

    answer = get_provider("facebook").metrics(account, [gone])

    assert isinstance(answer[gone], Deleted)
    page_id = account.options["page_id"]
    assert len(fake_meta.calls_to("GET", f"{META_GRAPH}/{page_id}/posts")) == 1
