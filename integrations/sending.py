"""Fan-out and sending of outbound events (issue 29, "events out").

1. `events_fan_out`: after the change commits (accounts.outbox queues it), each event gets
   its `data` frozen (integrations.payloads) and one EventDelivery per active endpoint of
   its workspace that wants its type — unique per (endpoint, event), so a fan-out run
   twice adds nothing — and the new deliveries are sent in chunks.
2. `deliveries_send`: a chunk claims its due, pending rows (`pending → sending`, under
   row locks, skipping rows another worker holds), POSTs them concurrently through the
   guarded transport (the webhook address rules, checked on the address connected to;
   no redirects), records every answer as an Attempt, then, each with a conditional
   UPDATE (`status = sending`): 2xx → `delivered`, never sent again; anything else →
   `pending` again after an exponential backoff, until 24 h after the event (`failed`).
3. `events_sweep` (beat, every minute): fans out events whose message was lost, sends
   due rows whose message was lost, takes back rows whose worker died mid-send (after
   LEASE: such a row may have reached its receiver, which dedupes on `webhook-id`), and
   deletes events older than RETENTION.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import defaultdict
from collections.abc import Iterable

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import OutboxEvent
from ground.http_transport import curl as netguard
from integrations import payloads, signing
from integrations.models import Attempt, Endpoint, EventDelivery
from queueloop.celery import send_many

log = logging.getLogger(__name__)

SEND_TASK = "integrations.send_deliveries"
CHUNK = 50  # deliveries per message (POSTed concurrently by one task)
WINDOW = dt.timedelta(hours=24)  # retried for this long after the event
FIRST_BACKOFF = dt.timedelta(seconds=30)
MAX_BACKOFF = dt.timedelta(hours=2)  # below the broker's visibility timeout (3 h)
LEASE = dt.timedelta(minutes=5)
RETENTION = dt.timedelta(days=30)
EXCERPT = 200
MAX_ANSWER_BYTES = 64 * 1024
S = EventDelivery.Status


def backoff(attempts: int) -> dt.timedelta:
    """The wait after the `attempts`-th failed try: 30 s, 1 min, 2 min, ... at most 2 h."""
    return min(FIRST_BACKOFF * 2 ** max(attempts - 1, 0), MAX_BACKOFF)


# --- Fan-out --------------------------------------------------------------------------------


def workspaces_listening(workspace_ids: set[int]) -> set[int]:
    """Those of the workspaces with an active endpoint (accounts.outbox asks, one query)."""
    return set(
        Endpoint.objects.filter(workspace_id__in=workspace_ids, is_active=True)
        .order_by()
        .values_list("workspace_id", flat=True)
        .distinct()
    )


def events_fan_out(*, event_ids: Iterable[int]) -> list[int]:
    """Make the events' deliveries (once) and send them after commit; their ids."""
    now = timezone.now()
    with transaction.atomic():
        events = list(
            OutboxEvent.objects.select_for_update(skip_locked=True).filter(
                id__in=list(event_ids), fanned_out_at__isnull=True
            )
        )
        if not events:
            return []
        endpoints: dict[int, list[Endpoint]] = defaultdict(list)
        for endpoint in Endpoint.objects.filter(
            workspace_id__in={e.workspace_id for e in events}, is_active=True
        ):
            endpoints[endpoint.workspace_id].append(endpoint)
        new = []
        for event in events:
            wanted = [p for p in endpoints[event.workspace_id] if p.wants(event.type)]
            if wanted and event.data is None:
                event.data = payloads.data_for(event)
                event.save(update_fields=["data"])
            new += [EventDelivery(endpoint=p, event=event, next_attempt_at=now) for p in wanted]
        EventDelivery.objects.bulk_create(new, ignore_conflicts=True)
        OutboxEvent.objects.filter(id__in=[e.id for e in events]).update(fanned_out_at=now)
        ids = list(
            EventDelivery.objects.filter(
                event_id__in=[e.id for e in events], status=S.PENDING
            ).values_list("id", flat=True)
        )
    transaction.on_commit(lambda: send_later(ids))
    return ids


def send_later(ids: list[int], *, eta: dt.datetime | None = None) -> None:
    """Queue the sends, a chunk per message (after commit)."""
    chunks = [ids[i : i + CHUNK] for i in range(0, len(ids), CHUNK)]
    try:
        send_many(SEND_TASK, [((chunk,), eta) for chunk in chunks], what="event delivery")
    except Exception:  # broker down: the sweep sends them when due
        log.warning("event deliveries %s..: not queued, left for the sweep", ids[:3])


# --- Sending --------------------------------------------------------------------------------


def _claim(ids: list[int], now: dt.datetime) -> list[EventDelivery]:
    with transaction.atomic():
        claimed = list(
            # Only the deliveries' rows ("self"): locking the joined endpoint too would make
            # a concurrent chunk for the same endpoint skip all of its rows.
            EventDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(
                id__in=ids, status=S.PENDING, next_attempt_at__lte=now, endpoint__is_active=True
            )
            .values_list("id", flat=True)
        )
        EventDelivery.objects.filter(id__in=claimed).update(
            status=S.SENDING, lease_until=now + LEASE
        )
    return list(EventDelivery.objects.filter(id__in=claimed).select_related("endpoint", "event"))


