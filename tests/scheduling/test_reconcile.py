"""Editing a schedule reconciles its future slots; moving, canceling and pinning single slots."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core.exceptions import ValidationError

from scheduling import services
from scheduling.models import Schedule, Timeslot
from scheduling.reasons import Reason
from tests.factories import ChannelFactory, PostFactory, rule

UTC = dt.UTC
NOW = dt.datetime(2026, 6, 1, 8, 5, tzinfo=UTC)


def at(hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 6, 1, hour, minute, tzinfo=UTC)


def live(schedule) -> set[dt.datetime]:
    return set(
        Timeslot.objects.filter(schedule=schedule, status="scheduled").values_list(
            "publish_at", flat=True
        )
    )


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.mark.django_db(transaction=True)
def test_new_schedule_is_planned_at_once_with_no_past_slots(broker, frozen):
    schedule = services.schedule_save(
        schedule=Schedule(
            channel=ChannelFactory(), name="q", recurrence=rule("RRULE:FREQ=MINUTELY;INTERVAL=15")
        )
    )
    # From 08:05 to 09:20 (horizon 75 min): 08:15 .. 09:15; never 08:00 (past).
    assert live(schedule) == {at(8, 15), at(8, 30), at(8, 45), at(9, 0), at(9, 15)}
    assert len(broker.publish_messages()) == 5


@pytest.mark.django_db(transaction=True)
def test_edit_cancels_what_no_longer_matches_creates_new_and_leaves_moved_slots(broker, frozen):
    frozen.move_to(at(8, 20))
    schedule = services.schedule_save(
        schedule=Schedule(
            channel=ChannelFactory(), name="q", recurrence=rule("RRULE:FREQ=HOURLY;BYMINUTE=30")
        )
    )
    assert live(schedule) == {at(8, 30), at(9, 30)}
    moved = Timeslot.objects.get(schedule=schedule, publish_at=at(9, 30))
    services.timeslot_reschedule(timeslot=moved, publish_at=at(9, 10))

    schedule.recurrence = rule("RRULE:FREQ=HOURLY;BYMINUTE=45")
    services.schedule_save(schedule=schedule)

    assert live(schedule) == {at(8, 45), at(9, 10)}  # 9:10 is the detached, moved slot
    old = Timeslot.objects.get(schedule=schedule, publish_at=at(8, 30))
    assert old.status == "canceled" and "no longer" in old.reason
    moved.refresh_from_db()
    assert moved.detached and moved.status == "scheduled"


@pytest.mark.django_db(transaction=True)
def test_edit_back_revives_a_slot_instead_of_duplicating_it(broker, frozen):
    schedule = services.schedule_save(
        schedule=Schedule(
            channel=ChannelFactory(), name="q", recurrence=rule("RRULE:FREQ=DAILY;BYHOUR=9")
        )
    )
    schedule.recurrence = rule("RRULE:FREQ=DAILY;BYHOUR=8;BYMINUTE=50")
    services.schedule_save(schedule=schedule)
    schedule.recurrence = rule("RRULE:FREQ=DAILY;BYHOUR=9")
    services.schedule_save(schedule=schedule)
    assert live(schedule) == {at(9)}
    assert Timeslot.objects.filter(schedule=schedule, publish_at=at(9)).count() == 1


@pytest.mark.django_db(transaction=True)
def test_turning_a_schedule_off_cancels_its_future_slots(broker, frozen):
    schedule = services.schedule_save(
        schedule=Schedule(
            channel=ChannelFactory(), name="q", recurrence=rule("RRULE:FREQ=HOURLY;BYMINUTE=30")
        )
    )
    schedule.is_active = False
    services.schedule_save(schedule=schedule)
    assert live(schedule) == set()
    assert set(Timeslot.objects.values_list("reason_code", flat=True)) == {Reason.SCHEDULE_OFF}


@pytest.mark.django_db(transaction=True)
def test_a_moved_slot_is_not_planned_again_by_the_planner(broker, frozen):
    frozen.move_to(at(8, 20))
    schedule = services.schedule_save(
        schedule=Schedule(
            channel=ChannelFactory(), name="q", recurrence=rule("RRULE:FREQ=HOURLY;BYMINUTE=30")
        )
    )
    slot = Timeslot.objects.get(schedule=schedule, publish_at=at(8, 30))
    services.timeslot_reschedule(timeslot=slot, publish_at=at(8, 40))
    services.planner_run()
    assert live(schedule) == {at(8, 40), at(9, 30)}


@pytest.mark.django_db(transaction=True)
def test_reschedule_rotates_the_token_and_enqueues_a_new_message(broker, frozen):
    channel = ChannelFactory()
    slot = services.timeslot_pin(
        post=PostFactory(workspace=channel.workspace), channel=channel, publish_at=at(9)
    )
    first_token = slot.token
    services.timeslot_reschedule(timeslot=slot, publish_at=at(9, 5))
    assert slot.token != first_token
    tokens = [m["args"][1] for m in broker.publish_messages()]
    assert tokens == [str(first_token), str(slot.token)]


@pytest.mark.django_db(transaction=True)
def test_pin_beyond_the_horizon_is_enqueued_later_by_the_planner(broker, frozen):
    channel = ChannelFactory()
    slot = services.timeslot_pin(
        post=PostFactory(workspace=channel.workspace),
        channel=channel,
        publish_at=NOW + dt.timedelta(days=2),
    )
    assert broker.publish_messages() == []
    assert slot.enqueued_at is None
    frozen.move_to(NOW + dt.timedelta(days=2) - dt.timedelta(minutes=30))
    services.planner_run()
    assert [m["args"][0] for m in broker.publish_messages()] == [slot.id]


@pytest.mark.django_db(transaction=True)
def test_bad_single_slot_changes_are_refused_and_change_nothing(broker, frozen):
    channel = ChannelFactory()
    other = ChannelFactory()
    post = PostFactory(workspace=channel.workspace)
    with pytest.raises(ValidationError, match="past"):
        services.timeslot_pin(post=post, channel=channel, publish_at=NOW - dt.timedelta(hours=1))
    with pytest.raises(ValidationError, match="different workspaces"):
        services.timeslot_pin(post=post, channel=other, publish_at=at(9))
    with pytest.raises(ValidationError, match="time zone"):
        services.timeslot_pin(post=post, channel=channel, publish_at=dt.datetime(2026, 6, 1, 9))
    assert not Timeslot.objects.exists()
    slot = services.timeslot_pin(post=post, channel=channel, publish_at=at(9))
    services.timeslot_cancel(timeslot=slot)
    with pytest.raises(ValidationError, match="cannot be moved"):
        services.timeslot_reschedule(timeslot=slot, publish_at=at(10))
    with pytest.raises(ValidationError, match="cannot be canceled"):
        services.timeslot_cancel(timeslot=slot)
    slot.refresh_from_db()
    assert slot.publish_at == at(9) and slot.status == "canceled"


@pytest.mark.django_db(transaction=True)
def test_invalid_rules_are_refused(broker, frozen):
    channel = ChannelFactory()
    for text, message in [
        ("RRULE:FREQ=SECONDLY", "once a minute"),
        ("EXDATE:20260601T090000", "at least one RRULE"),
    ]:
        with pytest.raises(ValidationError, match=message):
            services.schedule_save(
                schedule=Schedule(channel=channel, name="bad", recurrence=rule(text))
            )
    with pytest.raises(ValidationError, match="Not a valid recurrence rule"):
        services.rules.parse("RRULE:FREQ=DAILY;BYHOUR=24")
    assert not Schedule.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_pausing_cancels_with_that_reason_and_resuming_brings_the_slots_back(broker, frozen):
    channel = ChannelFactory()
    schedule = services.schedule_save(
        schedule=Schedule(
            channel=channel, name="q", recurrence=rule("RRULE:FREQ=HOURLY;BYMINUTE=30")
        )
    )
    assert live(schedule) == {at(8, 30)}
    channel.is_paused = True
    services.channel_save(channel=channel)
    assert live(schedule) == set()
    assert set(Timeslot.objects.values_list("reason_code", flat=True)) == {Reason.CHANNEL_PAUSED}
    channel.is_paused = False
    services.channel_save(channel=channel)
    assert live(schedule) == {at(8, 30)}
    assert Timeslot.objects.count() == 1
