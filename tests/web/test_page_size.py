"""The pages that show predictions do not grow with the data: at 1x and 10x the queued
posts, schedules and history, the dashboard, channels list, calendar (week, month, day),
channel page and channel settings run the same number of queries and return about the
same HTML, under 300 KB. The day list, queue and history come a page at a time.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
import recurrence
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from channels.models import QueueEntry
from posts.models import Post, Variation
from publishing.models import Delivery
from scheduling import calendar_grid as grid
from scheduling import services
from scheduling.models import Schedule, Timeslot
from tests.factories import ChannelFactory, MembershipFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 3, 10, 7, tzinfo=dt.UTC)
MAX_BYTES = 300_000


def _workspace(k: int):
    """k=1 or 10: a big channel with 60k queued posts, 21k schedules and 40k finished
    slots; a second channel that fires every 5 minutes (every calendar cell is full at
    both sizes) and a third with nothing."""
    member = MembershipFactory()
    ws, user = member.workspace, member.user
    big = ChannelFactory(workspace=ws, name="big", timezone="Europe/Berlin")
    dense = ChannelFactory(workspace=ws, name="dense", timezone="America/New_York")
    ChannelFactory(workspace=ws, name="empty")
    posts = Post.objects.bulk_create(
        Post(workspace=ws, author=user, text=f"Queued post {n}") for n in range(60 * k + 20)
    )
    Variation.objects.bulk_create(
        Variation(post=p, text=f"{p.text}, again", position=1) for p in posts[::3]
    )
    QueueEntry.objects.bulk_create(
        [QueueEntry(channel=big, post=p, position=n) for n, p in enumerate(posts[: 60 * k])]
        + [QueueEntry(channel=dense, post=p, position=n) for n, p in enumerate(posts[60 * k :])]
    )
    schedules = Schedule.objects.bulk_create(
        Schedule(
            channel=big,
            name=f"s{n}",
            recurrence=recurrence.deserialize(
                f"RRULE:FREQ=DAILY;BYHOUR={n % 24};BYMINUTE={(n * 7) % 60}"
            ),
            starts_on=dt.date(2020, 1, 6),
        )
        for n in range(21 * k)
    )
    Schedule.objects.create(
        channel=dense,
        name="every 5 minutes",
        recurrence=recurrence.deserialize("RRULE:FREQ=MINUTELY;INTERVAL=5"),
        starts_on=dt.date(2020, 1, 6),
    )
    history = Timeslot.objects.bulk_create(
        Timeslot(
            channel=big,
            schedule=schedules[0],
            planned_for=NOW - dt.timedelta(hours=n + 1),
            publish_at=NOW - dt.timedelta(hours=n + 1),
            status=Timeslot.Status.PUBLISHED,
            published_post=posts[n % 60],
        )
        for n in range(40 * k)
    )
    account = big.accounts.first()
    Delivery.objects.bulk_create(
        Delivery(timeslot=s, account=account, post=s.published_post, status="sent") for s in history
    )
    with time_machine.travel(NOW, tick=False):
        services.planner_run()
    return member, big


def _pages(big) -> dict[str, str]:
    calendar = reverse("calendar")
    return {
        "dashboard": reverse("dashboard"),
        "channels list": reverse("channel_list"),
        "calendar week": f"{calendar}?view=week&start=2026-06-03&tz=UTC",
        "calendar month": f"{calendar}?view=month&start=2026-06-03&tz=UTC",
        "calendar day": f"{calendar}?view=day&start=2026-06-04&tz=UTC",
        "channel page": reverse("channel_detail", args=[big.id]),
        "channel settings": reverse("channel_settings", args=[big.id]),
    }


def _measure(client, url: str) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(ctx.captured_queries), len(response.content)


def test_pages_cost_the_same_at_1x_and_10x_the_data(client):
    measured = {}
    with time_machine.travel(NOW, tick=False):
        for k in (1, 10):
            member, big = _workspace(k)
            client.force_login(member.user)
            for name, url in _pages(big).items():
                measured[(name, k)] = _measure(client, url)
    for name in _pages(big):
        (q1, b1), (q10, b10) = measured[(name, 1)], measured[(name, 10)]
        assert q1 == q10, f"{name}: {q1} queries at 1x, {q10} at 10x"
        # Numbers grow a digit ("600 posts waiting", "+54 more") and other slots come
        # first, but nothing is listed per row of data.
        assert abs(b10 - b1) <= 0.1 * b1, f"{name}: {b1} bytes at 1x, {b10} at 10x"
        assert b10 < MAX_BYTES, f"{name}: {b10} bytes"


def test_the_day_list_comes_a_page_at_a_time(client):
    member, _ = _workspace(1)
    client.force_login(member.user)
    url = reverse("calendar") + "?view=day&start=2026-06-04&tz=UTC"
    with time_machine.travel(NOW, tick=False):
        first = client.get(url).content.decode()
        # The dense channel's 288 slots and the big one's 21: the first page, then htmx.
        assert first.count('class="cal-slot ') == grid.DAY_PAGE
        more = re.search(r'hx-get="([^"]+)"', first).group(1).replace("&amp;", "&")
        part = client.get(more, HTTP_HX_REQUEST="true")
    body = part.content.decode()
    assert "<html" not in body  # a fragment, swapped in place of the button
    keys = re.findall(r'data-key="([^"]+)"', body)
    assert len(keys) == grid.DAY_PAGE
    assert not set(keys) & set(re.findall(r'data-key="([^"]+)"', first))
    # An hour's anchor is on its first slot only: appending a page repeats no id.
    anchors = re.findall(r'id="(h\d+)"', first) + re.findall(r'id="(h\d+)"', body)
    assert len(anchors) == len(set(anchors))


def test_queue_and_history_pages_do_not_overlap(client):
    member, big = _workspace(1)
    client.force_login(member.user)
    url = reverse("channel_detail", args=[big.id])
    with time_machine.travel(NOW, tick=False):
        page1 = client.get(url).content.decode()
        page2 = client.get(url + "?queue_page=2").content.decode()
        older_link = re.search(r'href="\?before=([^"#]+)#history"', page1).group(1)
        with CaptureQueriesContext(connection) as ctx:
            older = client.get(f"{url}?before={older_link}").content.decode()
        assert len(ctx.captured_queries) == _measure(client, url)[0]

    def queued(html):
        return re.findall(r'id="entry-(\d+)"', html)

    assert len(queued(page1)) == 50 and len(queued(page2)) == 10
    assert not set(queued(page1)) & set(queued(page2))

    def history(html):
        section = html[html.index('id="history"') :]
        return re.findall(r'<td class="nowrap"[^>]*>.*?datetime="([^"]+)"', section)

    assert len(history(page1)) == 30 and len(history(older)) == 10
    assert not set(history(page1)) & set(history(older))
