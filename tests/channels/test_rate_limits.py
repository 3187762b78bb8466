"""A channel's publishing bound over all its schedules and pins (DESIGN §7 invariant 7).

CHANNEL_MAX_SLOTS_PER_HOUR (12) slots in any 60 minutes, never two closer than
CHANNEL_MIN_INTERVAL (60 s): refused on save with the offending times named, enforced again
by the planner. The probe's inputs: a web schedule of 100,000 RDATE lines one second apart,
60 API rules `FREQ=MINUTELY;BYSECOND=0..59`, dense MONTHLY rules.
"""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.urls import reverse

from accounts.models import Membership
from channels.models import Channel
from scheduling import services
from scheduling.models import PlannerState, Schedule, Timeslot
from tests.factories import ChannelFactory, MembershipFactory, PostFactory, ScheduleFactory, rule

UTC = dt.UTC
NOW = dt.datetime(2026, 6, 1, 10, 0, tzinfo=UTC)  # a Monday, top of the hour
API = "/api/v1"
COUNTED = (Timeslot.Status.SCHEDULED, Timeslot.Status.PUBLISHED)


@pytest.fixture
def member(db):
    return MembershipFactory(role=Membership.Role.EDITOR)


@pytest.fixture
def channel(member):
    return ChannelFactory(workspace=member.workspace, name="#tech")


@pytest.fixture
def at_now():
    with time_machine.travel(NOW, tick=False):
        yield


def _bound_holds(times: list[dt.datetime], *, per_hour=12, gap=60) -> bool:
    times = sorted(times)
    close = any((b - a).total_seconds() < gap for a, b in itertools.pairwise(times))
    crowded = any(
        sum(start <= t < start + dt.timedelta(hours=1) for t in times) > per_hour for start in times
    )
    return not close and not crowded


# --- The probe's inputs, refused with the reason -----------------------------------------------


def test_the_web_form_with_100000_rdates_a_second_apart_is_refused(web, channel, at_now):
    first = dt.datetime(2026, 6, 1, 10, 20)
    text = "\n".join(
        f"RDATE:{first + dt.timedelta(seconds=i):%Y%m%dT%H%M%S}" for i in range(100_000)
    )
    assert len(text) > 2_000_000
    response = web.post(
        reverse("schedule_create", args=[channel.id]),
        {"name": "flood", "frequency": "advanced", "advanced": text, "is_active": "on"},
    )
    assert response.status_code == 400
    assert "Too many rules: at most 5,000 characters (this has 2,199,999)" in (
        response.content.decode()
    )
    assert not Schedule.objects.exists() and not Timeslot.objects.exists()


def test_sixty_minutely_api_rules_one_second_apart_are_refused(api, channel, at_now):
    text = "\n".join(f"RRULE:FREQ=MINUTELY;BYSECOND={s}" for s in range(60))
    assert len(text) == 1909
    response = api.post(
        f"{API}/schedules/",
        {"channel": channel.id, "name": "flood", "rule": text},
        format="json",
    )
    assert response.status_code == 400, response.content
    message = str(response.json())
    # The offending times are named, in the channel's zone, with the rule broken.
    assert "2026-06-01 10:00:01 is 1 s from the slot at 2026-06-01 10:00:00" in message
    assert "at least 60 s apart (CHANNEL_MIN_INTERVAL)" in message
    assert not Schedule.objects.exists() and not Timeslot.objects.exists()


DENSE_MONTHLY = (
    "RRULE:FREQ=MONTHLY;BYMONTHDAY="
    + ",".join(map(str, range(1, 32)))
    + ";BYHOUR="
    + ",".join(map(str, range(24)))
    + ";BYMINUTE="
    + ",".join(map(str, range(60)))
)


def test_a_dense_monthly_rule_is_refused(api, channel, at_now):
    response = api.post(
        f"{API}/schedules/",
        {"channel": channel.id, "name": "dense", "rule": DENSE_MONTHLY},
        format="json",
    )
    assert response.status_code == 400, response.content
    message = str(response.json())
    assert (
        "2026-06-01 10:12:00 would be slot number 13 between 2026-06-01 10:00:00 and "
        "2026-06-01 11:00:00: a channel publishes at most 12 slots an hour" in message
    )
    assert not Schedule.objects.exists() and not Timeslot.objects.exists()


