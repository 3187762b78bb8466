"""The calendar: week and month grids in a ?tz= zone, constant queries however many slots,
and a slot's panel acting on planned and projected slots (move, cancel, change its post).
Bad input gets a message and a 400 and changes nothing."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Membership
from posts.models import Post
from scheduling import calendar_grid as grid
from scheduling import services
from scheduling.calendar_grid import channel_color, parse_key
from scheduling.models import Schedule, Timeslot
from tests.factories import (
    ChannelFactory,
    MembershipFactory,
    PostFactory,
    QueueEntryFactory,
    ScheduleFactory,
    TimeslotFactory,
    WorkspaceFactory,
    rule,
)

pytestmark = pytest.mark.django_db

UTC = dt.UTC
NOW = dt.datetime(2026, 12, 7, 8, 0, tzinfo=UTC)  # a Monday, 09:00 in Paris
FAR = dt.datetime(2026, 12, 16, 9, 0, tzinfo=UTC)  # beyond the planner's window: projected


@pytest.fixture
def member():
    return MembershipFactory(role=Membership.Role.OWNER)


@pytest.fixture
def channel(member):
    return ChannelFactory(workspace=member.workspace, name="#tech", timezone="Europe/Berlin")


@pytest.fixture
def schedule(channel):
    # Every day at 10:00 Berlin = 09:00 UTC in winter.
    return ScheduleFactory(
        channel=channel, recurrence=rule("RRULE:FREQ=DAILY;BYHOUR=10;BYMINUTE=0")
    )


def cal(**params) -> str:
    return reverse("calendar") + "?" + "&".join(f"{k}={v}" for k, v in params.items())


def projected_key(schedule: Schedule, at: dt.datetime) -> str:
    return f"p{schedule.id}-{int(at.timestamp())}"


# --- The grids ---------------------------------------------------------------------------


def test_week_is_a_table_of_hours_by_days_in_the_chosen_zone(web, channel, schedule):
    post = PostFactory(workspace=channel.workspace, text="Pinned for Tuesday morning")
    TimeslotFactory(
        channel=channel,
        schedule=None,
        post=post,
        publish_at=dt.datetime(2026, 12, 8, 6, 30, tzinfo=UTC),
    )
    with time_machine.travel(NOW, tick=False):
        body = web.get(cal(view="week", start="2026-12-09", tz="Asia/Tokyo")).content.decode()
    # Hours down, seven days across, with header cells a screen reader can use.
    assert body.count('<th scope="row" class="cal-hour">') == 24
    assert len(re.findall(r'<th scope="col" class="[^"]*"><a href="\?view=day', body)) == 7
    assert "Week of Monday 7 December 2026, times in Asia/Tokyo" in body
    # 06:30 UTC is 15:30 in Tokyo, on Tuesday 8; the slot reads time, channel, text, status.
    cell = re.search(r'data-day="2026-12-08" data-hour="15">(.*?)</td>', body, re.S).group(1)
    assert "<time" in cell and ">15:30</time>" in cell
    assert "#tech" in cell and "Pinned for Tuesday morning" in cell and "pinned" in cell
    assert f"c{channel_color(channel.id)}" in cell
    # The daily 10:00 Berlin rule is projected on every day (18:00 in Tokyo), dashed.
    assert body.count("status-projected") == 7
    assert "display_tz" not in web.session  # the zone changed nothing for other pages


def test_month_is_a_grid_of_weeks_with_blank_days_outside_the_month(web, channel, schedule):
    with time_machine.travel(NOW, tick=False):
        response = web.get(cal(view="month", start="2026-12-20", tz="Europe/Paris"))
    body = response.content.decode()
    assert response.status_code == 200
    assert "December 2026" in body
    assert body.count('<td class="cal-cell') == 31
    heads = re.findall(r'<th scope="col"><abbr title="(\w+)">', body)
    assert heads == ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    assert body.count('<td class="cal-blank">') == 1 + 3  # Tue 1st; Thu 31st ends the grid
    # The past days (1-6) have rows but are not projected; 7-31 each have a 10:00 slot.
    assert body.count("status-projected") == 25
    assert "view=month&amp;start=2026-11-01" in body and "view=month&amp;start=2027-01-01" in body
    assert "view=week&amp;start=2026-12-07" in body  # the switch to the week keeps today


def test_a_dense_cell_folds_into_a_link_to_the_days_list(web, channel):
    ScheduleFactory(channel=channel, recurrence=rule("RRULE:FREQ=MINUTELY;INTERVAL=5"))
    with time_machine.travel(NOW, tick=False):
        week = web.get(cal(view="week", start="2026-12-14", tz="UTC")).content.decode()
        day = web.get(cal(view="day", start="2026-12-14", tz="UTC")).content.decode()
    # 12 slots an hour: 2 shown, "+10 more" links to the day from that hour, 168 cells.
    assert week.count(">+10<span") == 168
    assert "view=day&amp;start=2026-12-14&amp;tz=UTC&amp;hour=10#h10" in week
    assert week.count('class="cal-slot ') == 2 * 168
    # The day's 288 slots come a page at a time (tests/web/test_page_size.py follows the pages).
    assert day.count('class="cal-slot ') == grid.DAY_PAGE
    assert f"Show {288 - grid.DAY_PAGE} more slots" in day


@pytest.mark.parametrize("view", ["week", "month"])
def test_grid_queries_do_not_grow_with_slots(client, view):
    counts = []
    with time_machine.travel(NOW, tick=False):
        for n in (5, 500):
            member = MembershipFactory()
            channel = ChannelFactory(workspace=member.workspace)
            ScheduleFactory(channel=channel, recurrence=rule("RRULE:FREQ=HOURLY;BYMINUTE=30"))
            posts = [PostFactory(workspace=member.workspace) for _ in range(3)]
            for post in posts:
                QueueEntryFactory(channel=channel, post=post)
            Timeslot.objects.bulk_create(
                Timeslot(
                    channel=channel,
                    post=posts[i % 3],
                    publish_at=NOW + dt.timedelta(days=1, minutes=17 * i),
                    status="scheduled" if i % 2 else "published",
                    published_post=posts[0] if i % 2 == 0 else None,
                )
                for i in range(n)
            )
            client.force_login(member.user)
            url = cal(view=view, start="2026-12-07", tz="Europe/Paris")
            client.get(url)  # warm caches (content types, the zone list)
            with CaptureQueriesContext(connection) as ctx:
                response = client.get(url)
            assert response.status_code == 200
            assert response.content.decode().count('class="cal-slot ') >= min(n, 5)
            counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1], f"{view}: {counts[0]} queries for 5 slots, {counts[1]} for 500"


@pytest.mark.parametrize(
    "params, message",
    [
        ({"start": "2026-13-45"}, "Dates look like"),
        ({"start": "9999-01-01"}, "Dates look like"),
        ({"week": "nonsense"}, "Weeks look like"),
        ({"view": "year"}, "Views are week, month or day"),
        ({"tz": "Mars/Olympus"}, "Unknown time zone"),
    ],
)
def test_bad_calendar_parameters_say_so_and_show_this_week(web, channel, params, message):
    with time_machine.travel(NOW, tick=False):
        response = web.get(reverse("calendar"), params)
    assert response.status_code == 200
    assert message in response.content.decode()


def test_slot_keys_parse_only_what_the_calendar_writes():
    assert parse_key("t12").timeslot_id == 12
    at = dt.datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    assert parse_key(f"p3-{int(at.timestamp())}").occurrence == at
    assert parse_key("p3-99999999999") is not None  # far future is still a date
    for bad in ("x1", "t", "p3", "p3-", "t1x", "p-1-2"):
        assert parse_key(bad) is None


# --- A slot's panel and its actions ------------------------------------------------------


def test_panel_of_a_planned_slot_has_move_cancel_and_post_forms(web, channel, schedule):
    slot = TimeslotFactory(
        channel=channel, schedule=schedule, publish_at=NOW + dt.timedelta(hours=3)
    )
    with time_machine.travel(NOW, tick=False):
        body = web.get(
            reverse("calendar_slot", args=[f"t{slot.id}"]), {"tz": "Asia/Tokyo"}
        ).content.decode()
    # 11:00 UTC: the form in the calendar's zone, the channel's own time beside it.
    assert 'type="datetime-local"' in body and 'value="2026-12-07T20:00"' in body
    assert "12:00 CET in the channel's zone" in body
    assert reverse("calendar_slot_cancel", args=[f"t{slot.id}"]) in body
    assert reverse("calendar_slot_post", args=[f"t{slot.id}"]) in body


def test_moving_a_planned_slot_in_the_calendars_zone_rotates_its_token(web, channel, schedule):
    slot = TimeslotFactory(
        channel=channel, schedule=schedule, publish_at=NOW + dt.timedelta(hours=3)
    )
    token = slot.token
    with time_machine.travel(NOW, tick=False):
        response = web.post(
            reverse("calendar_slot_move", args=[f"t{slot.id}"]),
            {"publish_at": "2026-12-08T15:05", "tz": "Asia/Tokyo"},
            HTTP_ACCEPT="application/json",
        )
    assert response.status_code == 200, response.content
    assert response.json() == {
        "ok": True,
        # Which slot: its channel, its post (a queue slot's is the queue's next) and time.
        "message": "#tech slot (the queue's next post) moved from Mon 07 Dec 20:00 JST to "
        "Tue 08 Dec 15:05 JST.",
        "key": f"t{slot.id}",
    }
    slot.refresh_from_db()
    assert slot.publish_at == dt.datetime(2026, 12, 8, 6, 5, tzinfo=UTC)
    assert slot.token != token and slot.detached


def test_moving_a_projected_slot_plans_it_detached_then_moves_it(web, channel, schedule):
    key = projected_key(schedule, FAR)
    with time_machine.travel(NOW, tick=False):
        response = web.post(
            reverse("calendar_slot_move", args=[key]),
            {"publish_at": "2026-12-17T08:15", "tz": "UTC", "next": "/calendar/?view=month"},
        )
    assert response.status_code == 302 and response["Location"] == "/calendar/?view=month"
    slot = Timeslot.objects.get(schedule=schedule)
    assert slot.planned_for == FAR  # the planner will never plan this occurrence again
    assert slot.publish_at == dt.datetime(2026, 12, 17, 8, 15, tzinfo=UTC)
    assert slot.detached and slot.status == "scheduled"
    # The planner, run over that day later, leaves it alone and creates no second one.
    with time_machine.travel(FAR - dt.timedelta(hours=1), tick=False):
        services.schedule_reconcile(schedule=schedule)
    assert Timeslot.objects.filter(schedule=schedule, planned_for=FAR).count() == 1
    assert Timeslot.objects.get(pk=slot.pk).publish_at == slot.publish_at


def test_canceling_a_projected_slot_keeps_the_occurrence_canceled(web, channel, schedule):
    key = projected_key(schedule, FAR)
    with time_machine.travel(NOW, tick=False):
        response = web.post(reverse("calendar_slot_cancel", args=[key]), {"tz": "UTC"})
        assert response.status_code == 302
        week = web.get(cal(view="week", start="2026-12-14", tz="UTC")).content.decode()
    slot = Timeslot.objects.get(schedule=schedule)
    assert slot.status == "canceled" and slot.planned_for == FAR
    # The week shows the occurrence once, canceled, not projected again beside it.
    cell = re.search(r'data-day="2026-12-16" data-hour="9">(.*?)</td>', week, re.S).group(1)
    assert cell.count("cal-slot ") == 1 and "status-canceled" in cell and ", canceled" in cell
    with time_machine.travel(FAR - dt.timedelta(hours=1), tick=False):
        services.schedule_reconcile(schedule=schedule)
    assert list(Timeslot.objects.filter(schedule=schedule).values_list("status", flat=True)) == [
        "canceled"
    ]


def test_giving_a_projected_slot_a_post_pins_it_and_back_to_the_queue(web, channel, schedule):
    post = PostFactory(workspace=channel.workspace, text="For the sixteenth")
    key = projected_key(schedule, FAR)
    with time_machine.travel(NOW, tick=False):
        response = web.post(reverse("calendar_slot_post", args=[key]), {"post": post.id})
        assert response.status_code == 302
        slot = Timeslot.objects.get(schedule=schedule)
        assert slot.post == post and slot.detached
        web.post(reverse("calendar_slot_post", args=[f"t{slot.id}"]), {"post": ""})
    slot.refresh_from_db()
    assert slot.post is None and slot.status == "scheduled"


@pytest.mark.parametrize(
    "action, data, message",
    [
        ("move", {"publish_at": "not a time"}, "Pick a new date and time"),
        ("move", {"publish_at": "2026-12-01T10:00", "tz": "UTC"}, "in the past"),
        ("move", {"publish_at": "2026-12-20T10:00", "tz": "Mars/Olympus"}, "Unknown time zone"),
        ("post", {"post": "999999"}, "Choose a post from the list"),
    ],
)
def test_bad_input_on_a_projected_slot_is_a_400_and_plans_nothing(
    web, channel, schedule, action, data, message
):
    key = projected_key(schedule, FAR)
    with time_machine.travel(NOW, tick=False):
        response = web.post(reverse(f"calendar_slot_{action}", args=[key]), data)
        as_json = web.post(
            reverse(f"calendar_slot_{action}", args=[key]), data, HTTP_ACCEPT="application/json"
        )
    assert response.status_code == 400 and message in response.content.decode()
    assert as_json.status_code == 400 and message in as_json.json()["error"]
    assert not Timeslot.objects.filter(schedule=schedule).exists()


def test_a_projection_the_rule_does_not_have_is_refused(web, channel, schedule):
    key = projected_key(schedule, FAR + dt.timedelta(minutes=7))
    with time_machine.travel(NOW, tick=False):
        response = web.post(reverse("calendar_slot_cancel", args=[key]))
    assert response.status_code == 400
    assert "no longer has a slot at that time" in response.content.decode()
    assert not Timeslot.objects.exists()


def test_an_archived_or_foreign_post_cannot_be_pinned(web, channel, schedule):
    archived = PostFactory(workspace=channel.workspace, status=Post.Status.ARCHIVED)
    foreign = PostFactory(workspace=WorkspaceFactory())
    slot = TimeslotFactory(
        channel=channel, schedule=schedule, publish_at=NOW + dt.timedelta(hours=3)
    )
    with time_machine.travel(NOW, tick=False):
        for post in (archived, foreign):
            response = web.post(
                reverse("calendar_slot_post", args=[f"t{slot.id}"]), {"post": post.id}
            )
            assert response.status_code == 400
    slot.refresh_from_db()
    assert slot.post is None


def test_a_finished_slot_cannot_be_moved_and_says_why(web, channel, schedule):
    slot = TimeslotFactory(
        channel=channel,
        schedule=schedule,
        publish_at=NOW + dt.timedelta(hours=3),
        status="published",
    )
    with time_machine.travel(NOW, tick=False):
        response = web.post(
            reverse("calendar_slot_move", args=[f"t{slot.id}"]),
            {"publish_at": "2026-12-09T10:00", "tz": "UTC"},
        )
    assert response.status_code == 400
    assert "already publishing or finished" in response.content.decode()


@pytest.mark.parametrize("role", [Membership.Role.VIEWER, Membership.Role.APPROVER])
def test_other_workspaces_slots_and_viewers(client, channel, schedule, role):
    foreign_schedule = ScheduleFactory(channel=ChannelFactory(workspace=WorkspaceFactory()))
    foreign_slot = TimeslotFactory(channel=foreign_schedule.channel, schedule=foreign_schedule)
    viewer = MembershipFactory(workspace=channel.workspace, role=role)
    client.force_login(viewer.user)
    with time_machine.travel(NOW, tick=False):
        assert client.get(reverse("calendar_slot", args=[f"t{foreign_slot.id}"])).status_code == 404
        key = projected_key(foreign_schedule, FAR)
        assert client.get(reverse("calendar_slot", args=[key])).status_code == 404
        own = projected_key(schedule, FAR)
        assert client.get(reverse("calendar_slot", args=[own])).status_code == 200
        assert client.post(reverse("calendar_slot_cancel", args=[own])).status_code == 403
        week = client.get(cal(view="week", start="2026-12-14")).content.decode()
    assert "data-move" not in week and "cal-new" not in week
    assert not Timeslot.objects.filter(schedule=schedule).exists()


# --- Compose from an empty time ----------------------------------------------------------


def test_an_empty_time_links_to_compose_with_the_time_prefilled(web, channel):
    with time_machine.travel(NOW, tick=False):
        week = web.get(cal(view="week", start="2026-12-07", tz="Asia/Tokyo")).content.decode()
        assert "/posts/new/?pin_at=2026-12-09T10%3A00&amp;tz=Asia/Tokyo" in week
        form = web.get(reverse("post_create"), {"pin_at": "2026-12-09T10:00", "tz": "Asia/Tokyo"})
        body = form.content.decode()
        assert 'value="2026-12-09T10:00"' in body and 'name="pin_tz" value="Asia/Tokyo"' in body
        assert "the calendar&#x27;s zone" in body or "the calendar's zone" in body
        response = web.post(
            reverse("post_create"),
            {
                "text": "Pinned from the calendar",
                "channels": [channel.id],  # a Berlin channel: the time stays Tokyo's
                "status": "ready",
                "pin_at": "2026-12-09T10:00",
                "pin_tz": "Asia/Tokyo",
            },
        )
    assert response.status_code == 302
    slot = Timeslot.objects.get(post__text="Pinned from the calendar")
    assert slot.publish_at == dt.datetime(2026, 12, 9, 1, 0, tzinfo=UTC)


def test_a_bad_prefill_is_ignored_and_a_bad_pin_zone_refused(web, channel):
    with time_machine.travel(NOW, tick=False):
        form = web.get(reverse("post_create"), {"pin_at": "soon", "tz": "Nowhere"})
        assert form.status_code == 200 and 'name="pin_tz"' not in form.content.decode()
        response = web.post(
            reverse("post_create"),
            {
                "text": "x",
                "channels": [channel.id],
                "status": "ready",
                "pin_at": "2026-12-09T10:00",
                "pin_tz": "Nowhere/Land",
            },
        )
    assert response.status_code == 400
    assert not Post.objects.filter(text="x").exists()


def test_planning_a_projection_the_planner_already_planned_returns_its_row(channel, schedule):
    with time_machine.travel(FAR - dt.timedelta(hours=1), tick=False):
        services.schedule_reconcile(schedule=schedule)  # the planner's row for FAR
        planned = Timeslot.objects.get(schedule=schedule, planned_for=FAR)
        again = services.projected_slot_plan(schedule=schedule, occurrence=FAR)
    assert again.pk == planned.pk and not again.detached
    assert Timeslot.objects.filter(schedule=schedule).count() == 1


def test_a_pinned_only_slot_cannot_go_back_to_the_queue(web, channel):
    post = PostFactory(workspace=channel.workspace)
    slot = services.timeslot_pin(post=post, channel=channel, publish_at=NOW + dt.timedelta(days=2))
    with time_machine.travel(NOW, tick=False):
        response = web.post(reverse("calendar_slot_post", args=[f"t{slot.id}"]), {"post": ""})
    assert response.status_code == 400
    assert "cancel it instead" in response.content.decode()
    slot.refresh_from_db()
    assert slot.post == post
