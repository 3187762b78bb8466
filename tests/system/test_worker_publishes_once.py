"""With a real Celery worker, the real broker and the real database: tokens make every stale
message harmless, and a slot publishes exactly once, at its last time."""

from __future__ import annotations

import datetime as dt

import pytest
from celery.signals import task_postrun
from django.test import override_settings
from django.utils import timezone

from publishing.models import Delivery, SandboxPost
from scheduling import enqueue, services
from scheduling.models import Timeslot
from tests.conftest import wait_for
from tests.factories import ChannelFactory, QueueEntryFactory

pytestmark = pytest.mark.worker


def soon(seconds: float) -> dt.datetime:
    return timezone.now() + dt.timedelta(seconds=seconds)


def pinned_slot(channel, at):
    post = QueueEntryFactory(channel=channel).post
    return services.timeslot_pin(post=post, channel=channel, publish_at=at)


def test_slot_moved_twice_publishes_once_at_the_last_time(worker):
    channel = ChannelFactory()
    slot = pinned_slot(channel, soon(1))
    services.timeslot_reschedule(timeslot=slot, publish_at=soon(1.5))
    last = soon(2.5)
    services.timeslot_reschedule(timeslot=slot, publish_at=last)

    wait_for(
        lambda: Timeslot.objects.get(id=slot.id).status == Timeslot.Status.PUBLISHED,
        what="the moved slot to publish",
    )
    slot.refresh_from_db()
    assert slot.published_at >= last
    assert Delivery.objects.filter(timeslot=slot).count() == 1
    assert SandboxPost.objects.count() == 1


@override_settings(CHANNEL_MIN_INTERVAL=0)  # several slots of one channel in a second
def test_canceled_and_deleted_slots_never_publish(worker):
    channel = ChannelFactory()
    canceled = pinned_slot(channel, soon(0.5))
    deleted = pinned_slot(channel, soon(0.5))
    control = pinned_slot(channel, soon(1.0))
    services.timeslot_cancel(timeslot=canceled)
    Timeslot.objects.filter(id=deleted.id).delete()

    # The control slot's message is behind the others in the queue: once it has
    # published, the worker has consumed the canceled and deleted slots' messages too.
    wait_for(
        lambda: Timeslot.objects.get(id=control.id).status == Timeslot.Status.PUBLISHED,
        what="the control slot",
    )
    canceled.refresh_from_db()
    assert canceled.status == Timeslot.Status.CANCELED
    assert not Delivery.objects.filter(timeslot_id__in=[canceled.id, deleted.id]).exists()
    assert SandboxPost.objects.count() == 1


_runs: list[tuple[int, str]] = []


@task_postrun.connect
def _record_publish_run(sender=None, args=None, retval=None, **kwargs):
    if sender is None:
        return
    if sender.name == "publishing.publish_timeslots":
        for timeslot_id, _token in args[0]:
            _runs.append((timeslot_id, retval.get(str(timeslot_id), "stale")))
    elif sender.name == "publishing.publish_timeslot":
        _runs.append((args[0], retval))


def finished_publish_runs(timeslot_id: int) -> list[str]:
    return [retval for id_, retval in _runs if id_ == timeslot_id]


def test_same_message_delivered_twice_publishes_once(worker):
    channel = ChannelFactory()
    slot = pinned_slot(channel, soon(0.5))
    # A duplicate of the exact message (id, token), as a broker redelivery would produce.
    enqueue.send_now([enqueue.Message(slot.id, slot.token, slot.publish_at)])
    enqueue.send_now([enqueue.Message(slot.id, slot.token, slot.publish_at)])

    # Count finished runs of the publish task (Celery's own signal) until all three
    # messages — the original and both duplicates — have been consumed.
    wait_for(lambda: len(finished_publish_runs(slot.id)) >= 3, what="all three messages to run")
    wait_for(
        lambda: Timeslot.objects.get(id=slot.id).status == Timeslot.Status.PUBLISHED,
        what="the one delivery to finish",
    )
    runs = finished_publish_runs(slot.id)
    assert runs.count("dispatched") == 1
    assert set(runs) - {"dispatched"} <= {"stale", "lost_race"}
    assert Delivery.objects.filter(timeslot=slot).count() == 1
    assert SandboxPost.objects.count() == 1


def test_planned_schedule_slot_publishes_through_the_worker(worker):
    from tests.factories import ScheduleFactory, rule

    channel = ChannelFactory()  # UTC, so the RDATE below is UTC wall time
    QueueEntryFactory(channel=channel, post__text="from the planner")
    at = (timezone.now() + dt.timedelta(seconds=3)).replace(microsecond=0)
    schedule = ScheduleFactory(channel=channel, recurrence=rule(f"RDATE:{at:%Y%m%dT%H%M%S}"))
    result = services.planner_run()
    assert result.created == 1 and result.enqueued == 1
    slot = Timeslot.objects.get(schedule=schedule)
    assert slot.publish_at == at
    wait_for(
        lambda: Timeslot.objects.get(id=slot.id).status == Timeslot.Status.PUBLISHED,
        what="the planned slot",
    )
    slot.refresh_from_db()
    assert slot.published_at >= at
    assert SandboxPost.objects.get().text == "from the planner"