def test_the_dense_monthly_rules_are_refused_on_the_web_form_too(web, channel, at_now):
    for minutes in (range(60), range(0, 60, 2), range(1, 60, 3), range(0, 60, 4)):
        text = DENSE_MONTHLY.split(";BYMINUTE=")[0] + ";BYMINUTE=" + ",".join(map(str, minutes))
        response = web.post(
            reverse("schedule_create", args=[channel.id]),
            {"name": "dense", "frequency": "advanced", "advanced": text, "is_active": "on"},
        )
        assert response.status_code == 400
        assert "at most 12 slots an hour (CHANNEL_MAX_SLOTS_PER_HOUR)" in response.content.decode()
    assert not Schedule.objects.exists() and not Timeslot.objects.exists()


def test_a_monthly_rule_at_the_bound_is_accepted_and_fires(api, channel, at_now):
    # Every 5 minutes of every day: 12 an hour, 300 s apart. It used to be read from
    # starts_on (2020) up to 20,000 times, stop short of the window, and plan nothing.
    text = DENSE_MONTHLY.split(";BYMINUTE=")[0] + ";BYMINUTE=" + ",".join(map(str, range(0, 60, 5)))
    response = api.post(
        f"{API}/schedules/", {"channel": channel.id, "name": "busy", "rule": text}, format="json"
    )
    assert response.status_code == 201, response.content
    times = list(Timeslot.objects.values_list("publish_at", flat=True))
    assert len(times) == 15  # the 75-minute window
    assert min(times) == NOW and _bound_holds(times)


def test_a_refused_edit_changes_nothing(api, channel, at_now):
    created = api.post(
        f"{API}/schedules/",
        {"channel": channel.id, "name": "ok", "rule": "RRULE:FREQ=HOURLY;BYMINUTE=30"},
        format="json",
    )
    assert created.status_code == 201
    before = list(Timeslot.objects.values_list("id", "status", "publish_at"))
    response = api.patch(
        f"{API}/schedules/{created.json()['id']}/",
        {"rule": "RRULE:FREQ=MINUTELY;BYSECOND=0\nRRULE:FREQ=MINUTELY;BYSECOND=30"},
        format="json",
    )
    assert response.status_code == 400
    assert "30 s from the slot at" in str(response.json())
    assert list(Timeslot.objects.values_list("id", "status", "publish_at")) == before
    assert Schedule.objects.get().recurrence.rrules[0].byminute == [30]


def test_two_schedules_together_are_bounded(channel, at_now):
    ScheduleFactory(channel=channel, recurrence=rule("RRULE:FREQ=HOURLY;BYMINUTE=0,10,20,30,40"))
    second = Schedule(
        channel=channel, name="b", recurrence=rule("RRULE:FREQ=HOURLY;BYMINUTE=5,15,25,35,45,55")
    )
    services.schedule_save(schedule=second)  # 11 an hour together, 5 minutes apart: fine
    third = Schedule(channel=channel, name="c", recurrence=rule("RRULE:FREQ=HOURLY;BYMINUTE=50"))
    services.schedule_save(schedule=third)  # 12
    fourth = Schedule(
        channel=channel, name="d", recurrence=rule("RRULE:FREQ=DAILY;BYHOUR=14;BYMINUTE=2")
    )
    with pytest.raises(ValidationError, match="slot number 13 between"):
        services.schedule_save(schedule=fourth)
    assert Schedule.objects.count() == 3


def test_an_inactive_schedule_is_not_counted(channel, at_now):
    ScheduleFactory(
        channel=channel, recurrence=rule("RRULE:FREQ=HOURLY;BYMINUTE=0"), is_active=False
    )
    services.schedule_save(
        schedule=Schedule(
            channel=channel, name="b", recurrence=rule("RRULE:FREQ=HOURLY;BYMINUTE=0")
        )
    )
    assert Timeslot.objects.filter(status=Timeslot.Status.SCHEDULED).count() == 2


# --- Pins and moves ------------------------------------------------------------------------


