"""Real concurrency on PostgreSQL: threads with their own connections race for the same rows."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from publishing import services
from publishing.models import Delivery
from scheduling.models import Timeslot
from tests.conftest import race
from tests.factories import ChannelFactory, QueueEntryFactory, ScheduleFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
T0 = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)


def test_two_slots_due_at_once_take_two_different_posts():
    channel = ChannelFactory()
    for i in range(3):
        QueueEntryFactory(channel=channel, position=i, post__text=f"post {i}")
    schedule_a, schedule_b = ScheduleFactory(channel=channel), ScheduleFactory(channel=channel)
    slots = [
        Timeslot.objects.create(channel=channel, schedule=s, publish_at=T0, planned_for=T0)
        for s in (schedule_a, schedule_b)
    ]
    with time_machine.travel(T0, tick=False):
        outcomes = race(
            *[
                lambda s=s: services.timeslot_publish(timeslot_id=s.id, token=str(s.token))
                for s in slots
            ]
        )
    assert outcomes == [services.Outcome.DISPATCHED, services.Outcome.DISPATCHED]
    posts = list(Timeslot.objects.values_list("published_post__text", flat=True))
    assert sorted(posts) == ["post 0", "post 1"]


def test_one_slot_claimed_by_two_workers_publishes_once():
    channel = ChannelFactory()
    QueueEntryFactory(channel=channel)
    slot = Timeslot.objects.create(
        channel=channel, schedule=ScheduleFactory(channel=channel), publish_at=T0, planned_for=T0
    )
    with time_machine.travel(T0, tick=False):
        outcomes = race(
            *[lambda: services.timeslot_publish(timeslot_id=slot.id, token=str(slot.token))] * 4
        )
    assert outcomes.count(services.Outcome.DISPATCHED) == 1
    assert Delivery.objects.filter(timeslot=slot).count() == 1


def test_two_deliveries_finishing_at_once_settle_the_slot_once():
    from accounts.models import Notice

    channel = ChannelFactory()
    channel.accounts.add(ChannelFactory(workspace=channel.workspace).accounts.get())
    QueueEntryFactory(channel=channel)
    slot = Timeslot.objects.create(
        channel=channel, schedule=ScheduleFactory(channel=channel), publish_at=T0, planned_for=T0
    )
    with time_machine.travel(T0, tick=False):
        services.timeslot_publish(timeslot_id=slot.id, token=str(slot.token))
        ids = list(Delivery.objects.filter(timeslot=slot).values_list("id", flat=True))
        assert len(ids) == 2
        # Both deliveries are marked failed concurrently, then both try to settle.
        Delivery.objects.filter(id__in=ids).update(status=Delivery.Status.FAILED, last_error="x")
        settled = race(*[lambda: services.timeslot_settle(timeslot_id=slot.id)] * 2)
    assert settled.count(Timeslot.Status.FAILED) == 1 and settled.count(None) == 1
    slot.refresh_from_db()
    assert slot.status == Timeslot.Status.FAILED
    assert Notice.objects.filter(kind=Notice.Kind.TIMESLOT_FAILED).count() == 1