def _request(delivery: EventDelivery) -> netguard.Request:
    event = delivery.event
    if event.data is None:  # fanned out by an older run that froze nothing: freeze now
        event.data = payloads.data_for(event)
        OutboxEvent.objects.filter(id=event.id, data__isnull=True).update(data=event.data)
    body = payloads.body(event)
    headers = signing.headers(
        secret=delivery.endpoint.secret,
        msg_id=event.event_id,
        timestamp=int(time.time()),
        body=body,
    )
    return netguard.Request(
        "POST",
        delivery.endpoint.url,
        headers,
        body,
        settings.WEBHOOK_HTTP_TIMEOUT,
        MAX_ANSWER_BYTES,
    )


def _excerpt(answer: netguard.Fetched | Exception) -> str:
    if isinstance(answer, Exception):
        return f"Not delivered: {answer}"[:EXCERPT]
    return answer.body[:EXCERPT].decode("utf-8", "replace")


def deliveries_send(*, delivery_ids: Iterable[int]) -> dict[int, str]:
    """Send the due ones of these deliveries; each one's new status by id."""
    now = timezone.now()
    claimed = _claim(list(delivery_ids), now)
    if not claimed:
        return {}
    answers: dict[int, tuple[netguard.Fetched | Exception, int]] = {}
    started = time.monotonic()
    with netguard.calls() as calls:
        running = 0
        for delivery in claimed:
            try:
                calls.start(delivery.id, _request(delivery))
                running += 1
            except netguard.BlockedDestination as exc:
                answers[delivery.id] = (exc, 0)
        while running:
            for key, answer in calls.wait():
                answers[key] = (answer, round((time.monotonic() - started) * 1000))
                running -= 1
    return _record(claimed, answers, now=timezone.now())


def _record(claimed, answers, *, now: dt.datetime) -> dict[int, str]:
    statuses: dict[int, str] = {}
    retry: dict[dt.datetime, list[int]] = defaultdict(list)
    attempts = []
    with transaction.atomic():
        for delivery in claimed:
            answer, ms = answers[delivery.id]
            code = None if isinstance(answer, Exception) else answer.status
            status, at = _next(delivery, answer, code, now)
            fields = {"status": status, "attempts": F("attempts") + 1, "lease_until": None}
            if status == S.DELIVERED:
                fields["delivered_at"] = now
            elif status == S.PENDING:
                fields["next_attempt_at"] = at
            # Conditional: a row no longer ours (its endpoint deleted meanwhile, or taken
            # back by the sweep after the lease) is left alone, and gets no attempt row.
            if not EventDelivery.objects.filter(id=delivery.id, status=S.SENDING).update(**fields):
                continue
            if status == S.PENDING:
                retry[at].append(delivery.id)
            statuses[delivery.id] = status
            attempts.append(
                Attempt(
                    delivery=delivery,
                    at=now,
                    status_code=code,
                    excerpt=_excerpt(answer),
                    duration_ms=ms,
                )
            )
        Attempt.objects.bulk_create(attempts)
        for at, ids in retry.items():
            transaction.on_commit(lambda ids=ids, at=at: send_later(ids, eta=at))
    return statuses


def _next(delivery, answer, code, now) -> tuple[str, dt.datetime | None]:
    """The row's status after this answer, and when to try again (pending only)."""
    if code is not None and 200 <= code < 300:
        return S.DELIVERED, None
    refused = isinstance(answer, netguard.BlockedDestination) and not isinstance(
        answer, netguard.Unresolvable
    )
    at = now + backoff(delivery.attempts + 1)
    if refused or at > delivery.event.created_at + WINDOW:
        # A refused address is the endpoint's setting, not a passing failure.
        return S.FAILED, None
    return S.PENDING, at


def delivery_resend(*, delivery: EventDelivery) -> EventDelivery:
    """Send it again now (a person asked): any status but one being sent right now. The
    event keeps its id, so a receiver that already has it can tell."""
    now = timezone.now()
    changed = (
        EventDelivery.objects.filter(id=delivery.id)
        .exclude(status=S.SENDING)
        .update(status=S.PENDING, next_attempt_at=now, lease_until=None)
    )
    if changed:
        transaction.on_commit(lambda: send_later([delivery.id]))
    delivery.refresh_from_db()
    return delivery


# --- Sweep ----------------------------------------------------------------------------------


def events_sweep(*, now: dt.datetime | None = None, limit: int = 1000) -> dict[str, int]:
    """Repair lost messages and dead workers; drop old events (see the module's 3.)."""
    now = now or timezone.now()
    grace = now - dt.timedelta(minutes=1)  # the after-commit message normally does it
    lost = list(
        OutboxEvent.objects.filter(fanned_out_at__isnull=True, created_at__lte=grace)
        .order_by("created_at")
        .values_list("id", flat=True)[:limit]
    )
    fanned = len(events_fan_out(event_ids=lost)) if lost else 0
    with transaction.atomic():
        dead = list(
            EventDelivery.objects.select_for_update(skip_locked=True)
            .filter(status=S.SENDING, lease_until__lt=now)
            .values_list("id", flat=True)[:limit]
        )
        EventDelivery.objects.filter(id__in=dead, status=S.SENDING).update(
            status=S.PENDING, next_attempt_at=now, lease_until=None
        )
    due = dead + list(
        EventDelivery.objects.filter(
            status=S.PENDING, next_attempt_at__lte=grace, endpoint__is_active=True
        )
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )
    if due:
        send_later(due)
    # In bounded batches: the outbox holds every event, also of workspaces with no endpoint.
    expired = list(
        OutboxEvent.objects.filter(created_at__lt=now - RETENTION)
        .order_by("created_at")
        .values_list("id", flat=True)[:limit]
    )
    old = OutboxEvent.objects.filter(id__in=expired).delete()[0] if expired else 0
    return {"fanned_out": fanned, "taken_back": len(dead), "resent": len(due), "deleted": old}
