"""The results in the REST API: read-only, token auth, scoped to the member's workspaces
(another workspace's ids are 404), bad input a 400, a constant number of queries."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from results.models import Age, Snapshot
from tests.conftest import token_client
from tests.factories import MembershipFactory, PostFactory, SocialAccountFactory
from tests.results.helpers import sandbox_posts, sent_deliveries

pytestmark = pytest.mark.django_db


def _with_snapshots(account, *, post=None, n: int = 1):
    now = timezone.now()
    deliveries = sent_deliveries(account, sandbox_posts(account, n), sent_at=now, post=post)
    for i, delivery in enumerate(deliveries):
        Snapshot.objects.create(
            delivery=delivery, taken_at=now, age=Age.HOUR, likes=1 + i, reposts=1, replies=0
        )
        Snapshot.objects.create(
            delivery=delivery,
            taken_at=now + dt.timedelta(days=1),
            age=Age.DAY,
            likes=10 + i,
            reposts=2,
            replies=1,
            quotes=0,
            impressions=500,
        )
    return deliveries


@pytest.fixture
def mine(member):
    return SocialAccountFactory(workspace=member.workspace)


def test_a_delivery_s_snapshots_and_latest_counts(api, mine):
    [delivery] = _with_snapshots(mine)
    body = api.get(f"/api/v1/results/deliveries/{delivery.id}/").json()
    assert body["provider"] == "sandbox" and body["post"] == delivery.post_id
    assert [s["age"] for s in body["snapshots"]] == ["1h", "24h"]
    assert body["latest"]["likes"] == 10 and body["latest"]["impressions"] == 500
    assert body["url"] == "" or body["url"].startswith("http")


def test_a_post_s_results_sum_its_deliveries_latest_counts(api, mine, member):
    post = PostFactory(workspace=member.workspace)
    _with_snapshots(mine, post=post, n=2)
    body = api.get(f"/api/v1/results/posts/{post.id}/").json()
    assert len(body["deliveries"]) == 2
    assert body["totals"] == {
        "likes": 21,
        "reposts": 4,
        "replies": 2,
        "quotes": 0,
        "impressions": 1000,
    }


def test_a_post_without_results_yet(api, member):
    post = PostFactory(workspace=member.workspace)
    body = api.get(f"/api/v1/results/posts/{post.id}/").json()
    assert body["deliveries"] == [] and body["totals"]["likes"] == 0


def test_another_workspace_s_ids_are_404(api):
    stranger = MembershipFactory()
    theirs = SocialAccountFactory(workspace=stranger.workspace)
    [delivery] = _with_snapshots(theirs)
    assert api.get(f"/api/v1/results/deliveries/{delivery.id}/").status_code == 404
    assert api.get(f"/api/v1/results/posts/{delivery.post_id}/").status_code == 404
    listed = api.get(f"/api/v1/results/deliveries/?post={delivery.post_id}").json()
    assert listed["results"] == []
    # Their own member sees it.
    own = token_client(stranger.user).get(f"/api/v1/results/deliveries/{delivery.id}/")
    assert own.status_code == 200


def test_boundaries(api, mine, client):
    [delivery] = _with_snapshots(mine)
    url = f"/api/v1/results/deliveries/{delivery.id}/"
    assert client.get(url).status_code == 401  # no token
    assert api.post("/api/v1/results/deliveries/", {}).status_code == 405
    assert api.delete(url).status_code == 405
    assert api.get("/api/v1/results/deliveries/abc/").status_code == 404
    assert api.get("/api/v1/results/posts/99999999/").status_code == 404
    assert api.get("/api/v1/results/posts/abc/").status_code == 404
    bad = api.get("/api/v1/results/deliveries/?post=abc")
    assert bad.status_code == 400 and "post must be a number" in bad.content.decode()


def test_a_pending_delivery_is_not_listed(api, mine):
    [delivery] = _with_snapshots(mine)
    delivery.status = "pending"
    delivery.save(update_fields=["status"])
    assert api.get(f"/api/v1/results/deliveries/{delivery.id}/").status_code == 404


def _list_queries(api, account, n: int) -> int:
    _with_snapshots(account, n=n)
    with CaptureQueriesContext(connection) as queries:
        response = api.get("/api/v1/results/deliveries/")
    assert response.status_code == 200
    return len(queries)


def test_the_list_costs_the_same_queries_with_more_rows(api, mine, member):
    few = _list_queries(api, mine, 2)
    many = _list_queries(api, SocialAccountFactory(workspace=member.workspace), 20)
    assert few == many
