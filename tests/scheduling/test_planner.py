from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from accounts.models import Notice
from channels.models import Channel
from scheduling import services
from scheduling.models import PlannerState, Timeslot
from tests.factories import ChannelFactory, ScheduleFactory, rule

UTC = dt.UTC
NOW = dt.datetime(2026, 6, 1, 10, 0, tzinfo=UTC)  # a Monday, top of the hour


def every_hour_at(minute: int):
    return rule(f"RRULE:FREQ=HOURLY;BYMINUTE={minute}")


@pytest.mark.django_db(transaction=True)
def test_planning_is_idempotent_and_enqueues_once(broker):
    ScheduleFactory(recurrence=every_hour_at(30))
    with time_machine.travel(NOW, tick=False):
        first = services.planner_run()
        second = services.planner_run()
    # Window [10:00, 11:15): 10:30 and 11:30? no — 11:30 is past 11:15, so one slot.
    assert first.created == 1 and first.enqueued == 1
    assert second.created == 0 and second.enqueued == 0
    assert Timeslot.objects.count() == 1
    assert len(broker.publish_messages()) == 1


@pytest.mark.django_db(transaction=True)
def test_missed_beat_hour_is_caught_up_from_the_watermark(broker):
    ScheduleFactory(recurrence=every_hour_at(50))
    with time_machine.travel(NOW, tick=False):
        services.planner_run()  # plans [10:00, 11:15): 10:50
    assert PlannerState.objects.get().planned_until == NOW + dt.timedelta(minutes=75)
    # Beat misses 11:00; the 12:00 run starts from the watermark 11:15, not from 12:00,
    # so 11:50 is planned; MISSED_AFTER (30 min) bounds how far back: 11:30 onwards.
    with time_machine.travel(NOW + dt.timedelta(hours=2), tick=False):
        result = services.planner_run()
    times = sorted(Timeslot.objects.values_list("publish_at", flat=True))
    assert times == [
        dt.datetime(2026, 6, 1, 10, 50, tzinfo=UTC),
        dt.datetime(2026, 6, 1, 11, 50, tzinfo=UTC),
        dt.datetime(2026, 6, 1, 12, 50, tzinfo=UTC),
    ]
    assert result.start == NOW + dt.timedelta(minutes=90)  # now - MISSED_AFTER, not 11:15


@pytest.mark.django_db(transaction=True)
def test_planner_never_plans_further_back_than_missed_after(broker):
    ScheduleFactory(recurrence=every_hour_at(0))
    with time_machine.travel(NOW, tick=False):
        services.planner_run()
    broker.purge()
    with time_machine.travel(NOW + dt.timedelta(days=7), tick=False):
        result = services.planner_run()
    # A week down publishes no week of past slots: only the new window is scheduled...
    assert Timeslot.objects.filter(status="scheduled").count() == 2 + 2
    assert len(broker.publish_messages()) == 2
    # ...but the outage's occurrences are not silently dropped: each is recorded as missed
    # with a reason (11:15 on day 0 to 30 min before now), and the owner is told once.
    missed = Timeslot.objects.filter(status="missed")
    assert result.missed == missed.count() == 7 * 24 - 1 - 1
    assert {m.reason for m in missed} == {
        "Missed: the planner (celery beat) was not running from 2026-06-01 11:15 to "
        "2026-06-08 09:30 UTC, so this slot was never planned and was not sent late."
    }
    assert Notice.objects.get(kind="timeslot_missed").message.startswith("166 slot(s) were missed")


def _planner_queries(n_channels: int) -> int:
    for _ in range(n_channels):
        ScheduleFactory(recurrence=every_hour_at(30), channel=ChannelFactory(with_sandbox=False))
    with time_machine.travel(NOW, tick=False), CaptureQueriesContext(connection) as ctx:
        result = services.planner_run(batch_size=500)
    assert result.created == n_channels
    return len(ctx.captured_queries)


@pytest.mark.postgres(
    reason="needs PostgreSQL: Django splits SQLite INSERTs at 999 parameters, so the count grows"
)
@pytest.mark.django_db(transaction=True)
def test_planner_query_count_does_not_grow_with_channels(broker):
    small = _planner_queries(20)
    Channel.objects.all().delete()
    PlannerState.objects.all().delete()
    # Same count for 20 and 400 channels (both one batch of 500). The 17 statements:
    # planner state SELECT + BEGIN/INSERT/COMMIT (first run creates it); schedules JOIN
    # channels; BEGIN/SELECT FOR UPDATE the batch's channels/existing slots in the
    # window/the workspaces' blackouts in it/the channels' counted times (their
    # bound)/INSERT slots/COMMIT; BEGIN/SELECT FOR
    # UPDATE slots to enqueue/UPDATE enqueued_at/COMMIT; watermark UPDATE.
    large = _planner_queries(400)
    assert small == large
    assert small == 17


@pytest.mark.django_db(transaction=True)
def test_rolled_back_transaction_enqueues_nothing(broker):
    schedule = ScheduleFactory(recurrence=every_hour_at(30))
    with time_machine.travel(NOW, tick=False):
        with pytest.raises(RuntimeError), transaction.atomic():
            services.schedule_reconcile(schedule=schedule)
            assert Timeslot.objects.count() == 1
            raise RuntimeError("roll back")
        assert Timeslot.objects.count() == 0
        assert broker.publish_messages() == []
        services.schedule_reconcile(schedule=schedule)
    messages = broker.publish_messages()
    slot = Timeslot.objects.get()
    assert [m["args"] for m in messages] == [[slot.id, str(slot.token)]]
    assert messages[0]["eta"].startswith("2026-06-01T10:30:00")


@pytest.mark.django_db(transaction=True)
def test_paused_channel_and_inactive_schedule_are_not_planned(broker):
    ScheduleFactory(recurrence=every_hour_at(30), channel=ChannelFactory(is_paused=True))
    ScheduleFactory(recurrence=every_hour_at(30), is_active=False)
    with time_machine.travel(NOW, tick=False):
        result = services.planner_run()
    assert result.created == 0
    assert Timeslot.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_owner_is_told_before_a_slot_finds_the_queue_empty_once_a_day(broker):
    from tests.factories import QueueEntryFactory

    empty = ChannelFactory(name="#empty")
    ScheduleFactory(channel=empty, recurrence=every_hour_at(30))
    full = ChannelFactory(name="#full")
    QueueEntryFactory(channel=full)
    ScheduleFactory(channel=full, recurrence=every_hour_at(30))
    with time_machine.travel(NOW, tick=False):
        assert services.plan_upcoming().warned_empty == 1
    with time_machine.travel(NOW + dt.timedelta(hours=1), tick=False):
        assert services.plan_upcoming().warned_empty == 0  # told already today
    [notice] = Notice.objects.filter(kind="queue_empty")
    assert notice.message == (
        "#empty will have nothing to publish at its next slot: its queue is empty."
    )
    assert notice.workspace_id == empty.workspace_id
