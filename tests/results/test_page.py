"""A post's results page: its deliveries' latest counts, a server-drawn SVG chart with its
data table, the workspace's own posts only, and a constant number of queries."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from results.charts import nice_top
from results.models import Age, Snapshot
from tests.factories import MembershipFactory, PostFactory, SocialAccountFactory
from tests.results.helpers import sandbox_posts, sent_deliveries

pytestmark = pytest.mark.django_db


def _post_with_results(workspace, n: int, *, deleted: int = 0):
    post = PostFactory(workspace=workspace, text="An evergreen post")
    account = SocialAccountFactory(workspace=workspace)
    now = timezone.now()
    deliveries = sent_deliveries(account, sandbox_posts(account, n), sent_at=now, post=post)
    snapshots = []
    for i, delivery in enumerate(deliveries):
        gone = i < deleted
        snapshots += [
            Snapshot(delivery=delivery, taken_at=now, age=Age.HOUR, likes=2, reposts=1, replies=0),
            Snapshot(
                delivery=delivery,
                taken_at=now + dt.timedelta(days=1),
                age=Age.DAY,
                deleted=gone,
                likes=None if gone else 5,
                reposts=None if gone else 2,
                replies=None if gone else 1,
                quotes=None if gone else 0,
            ),
        ]
    Snapshot.objects.bulk_create(snapshots)
    return post


def test_the_page_shows_the_chart_its_table_and_each_delivery(web, member):
    post = _post_with_results(member.workspace, 3, deleted=1)
    response = web.get(f"/posts/{post.id}/results/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<svg viewBox="0 0 320 180"' in html and 'role="img"' in html
    assert "<polyline" in html
    # The data table: the sums per age (the deleted post adds nothing at +24h).
    table = response.context["chart"].rows
    assert table == [
        {"age": Age.HOUR, "likes": 6, "reposts": 3, "replies": 0, "quotes": 0},
        {"age": Age.DAY, "likes": 10, "reposts": 4, "replies": 2, "quotes": 0},
    ]
    assert "Deleted on its network" in html
    assert html.count('data-label="Account"') == 3
    assert "cdn" not in html.lower()


def test_a_post_not_sent_yet(web, member):
    post = PostFactory(workspace=member.workspace)
    html = web.get(f"/posts/{post.id}/results/").content.decode()
    assert "not been sent yet" in html and "No counts yet" in html


def test_the_post_page_links_to_it(web, member):
    post = PostFactory(workspace=member.workspace)
    html = web.get(f"/posts/{post.id}/").content.decode()
    assert f'href="/posts/{post.id}/results/"' in html


def test_another_workspace_s_post_is_404(web):
    theirs = _post_with_results(MembershipFactory().workspace, 1)
    assert web.get(f"/posts/{theirs.id}/results/").status_code == 404
    assert web.get("/posts/99999999/results/").status_code == 404


def test_signed_out_is_sent_to_log_in(client, member):
    post = PostFactory(workspace=member.workspace)
    response = client.get(f"/posts/{post.id}/results/")
    assert response.status_code == 302 and "login" in response["Location"]


def _page_queries(web, workspace, n: int) -> int:
    post = _post_with_results(workspace, n)
    with CaptureQueriesContext(connection) as queries:
        assert web.get(f"/posts/{post.id}/results/").status_code == 200
    return len(queries)


def test_the_page_costs_the_same_queries_with_more_deliveries(web, member):
    assert _page_queries(web, member.workspace, 2) == _page_queries(web, member.workspace, 30)


def test_the_axis_top_is_a_round_number():
    assert [nice_top(v) for v in (0, 1, 3, 7, 10, 11, 180, 4000)] == [
        1,
        1,
        5,
        10,
        10,
        20,
        200,
        5000,
    ]
