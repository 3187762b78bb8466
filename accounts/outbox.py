"""Recording outbound events with the change they report (issue 29, "events out").

    record_event(workspace_id=..., type=EventType.TIMESLOT_PUBLISHED, payload={...})

The event is a row written in the caller's transaction: a rollback takes it with it, so
nothing is ever sent for a change that did not happen. After commit one message per chunk
asks the integrations app (by task name: it sits above every emitter) to fan the events
out to the workspace's endpoints; a lost message is caught by its sweep
(integrations.sweep_events), because the row is the truth.

A batch of slots records its events with one INSERT (`record_events`), never one per slot.
An event of a workspace with no active endpoint is not recorded at all: nobody would ever
receive it (an endpoint gets the events after its creation, never earlier ones), and it was
a fifth of the hot second's worker CPU (bench/README.md). Which workspaces listen is asked
of the integrations app, which registers its answer at start-up (`listeners_set`): this
app sits below it and cannot import it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from accounts.models import EventType, OutboxEvent
from queueloop.celery import send_many

log = logging.getLogger(__name__)

FAN_OUT_TASK = "integrations.fan_out_events"
CHUNK = 200


@dataclass(frozen=True)
class NewEvent:
    workspace_id: int
    type: EventType
    payload: dict


# Which of the given workspaces have an active endpoint (one query). Until the integrations
# app registers its answer (a process that never loads it), every workspace listens.
Listeners = Callable[[set[int]], set[int]]


def _everyone(workspace_ids: set[int]) -> set[int]:
    return workspace_ids


_listeners: Listeners = _everyone


def listeners_set(answer: Listeners) -> None:
    """Register who listens (integrations.apps, at start-up)."""
    global _listeners
    _listeners = answer


def record_events(events: Iterable[NewEvent]) -> list[int]:
    """Record the events of the workspaces that listen (one query to ask, one INSERT) and
    fan them out after commit; return their row ids."""
    events = list(events)
    if not events:
        return []
    listening = _listeners({e.workspace_id for e in events})
    now = timezone.now()
    rows = [
        OutboxEvent(
            public_id=uuid.uuid4(),
            workspace_id=e.workspace_id,
            type=EventType(e.type),
            facts=e.payload,
            created_at=now,
        )
        for e in events
        if e.workspace_id in listening
    ]
    if not rows:
        return []
    ids = [row.id for row in OutboxEvent.objects.bulk_create(rows)]
    transaction.on_commit(lambda: fan_out_later(ids))
    return ids


def record_event(*, workspace_id: int, type: EventType, payload: dict) -> int | None:
    """Record one event in the caller's transaction; its row id (None: nobody listens)."""
    ids = record_events([NewEvent(workspace_id, type, payload)])
    return ids[0] if ids else None


def fan_out_later(ids: list[int]) -> None:
    """Queue the fan-out, a chunk per message (call it after commit)."""
    chunks = [ids[i : i + CHUNK] for i in range(0, len(ids), CHUNK)]
    try:
        send_many(FAN_OUT_TASK, [((chunk,), None) for chunk in chunks], what="event")
    except Exception:  # broker down: the sweep fans them out later
        log.warning("events %s..: fan-out not queued, left for the sweep", ids[:3])
