"""The lists and operations endpoints cost the same number of queries at two data sizes
(the API's timeslot and delivery pages, first and later, /metrics, /healthz, the accounts
page, the posts list and post search), and the posts list does not repeat every channel
on every row. The timings at agency size are bench/lists.py's."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken
from publishing.models import Delivery
from tests.factories import (
    ChannelFactory,
    DeliveryFactory,
    PostFactory,
    QueueEntryFactory,
    ScheduleFactory,
    SocialAccountFactory,
    TimeslotFactory,
    VariationFactory,
)

TOKEN = "metrics-test-token-0123456789"
CHANNEL_OPTION = re.compile(r'<option value="\d+"')
STATUSES = ["sent", "sent", "failed", "unconfirmed", "sent"]


def grow(workspace, n: int) -> None:
    """n more channels, each with two accounts, a post with a variation in its queue, and
    a past slot with a delivery per account (a mix of statuses) plus a coming one."""
    now = timezone.now()
    for i in range(n):
        channel = ChannelFactory(workspace=workspace)
        accounts = [SocialAccountFactory(workspace=workspace) for _ in range(2)]
        channel.accounts.add(*accounts)
        post = PostFactory(workspace=workspace, text=f"needle {i}" if i % 2 else f"hay {i}")
        VariationFactory(post=post, text=f"needle variation {i}")
        QueueEntryFactory(channel=channel, post=post)
        schedule = ScheduleFactory(channel=channel)
        past = TimeslotFactory(
            channel=channel,
            schedule=schedule,
            publish_at=now - dt.timedelta(minutes=10 + i),
            status="published",
        )
        TimeslotFactory(channel=channel, schedule=schedule)
        for k, account in enumerate(accounts):
            DeliveryFactory(
                timeslot=past,
                account=account,
                post=post,
                status=STATUSES[(i + k) % len(STATUSES)],
                last_error="" if (i + k) % len(STATUSES) in (0, 1, 4) else "The network said no.",
                sent_at=past.publish_at + dt.timedelta(seconds=1),
            )


def counts(web, api) -> dict[str, int]:
    urls = {
        "api deliveries": ("api", "/api/v1/deliveries/?page_size=3"),
        "api timeslots": ("api", "/api/v1/timeslots/?page_size=3"),
        "metrics": ("web", "/metrics"),
        "healthz": ("web", "/healthz?checks=database,planner,overdue"),
        "accounts page": ("web", "/accounts/"),
        "posts list": ("web", "/posts/"),
        "posts search": ("web", "/posts/?q=needle"),
    }
    result = {}
    for name, (who, url) in urls.items():
        client = api if who == "api" else web
        headers = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"} if name == "metrics" else {}
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url, **headers)
        assert response.status_code == 200, (url, response.content[:300])
        result[name] = len(ctx.captured_queries)
        if name.startswith("api"):
            # A later page by its cursor: the same queries as the first.
            with CaptureQueriesContext(connection) as ctx:
                assert client.get(response.json()["next"]).status_code == 200
            result[f"{name}, next page"] = len(ctx.captured_queries)
    return result


@pytest.mark.django_db
@override_settings(METRICS_TOKEN=TOKEN)
def test_query_counts_are_the_same_at_two_sizes(web, member):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {ApiToken.objects.create(user=member.user).key}")
    grow(member.workspace, 4)
    small = counts(web, api)
    grow(member.workspace, 16)
    large = counts(web, api)
    assert Delivery.objects.count() == 40
    assert large == small
    assert small["api deliveries"] == small["api deliveries, next page"]
    assert small["api timeslots"] == small["api timeslots, next page"]


@pytest.mark.django_db
def test_the_posts_list_offers_a_row_its_own_channels_in_a_big_workspace(web, member):
    ws = member.workspace
    channels = [ChannelFactory(workspace=ws) for _ in range(25)]
    queued = PostFactory(workspace=ws, text="queued in two")
    for channel in channels[:2]:
        QueueEntryFactory(channel=channel, post=queued)
    PostFactory(workspace=ws, text="in no queue")
    html = web.get("/posts/").content.decode()
    # Two options for the queued post, none for the other (it links to the editor).
    assert len(CHANNEL_OPTION.findall(html)) == 2
    assert html.count('class="share-form"') == 1
    # A small workspace still gets its channels in the menu.
    for channel in channels[5:]:
        channel.delete()
    html = web.get("/posts/").content.decode()
    assert html.count('class="share-form"') == 2
    assert len(CHANNEL_OPTION.findall(html)) == 2 * 5


@pytest.mark.django_db
def test_the_accounts_page_shows_a_page_of_accounts(web, member):
    for i in range(55):
        SocialAccountFactory(workspace=member.workspace, handle=f"acct{i:02d}")
    handles = re.compile(r"acct\d\d")
    first = web.get("/accounts/").content.decode()
    second = web.get("/accounts/?page=2").content.decode()
    assert len(set(handles.findall(first))) == 50
    assert set(handles.findall(second)) == {f"acct{i}" for i in range(50, 55)}
    assert "Page 1 of 2" in first


def _bulk_grow(workspace, user, n: int) -> None:
    """n more posts (each with a variation) and n more accounts, written in bulk: enough
    to fill more than one page of the posts list and of the accounts page."""
    from accounts.models import SocialAccount
    from posts.models import Post, Variation

    start = Post.objects.count()
    posts = Post.objects.bulk_create(
        Post(workspace=workspace, author=user, text=f"needle post {start + i:05d}")
        for i in range(n)
    )
    Variation.objects.bulk_create(
        Variation(post=p, text=f"{p.text} again", position=1) for p in posts
    )
    SocialAccount.objects.bulk_create(
        SocialAccount(
            workspace=workspace,
            provider="sandbox",
            handle=f"acct{start + i:05d}",
            external_id=f"e{start + i}",
        )
        for i in range(n)
    )


@pytest.mark.django_db
def test_list_pages_html_is_the_same_size_at_two_sizes(web, member):
    """Past one page of rows, the accounts page, the posts list and post search return
    about the same HTML (under 300 KB) with the same queries at 10x the rows."""
    pages = {"accounts page": "/accounts/", "posts list": "/posts/", "search": "/posts/?q=needle"}
    measured = {}
    for k in (1, 10):
        _bulk_grow(member.workspace, member.user, 60 * k if k == 1 else 540)
        for name, url in pages.items():
            with CaptureQueriesContext(connection) as ctx:
                response = web.get(url)
            assert response.status_code == 200, url
            measured[(name, k)] = (len(ctx.captured_queries), len(response.content))
    for name in pages:
        (q1, b1), (q10, b10) = measured[(name, 1)], measured[(name, 10)]
        assert q1 == q10, f"{name}: {q1} queries at 1x, {q10} at 10x"
        assert abs(b10 - b1) <= 0.1 * b1, f"{name}: {b1} bytes at 1x, {b10} at 10x"
        assert b10 < 300_000, f"{name}: {b10} bytes"


@pytest.mark.django_db
def test_history_export_first_line_costs_the_same_at_two_sizes(web, member, monkeypatch):
    """The history CSV streams in keyset chunks: its first line costs one chunk's
    queries whatever the history holds, and each further chunk two more."""
    from django.urls import reverse

    from bulk import exports
    from scheduling.models import Timeslot

    monkeypatch.setattr(exports, "BATCH", 5)
    channel = ChannelFactory(workspace=member.workspace)
    account = SocialAccountFactory(workspace=member.workspace)
    now = timezone.now()
    url = reverse("channel_export_history", args=[channel.id])
    measured = {}
    for size in (12, 120):
        have = Timeslot.objects.filter(channel=channel).count()
        slots = Timeslot.objects.bulk_create(
            Timeslot(
                channel=channel,
                post=PostFactory(workspace=member.workspace),
                publish_at=now - dt.timedelta(minutes=have + i + 1),
                status="published",
                published_text=f"slot {have + i}",
            )
            for i in range(size - have)
        )
        Delivery.objects.bulk_create(
            Delivery(timeslot=s, account=account, text=s.published_text, status="sent")
            for s in slots
        )
        with CaptureQueriesContext(connection) as first:
            response = web.get(url)
            lines = iter(response.streaming_content)
            next(lines), next(lines)  # the header and the newest slot's line
        b"".join(lines)  # the rest, outside the count
        with CaptureQueriesContext(connection) as whole:
            body = b"".join(web.get(url).streaming_content)
        assert body.count(b"\n") == size + 1
        measured[size] = (len(first.captured_queries), len(whole.captured_queries))
    (first_small, whole_small), (first_large, whole_large) = measured[12], measured[120]
    assert first_small == first_large
    # 12 slots: chunks of 5, 5 and 2 (short: the end), two queries each; 120 slots: 24
    # full chunks, then one read that finds nothing.
    assert whole_large - whole_small == (2 * 24 + 1) - 2 * 3
