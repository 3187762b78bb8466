"""Slots the publishing tests send themselves, as the planner would (shared by the claim,
settle, delivery and real-worker tests)."""

from __future__ import annotations

import datetime as dt
import uuid

from django.utils import timezone

from scheduling import enqueue
from scheduling.models import Timeslot
from tests.factories import ScheduleFactory


def soon(seconds: float) -> dt.datetime:
    return timezone.now() + dt.timedelta(seconds=seconds)


def due_slot(channel, at, *, post=None) -> Timeslot:
    """A scheduled slot whose message we send ourselves (as the planner would)."""
    if post is None:
        schedule = ScheduleFactory(channel=channel, name=f"s-{uuid.uuid4().hex[:6]}")
        return Timeslot.objects.create(
            channel=channel, schedule=schedule, publish_at=at, planned_for=at, enqueued_at=at
        )
    return Timeslot.objects.create(channel=channel, post=post, publish_at=at, enqueued_at=at)


def message(slot: Timeslot) -> enqueue.Message:
    return enqueue.Message(slot.id, slot.token, slot.publish_at)
