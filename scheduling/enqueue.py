"""Putting publish messages on the broker, only ever after the transaction commits.

A message is a hint: "timeslot N with token T is due at ETA". The database stays the
truth; a message that is lost is replaced by the watchdog, a stale one is a no-op.
`enqueued_at` is set in the same transaction that decides to enqueue and cleared again if
the broker refuses, so the watchdog finds slots whose message never left.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from queueloop.celery import app as celery_app
from scheduling.models import Timeslot

log = logging.getLogger(__name__)

# Messages per Redis pipeline flush (kombu's Producer.batch).
BATCH = 500


@dataclass(frozen=True)
class Message:
    timeslot_id: int
    token: uuid.UUID
    eta: dt.datetime


def send_now(messages: list[Message]) -> int:
    """Send publish messages through one pooled producer; return how many went out."""
    from publishing.tasks import publish_timeslot

    try:
        with celery_app.producer_or_acquire() as producer, producer.batch(max_size=BATCH):
            # One Redis pipeline round trip per BATCH messages instead of one per message.
            for i, message in enumerate(messages):
                token = str(message.token)
                publish_timeslot.apply_async(
                    (message.timeslot_id, token),
                    eta=message.eta,
                    producer=producer,
                    # Performance (bench/README.md: ~20% of each broker write): Celery
                    # declares the queue on every publish (copying the kombu entities each
                    # time) and builds argsrepr with saferepr. Once per batch is enough
                    # (on Redis a declare only records the binding), and the repr of
                    # (int, str) is trivial.
                    declare=None if i == 0 else [],
                    argsrepr=f"({message.timeslot_id}, {token!r})",
                )
    except Exception:
        # We cannot know which pipelined writes landed: mark them all not enqueued. The
        # watchdog sends them again; a duplicate is harmless (same token, one claim wins).
        log.exception("broker refused publish messages; the watchdog will retry them")
        Timeslot.objects.filter(
            id__in=[m.timeslot_id for m in messages], status=Timeslot.Status.SCHEDULED
        ).update(enqueued_at=None)
        return 0
    return len(messages)


def on_commit(messages: Iterable[Message]) -> None:
    """Send the messages after the current transaction commits; nothing if it rolls back."""
    messages = list(messages)
    if messages:
        transaction.on_commit(lambda: send_now(messages))


def enqueue_due(
    *, until: dt.datetime, now: dt.datetime | None = None, batch_size: int | None = None, **filters
) -> int:
    """Enqueue every scheduled, not yet enqueued slot due before `until`, in batches.

    Two queries a batch: lock the rows (skipping rows another planner holds) and stamp
    them, then the broker writes after commit.
    """
    now = now or timezone.now()
    batch_size = batch_size or settings.PLANNER_BATCH_SIZE
    total = 0
    while True:
        with transaction.atomic():
            rows = list(
                Timeslot.objects.select_for_update(skip_locked=True)
                .filter(
                    status=Timeslot.Status.SCHEDULED,
                    enqueued_at__isnull=True,
                    publish_at__lt=until,
                    **filters,
                )
                .order_by("publish_at", "id")
                .values_list("id", "token", "publish_at")[:batch_size]
            )
            if not rows:
                return total
            Timeslot.objects.filter(id__in=[r[0] for r in rows]).update(enqueued_at=now)
            on_commit(Message(id_, token, eta) for id_, token, eta in rows)
        total += len(rows)
        if len(rows) < batch_size:
            return total
