"""The emergency stop with a real Celery worker and the real broker: a publish message the
worker already holds (an ETA message, reserved until its second) does nothing once the
stop committed, while a slot of another workspace in the same batch publishes."""

from __future__ import annotations

import threading

import pytest
from celery.signals import task_postrun, task_received

from publishing.models import Delivery, SandboxPost
from scheduling import enqueue, stops
from scheduling.models import Timeslot
from tests.conftest import wait_for
from tests.factories import ChannelFactory, QueueEntryFactory
from tests.publishing.slots import due_slot, message, soon

_held = threading.Event()
_outcomes: dict[int, str] = {}


@task_received.connect
def _on_received(request=None, **kwargs):
    if request is not None and request.name == "publishing.publish_timeslots":
        _held.set()


@task_postrun.connect
def _record(sender=None, args=None, retval=None, **kwargs):
    if sender is not None and sender.name == "publishing.publish_timeslots" and retval:
        for timeslot_id, _token in args[0]:
            _outcomes[timeslot_id] = retval.get(str(timeslot_id))


@pytest.mark.worker
def test_a_message_held_by_a_worker_does_nothing_after_the_stop(worker):
    stopped, running = ChannelFactory(), ChannelFactory()
    for channel in (stopped, running):
        QueueEntryFactory(channel=channel)
    at = soon(3)
    mine = [due_slot(stopped, at) for _ in range(3)]
    theirs = due_slot(running, at)
    _held.clear()
    enqueue.send_now([message(s) for s in [*mine, theirs]])  # one batch, one ETA second
    assert _held.wait(10), "the worker did not reserve the message"

    stop = stops.publishing_stop(workspace=stopped.workspace, label="test")
    assert stop.cutoff_at < at and stop.claimed_before == []

    wait_for(lambda: theirs.id in _outcomes, what="the held batch to run")
    assert all(_outcomes[s.id] == "stale" for s in mine)
    assert _outcomes[theirs.id] == "dispatched"
    wait_for(lambda: Timeslot.objects.get(id=theirs.id).status == Timeslot.Status.PUBLISHED)
    assert not Delivery.objects.filter(timeslot__in=mine).exists()
    assert SandboxPost.objects.count() == 1
    assert set(
        Timeslot.objects.filter(id__in=[s.id for s in mine]).values_list("status", flat=True)
    ) == {Timeslot.Status.CANCELED}
