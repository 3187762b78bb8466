"""The calendar's filters (channel, account, status; kept in the URL, in the same queries),
the quietest channels' slots first in a full cell, a slot named in every confirmation, and
the demo's week: #demo-live's every-5-minutes slots do not hide the user's own."""

from __future__ import annotations

import datetime as dt
import re
from io import StringIO

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Membership
from channels.models import Channel
from posts.models import Post
from scheduling.models import Timeslot
from tests.factories import (
    ChannelFactory,
    MembershipFactory,
    PostFactory,
    ScheduleFactory,
    SocialAccountFactory,
    TimeslotFactory,
    rule,
)

pytestmark = pytest.mark.django_db

UTC = dt.UTC
NOW = dt.datetime(2026, 12, 7, 8, 0, tzinfo=UTC)  # a Monday
WEEK = "view=week&start=2026-12-07&tz=UTC"


@pytest.fixture
def member():
    return MembershipFactory(role=Membership.Role.OWNER)


@pytest.fixture
def world(member):
    """#tech (daily 10:00, account @tech_acct) and #news (daily 14:00, @news_acct), a failed
    slot on #news yesterday... and a pinned post on #tech."""
    ws = member.workspace
    tech_acct = SocialAccountFactory(workspace=ws, handle="tech_acct")
    news_acct = SocialAccountFactory(workspace=ws, handle="news_acct")
    tech = ChannelFactory(workspace=ws, name="#tech", with_sandbox=False)
    news = ChannelFactory(workspace=ws, name="#news", with_sandbox=False)
    tech.accounts.add(tech_acct)
    news.accounts.add(news_acct)
    ScheduleFactory(channel=tech, recurrence=rule("RRULE:FREQ=DAILY;BYHOUR=10;BYMINUTE=0"))
    news_daily = ScheduleFactory(
        channel=news, recurrence=rule("RRULE:FREQ=DAILY;BYHOUR=14;BYMINUTE=0")
    )
    TimeslotFactory(
        channel=news,
        schedule=news_daily,
        publish_at=dt.datetime(2026, 12, 7, 6, 30, tzinfo=UTC),
        status=Timeslot.Status.FAILED,
        reason="The network said no.",
    )
    post = PostFactory(workspace=ws, text="Pinned launch note for Wednesday")
    TimeslotFactory(
        channel=tech,
        schedule=None,
        post=post,
        publish_at=dt.datetime(2026, 12, 9, 11, 0, tzinfo=UTC),
    )
    return {"tech": tech, "news": news, "tech_acct": tech_acct, "news_acct": news_acct}


def week(client, query: str = "") -> tuple[str, int]:
    with time_machine.travel(NOW, tick=False), CaptureQueriesContext(connection) as ctx:
        response = client.get(f"{reverse('calendar')}?{WEEK}{query}")
    assert response.status_code == 200
    return response.content.decode(), len(ctx.captured_queries)


def shown_channels(html: str) -> set[str]:
    return set(re.findall(r'<span class="cal-channel"> ([^<]+)</span>', html))


def test_filters_narrow_the_slots(web, world):
    everything, _ = week(web)
    assert shown_channels(everything) == {"#tech", "#news"}
    by_channel, _ = week(web, f"&channel={world['tech'].id}")
    assert shown_channels(by_channel) == {"#tech"}
    by_account, _ = week(web, f"&account={world['news_acct'].id}")
    assert shown_channels(by_account) == {"#news"}
    failed, _ = week(web, "&status=failed")
    assert shown_channels(failed) == {"#news"} and failed.count('class="cal-slot ') == 1
    scheduled, _ = week(web, "&status=scheduled")
    assert "Pinned launch note" in scheduled and "status-projected" not in scheduled
    projected, _ = week(web, "&status=projected")
    assert "status-projected" in projected and "Pinned launch note" not in projected
    both, _ = week(web, "&status=projected&status=failed")
    assert "status-projected" in both and "status-failed" in both


FILTERS = {
    "none": lambda w: "",
    "channel": lambda w: f"&channel={w['tech'].id}",
    "account": lambda w: f"&account={w['news_acct'].id}&account={w['tech_acct'].id}",
    "status": lambda w: "&status=failed&status=projected",
    "all three": lambda w: f"&channel={w['news'].id}&account={w['news_acct'].id}&status=failed",
}


def test_each_filter_costs_the_same_queries_however_many_slots(web, world):
    before = {name: week(web, make(world))[1] for name, make in FILTERS.items()}
    # Ten times the channels, accounts, schedules and failed slots.
    ws = world["tech"].workspace
    for n in range(10):
        channel = ChannelFactory(workspace=ws, name=f"#more{n}")
        world["tech"].accounts.add(SocialAccountFactory(workspace=ws))
        for hour in (8, 12, 18):
            daily = ScheduleFactory(
                channel=channel, recurrence=rule(f"RRULE:FREQ=DAILY;BYHOUR={hour};BYMINUTE=0")
            )
        TimeslotFactory(
            channel=world["news"] if n % 2 else channel,
            schedule=daily if n % 2 == 0 else world["news"].schedules.first(),
            publish_at=dt.datetime(2026, 12, 7, 7, n, tzinfo=UTC),
            status=Timeslot.Status.FAILED,
            reason="No.",
        )
    after = {name: week(web, make(world))[1] for name, make in FILTERS.items()}
    assert after == before
    assert all(count <= before["none"] for count in before.values()), before


