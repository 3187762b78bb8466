"""Putting publish messages on the broker, only ever after the transaction commits.

A message is a hint: "these (timeslot, token) pairs are due at ETA". The database stays the
truth; a message that is lost is replaced by the watchdog, a stale pair is a no-op.
`enqueued_at` is set in the same transaction that decides to enqueue and cleared again if
the broker refuses, so the watchdog finds slots whose message never left.

One message carries every slot due in the same second, up to PUBLISH_BATCH_SIZE (DESIGN
§3): a hot second of 2,000 slots is 10 messages and 10 task runs, not 2,000. The task is
sent by name: `scheduling` sits below `publishing` (DESIGN §1) and never imports it.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ground import events
from queueloop.celery import send_many
from scheduling.models import Timeslot

log = logging.getLogger(__name__)

PUBLISH_TASK = "publishing.publish_timeslots"
# A message may arrive a little early (clock skew between hosts, or a slot later in the
# same second as its batch's ETA); within this it runs. The one tolerance for publish and
# deliver messages alike (publishing.claim, publishing.delivery).
EARLY_TOLERANCE = dt.timedelta(seconds=1)


@dataclass(frozen=True)
class Message:
    timeslot_id: int
    token: uuid.UUID
    eta: dt.datetime


def batches(messages: Iterable[Message], *, size: int) -> list[tuple[dt.datetime, list]]:
    """Group by ETA second, then cut into chunks of `size`: [(eta, [[id, token], ...])].

    A chunk's ETA is its earliest slot's; the rest of that second are at most 1 s later,
    inside the publisher's early tolerance, so one message claims them all.
    """
    by_second: dict[dt.datetime, list[Message]] = defaultdict(list)
    for m in messages:
        by_second[m.eta.replace(microsecond=0)].append(m)
    out = []
    for second in sorted(by_second):
        group = sorted(by_second[second], key=lambda m: (m.eta, m.timeslot_id))
        for i in range(0, len(group), size):
            chunk = group[i : i + size]
            out.append((chunk[0].eta, [[m.timeslot_id, str(m.token)] for m in chunk]))
    return out


def send_now(messages: list[Message]) -> int:
    """Send publish messages through one pooled producer; return how many slots went out."""
    chunks = batches(messages, size=settings.PUBLISH_BATCH_SIZE)
    try:
        send_many(PUBLISH_TASK, [((pairs,), eta) for eta, pairs in chunks], what="slots")
        events.log_events(
            "enqueued", ({"timeslot_id": m.timeslot_id, "eta": m.eta} for m in messages)
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