def test_a_pin_closer_than_the_interval_is_refused_with_the_times(api, channel, at_now):
    ScheduleFactory(channel=channel, recurrence=rule("RRULE:FREQ=DAILY;BYHOUR=10;BYMINUTE=30"))
    post = PostFactory(workspace=channel.workspace)
    with pytest.raises(ValidationError) as refused:
        services.timeslot_pin(
            post=post, channel=channel, publish_at=NOW + dt.timedelta(minutes=30, seconds=20)
        )
    assert "2026-06-01 10:30:20 is 20 s from the slot at 2026-06-01 10:30:00" in str(refused.value)
    response = api.post(
        f"{API}/posts/",
        {"text": "hi", "channels": [channel.slug], "publish_at": "2026-06-01T10:29:30Z"},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert "30 s from the slot at 2026-06-01 10:30:00" in str(response.json())
    assert not Timeslot.objects.filter(post__isnull=False).exists()
    # A minute away is fine.
    services.timeslot_pin(post=post, channel=channel, publish_at=NOW + dt.timedelta(minutes=31))


def test_share_now_right_after_a_pin_is_refused(channel, at_now):
    post = PostFactory(workspace=channel.workspace)
    services.post_share_now(post=post, channel=channel)
    with pytest.raises(ValidationError, match="is 0 s from the slot at 2026-06-01 10:00:00"):
        services.post_share_now(post=post, channel=channel)
    # Another channel is not this channel's business.
    services.post_share_now(post=post, channel=ChannelFactory(workspace=channel.workspace))


def test_the_thirteenth_pin_in_an_hour_is_refused(channel, at_now):
    post = PostFactory(workspace=channel.workspace)
    for i in range(12):
        services.timeslot_pin(
            post=post, channel=channel, publish_at=NOW + dt.timedelta(minutes=10 + 4 * i)
        )
    with pytest.raises(ValidationError, match="would be slot number 13 between"):
        services.timeslot_pin(post=post, channel=channel, publish_at=NOW + dt.timedelta(minutes=59))
    services.timeslot_pin(post=post, channel=channel, publish_at=NOW + dt.timedelta(minutes=70))


def test_a_move_closer_than_the_interval_is_refused(api, channel, at_now):
    post = PostFactory(workspace=channel.workspace)
    a = services.timeslot_pin(post=post, channel=channel, publish_at=NOW + dt.timedelta(minutes=20))
    b = services.timeslot_pin(post=post, channel=channel, publish_at=NOW + dt.timedelta(minutes=40))
    with pytest.raises(ValidationError, match="is 30 s from the slot at 2026-06-01 10:20:00"):
        services.timeslot_reschedule(
            timeslot=b, publish_at=NOW + dt.timedelta(minutes=20, seconds=30)
        )
    response = api.patch(
        f"{API}/timeslots/{b.id}/", {"publish_at": "2026-06-01T10:19:45Z"}, format="json"
    )
    assert response.status_code == 400, response.content
    assert "15 s from the slot at 2026-06-01 10:20:00" in str(response.json())
    b.refresh_from_db()
    assert b.publish_at == NOW + dt.timedelta(minutes=40)
    # Moving a slot a little (away from its own old time) is not a clash with itself.
    services.timeslot_reschedule(timeslot=a, publish_at=NOW + dt.timedelta(minutes=20, seconds=10))


def test_moving_a_schedule_slot_does_not_clash_with_its_own_occurrence(channel, at_now):
    schedule = ScheduleFactory(channel=channel, recurrence=rule("RRULE:FREQ=HOURLY;BYMINUTE=30"))
    services.schedule_reconcile(schedule=schedule)
    slot = Timeslot.objects.get(publish_at=NOW + dt.timedelta(minutes=30))
    services.timeslot_reschedule(
        timeslot=slot, publish_at=NOW + dt.timedelta(minutes=30, seconds=30)
    )


# --- The planner enforces the bound again --------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_planner_enforces_the_bound_over_two_schedules_and_a_pin(broker):
    channel = ChannelFactory(name="#tech")
    with time_machine.travel(NOW - dt.timedelta(hours=1), tick=False):
        pinned = services.timeslot_pin(
            post=PostFactory(workspace=channel.workspace),
            channel=channel,
            publish_at=NOW + dt.timedelta(minutes=30, seconds=20),
        )
    # Saved before the bound existed (straight to the table): every 5 minutes, plus once an
    # hour at :02 - 13 an hour, and :00/:02 two minutes apart; the pin is 20 s after :30.
    ScheduleFactory(channel=channel, recurrence=rule("RRULE:FREQ=MINUTELY;INTERVAL=5"))
    ScheduleFactory(channel=channel, recurrence=rule("RRULE:FREQ=HOURLY;BYMINUTE=2"))
    with time_machine.travel(NOW, tick=False):
        result = services.planner_run()
    slots = Timeslot.objects.filter(channel=channel)
    counted = [s.publish_at for s in slots if s.status in COUNTED]
    assert _bound_holds(counted)
    assert pinned.publish_at in counted
    skipped = {s.publish_at: s.reason for s in slots if s.status == Timeslot.Status.SKIPPED}
    assert result.skipped == len(skipped) > 0
    assert skipped[NOW + dt.timedelta(minutes=30)] == (
        "Skipped: 2026-06-01 10:30:00 is 20 s from the slot at 2026-06-01 10:30:20: a "
        "channel's slots are at least 60 s apart (CHANNEL_MIN_INTERVAL)."
    )
    # 10:00, 10:02, 10:05 ... 10:50 are 12: the hour from 10:00 has no room for 10:55.
    assert skipped[NOW + dt.timedelta(minutes=55)].startswith(
        "Skipped: 2026-06-01 10:55:00 would be slot number 13 between 2026-06-01 10:00:00 and "
        "2026-06-01 11:00:00: a channel publishes at most 12 slots an hour"
    )
    # Skipped occurrences are recorded, not planned again: the same window once more.
    PlannerState.objects.all().delete()
    with time_machine.travel(NOW, tick=False):
        again = services.planner_run()
    assert (again.created, again.skipped) == (0, 0)
    assert not Timeslot.objects.filter(status=Timeslot.Status.SCHEDULED, enqueued_at=None).exists()


@pytest.mark.django_db(transaction=True)
def test_a_resumed_channel_is_bounded_too(broker):
    channel = ChannelFactory(is_paused=True)
    ScheduleFactory(channel=channel, recurrence=rule("RRULE:FREQ=HOURLY;BYMINUTE=0"))
    ScheduleFactory(channel=channel, recurrence=rule("RRULE:FREQ=HOURLY;BYMINUTE=0;BYSECOND=30"))
    with time_machine.travel(NOW, tick=False):
        channel = Channel.objects.get(pk=channel.pk)
        channel.is_paused = False
        services.channel_save(channel=channel)
    counted = list(
        Timeslot.objects.filter(status=Timeslot.Status.SCHEDULED).values_list(
            "publish_at", flat=True
        )
    )
    assert counted and _bound_holds(counted)
    assert Timeslot.objects.filter(status=Timeslot.Status.SKIPPED).exists()


@override_settings(CHANNEL_MAX_SLOTS_PER_HOUR=120, CHANNEL_MIN_INTERVAL=30)
def test_the_operator_settings_move_the_bound(channel, at_now):
    services.schedule_save(
        schedule=Schedule(
            channel=channel,
            name="fast",
            recurrence=rule("RRULE:FREQ=MINUTELY;BYSECOND=0\nRRULE:FREQ=MINUTELY;BYSECOND=30"),
        )
    )
    assert Timeslot.objects.count() == 150
    with pytest.raises(ValidationError, match="at least 30 s apart"):
        services.schedule_save(
            schedule=Schedule(
                channel=channel, name="more", recurrence=rule("RRULE:FREQ=MINUTELY;BYSECOND=10")
            )
        )


def test_the_admin_shows_the_bound_on_the_form(client, channel, at_now):
    from tests.factories import UserFactory

    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    ScheduleFactory(channel=channel, recurrence=rule("RRULE:FREQ=HOURLY;BYMINUTE=0"))
    response = client.post(
        reverse("admin:scheduling_schedule_add"),
        {
            "channel": channel.pk,
            "name": "flood",
            "recurrence": "RRULE:FREQ=HOURLY;BYMINUTE=0;BYSECOND=30",
            "starts_on": "2020-01-06",
            "is_active": "on",
        },
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.non_field_errors()
    assert "2026-06-01 10:00:30 is 30 s from the slot at 2026-06-01 10:00:00" in str(errors)
    assert not Schedule.objects.filter(name="flood").exists()