def test_filters_stay_in_every_link_of_the_page(web, world):
    tech = world["tech"].id
    html, _ = week(web, f"&channel={tech}&status=scheduled")
    kept = f"channel={tech}&amp;status=scheduled"
    prev = re.search(r'href="([^"]+)" rel="prev"', html).group(1)
    nxt = re.search(r'href="([^"]+)" rel="next"', html).group(1)
    assert kept in prev and kept in nxt
    month = re.search(r'href="([^"]+)"[^>]*>Month</a>', html).group(1)
    assert kept in month
    day_links = re.findall(r'href="(\?view=day[^"]+)"', html)
    assert day_links and all(kept in link for link in day_links)
    # The zone picker keeps them, and the filter form shows them ticked.
    tz_form = html[
        html.index('class="tz-form"') : html.index("</form>", html.index('class="tz-form"'))
    ]
    assert (
        f'name="channel" value="{tech}"' in tz_form and 'name="status" value="scheduled"' in tz_form
    )
    assert re.search(rf'name="channel" value="{tech}" checked', html)
    assert "Clear filters" in html


def test_unreadable_filters_are_ignored_not_a_500(web, world):
    html, _ = week(web, "&channel=abc&channel=99999999999999999999999&account=-1&status=nope")
    assert shown_channels(html) == {"#tech", "#news"}


def test_another_workspaces_channel_shows_nothing(web, world):
    other = ChannelFactory(name="#theirs")
    ScheduleFactory(channel=other, recurrence=rule("RRULE:FREQ=DAILY;BYHOUR=9;BYMINUTE=0"))
    html, _ = week(web, f"&channel={other.id}")
    assert 'class="cal-slot ' not in html and "#theirs" not in shown_channels(html)


def test_a_full_cell_shows_the_quietest_channels_first(web, world):
    busy = ChannelFactory(workspace=world["tech"].workspace, name="#aaa-busy")
    ScheduleFactory(channel=busy, recurrence=rule("RRULE:FREQ=MINUTELY;INTERVAL=5"))
    html, _ = week(web)
    # Wednesday 11:00: #tech's pinned post, though #aaa-busy has 12 slots that hour and
    # sorts first by name and by time.
    cell = re.search(r'<td[^>]*data-day="2026-12-09" data-hour="11">(.*?)</td>', html, re.S).group(
        1
    )
    assert "Pinned launch note" in cell and "+11" in cell


def test_confirmations_name_the_slot(web, world):
    tech = world["tech"]
    slot = Timeslot.objects.get(channel=tech, post__isnull=False)
    with time_machine.travel(NOW, tick=False):
        response = web.post(
            reverse("calendar_slot_move", args=[f"t{slot.id}"]),
            {"publish_at": "2026-12-09T12:30", "tz": "UTC"},
            HTTP_ACCEPT="application/json",
        )
        assert response.json()["message"] == (
            "#tech slot “Pinned launch note for Wednesday” moved from Wed 09 Dec 11:00 UTC "
            "to Wed 09 Dec 12:30 UTC."
        )
        response = web.post(
            reverse("calendar_slot_cancel", args=[f"t{slot.id}"]),
            {"tz": "UTC"},
            HTTP_ACCEPT="application/json",
        )
        assert response.json()["message"] == (
            "#tech slot “Pinned launch note for Wednesday” of Wed 09 Dec 12:30 UTC canceled."
        )
        # The channel page's own forms say it too.
        other = TimeslotFactory(
            channel=tech,
            schedule=None,
            post=PostFactory(workspace=tech.workspace, text="Another pinned one, for Thursday"),
            publish_at=dt.datetime(2026, 12, 10, 9, 0, tzinfo=UTC),
        )
        web.post(reverse("timeslot_move", args=[other.id]), {"publish_at": "2026-12-10T09:45"})
        page = web.get(reverse("channel_detail", args=[tech.id])).content.decode()
    assert (
        "#tech slot “Another pinned one, for Thursday” moved from Thu 10 Dec 09:00 UTC to "
        "Thu 10 Dec 09:45 UTC." in page
    )


def _seed_demo() -> None:
    call_command("seed_demo", stdout=StringIO())


@pytest.mark.django_db(transaction=True)
def test_the_demo_week_shows_the_users_own_slots(broker, client):
    with time_machine.travel(NOW, tick=False):
        _seed_demo()
    user = get_user_model().objects.get(username="demo")
    client.force_login(user)
    ws = user.memberships.get().workspace
    tech = Channel.objects.get(workspace=ws, slug="tech")
    news = Channel.objects.get(workspace=ws, slug="news")
    post = Post.objects.create(workspace=ws, author=user, text="My own launch post, pinned")
    # Tuesday 10:00 UTC, in the middle of #demo-live's every-5-minutes slots.
    TimeslotFactory(
        channel=tech,
        schedule=None,
        post=post,
        publish_at=dt.datetime(2026, 12, 8, 10, 0, tzinfo=UTC),
    )

    everything, queries = week(client)
    assert "#demo-live" in shown_channels(everything)  # still there, but not in front
    cell = re.search(r'<td[^>]*data-day="2026-12-08" data-hour="10">(.*?)</td>', everything, re.S)
    assert "My own launch post" in cell.group(1)
    # #tech at 09:00 and 16:00 Berlin, #news at 14:00 New York: every one of them is shown.
    visible = everything.count('cal-channel"> #tech<') + everything.count('cal-channel"> #news<')
    assert visible == 5 * 2 + 5 + 1  # weekdays x 2, weekdays x 1, the pinned post

    default_channels, filtered_queries = week(client, f"&channel={tech.id}&channel={news.id}")
    assert 'class="cal-more"' not in default_channels
    assert shown_channels(default_channels) == {"#tech", "#news"}
    assert "My own launch post" in default_channels
    assert filtered_queries == queries
