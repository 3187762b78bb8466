"""Rules are expanded in the channel's wall-clock time, across DST, and survive a DB round trip."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
import time_machine

from scheduling import services
from scheduling.models import Schedule, Timeslot
from tests.factories import ChannelFactory, ScheduleFactory, rule

UTC = dt.UTC
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
KOLKATA = zoneinfo.ZoneInfo("Asia/Kolkata")


def plan_day(channel, text: str, local_day: dt.date, tz) -> list[dt.datetime]:
    """Plan one local day of the rule and return the slots' local times."""
    start = dt.datetime.combine(local_day, dt.time(), tzinfo=tz).astimezone(UTC)
    end = dt.datetime.combine(local_day + dt.timedelta(days=1), dt.time(), tzinfo=tz).astimezone(
        UTC
    )
    schedule = ScheduleFactory(channel=channel, recurrence=rule(text))
    schedule = Schedule.objects.get(pk=schedule.pk)  # exactly what the planner reads
    with time_machine.travel(start, tick=False):
        services.planner_run(now=start, until=end)
    return [
        t.astimezone(tz)
        for t in Timeslot.objects.filter(schedule=schedule).values_list("publish_at", flat=True)
    ]


@pytest.mark.django_db(transaction=True)
def test_spring_forward_moves_a_missing_time_forward_by_the_gap(broker):
    channel = ChannelFactory(timezone="America/New_York")
    slots = plan_day(
        channel, "RRULE:FREQ=DAILY;BYHOUR=2;BYMINUTE=30", dt.date(2026, 3, 8), NEW_YORK
    )
    # 02:30 does not exist on 8 March 2026 in New York: the slot is at 03:30 EDT.
    assert [(s.hour, s.minute) for s in slots] == [(3, 30)]
    assert slots[0].utcoffset() == dt.timedelta(hours=-4)
    assert slots[0].astimezone(UTC) == dt.datetime(2026, 3, 8, 7, 30, tzinfo=UTC)


@pytest.mark.django_db(transaction=True)
def test_fall_back_publishes_a_repeated_time_once_at_the_first(broker):
    channel = ChannelFactory(timezone="America/New_York")
    slots = plan_day(
        channel, "RRULE:FREQ=DAILY;BYHOUR=1;BYMINUTE=30", dt.date(2026, 11, 1), NEW_YORK
    )
    assert len(slots) == 1
    # The first 01:30 is still EDT (UTC-4): 05:30 UTC, not 06:30 UTC.
    assert slots[0].astimezone(UTC) == dt.datetime(2026, 11, 1, 5, 30, tzinfo=UTC)


@pytest.mark.django_db(transaction=True)
def test_berlin_nine_oclock_stays_nine_in_winter_and_summer_after_reload(broker):
    channel = ChannelFactory(timezone="Europe/Berlin")
    schedule = services.schedule_save(
        schedule=Schedule(
            channel=channel, name="morning", recurrence=rule("RRULE:FREQ=DAILY;BYHOUR=9;BYMINUTE=0")
        )
    )
    reloaded = Schedule.objects.get(pk=schedule.pk)
    for day, offset in ((dt.date(2026, 1, 15), 1), (dt.date(2026, 7, 15), 2)):
        start = dt.datetime.combine(day, dt.time(), tzinfo=BERLIN).astimezone(UTC)
        slots = services.rules.occurrences(
            reloaded.recurrence,
            tz=reloaded.channel.tz,
            starts_on=reloaded.starts_on,
            start=start,
            end=start + dt.timedelta(days=1),
        )
        assert [s.astimezone(BERLIN).strftime("%H:%M") for s in slots] == ["09:00"]
        assert slots[0].hour == 9 - offset  # 08:00 UTC in winter, 07:00 UTC in summer


@pytest.mark.django_db(transaction=True)
def test_kolkata_half_hour_offset_keeps_the_minutes(broker):
    channel = ChannelFactory(timezone="Asia/Kolkata")
    slots = plan_day(channel, "RRULE:FREQ=DAILY;BYHOUR=9;BYMINUTE=15", dt.date(2026, 6, 1), KOLKATA)
    assert [(s.hour, s.minute) for s in slots] == [(9, 15)]
    assert slots[0].astimezone(UTC) == dt.datetime(2026, 6, 1, 3, 45, tzinfo=UTC)


@pytest.mark.django_db(transaction=True)
def test_changing_the_channel_time_zone_re_plans_future_slots(broker):
    now = dt.datetime(2026, 6, 1, 8, 1, tzinfo=UTC)
    channel = ChannelFactory(timezone="UTC")
    with time_machine.travel(now, tick=False):
        schedule = services.schedule_save(
            schedule=Schedule(
                channel=channel, name="x", recurrence=rule("RRULE:FREQ=HOURLY;BYMINUTE=30")
            )
        )
        before = set(
            Timeslot.objects.filter(status="scheduled").values_list("publish_at", flat=True)
        )
        assert before == {dt.datetime(2026, 6, 1, 8, 30, tzinfo=UTC)}
        channel.timezone = "Asia/Kolkata"  # +05:30: minute 30 local is minute 0 UTC
        services.channel_save(channel=channel)
    live = set(
        Timeslot.objects.filter(schedule=schedule, status="scheduled").values_list(
            "publish_at", flat=True
        )
    )
    assert live == {dt.datetime(2026, 6, 1, 9, 0, tzinfo=UTC)}
    canceled = Timeslot.objects.get(status="canceled")
    assert canceled.publish_at == dt.datetime(2026, 6, 1, 8, 30, tzinfo=UTC)
    assert "no longer" in canceled.reason
