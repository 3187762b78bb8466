"""The emergency stop as every caller presses it (the page, the API, `manage.py
stop_publishing`, the drill): scheduling's stop (slots, tokens, channels) with publishing's
part — `stop_hold` in the stop's transaction, then `drain` after it committed — so that
nothing of the scope reaches a network after the stated cutoff.

Why nothing can (scheduling/stops.py says it for the slots):
- every call begins through one conditional UPDATE that also asks whether a stop is in
  force (publishing/sql.py `deliveries_begin`), and so does a first comment's claim: after
  the stop committed, no call of the scope begins;
- the calls that began before it are waited for (`drain`): each is recorded (sent, failed,
  unconfirmed...) only after its network answered, so once none is `sending` any more,
  every one of them has arrived. A delivery they gave back (a retry, the call budget
  spent) is failed with the stop's reason on the way;
- the cutoff is read from the database's clock after that: at or after the last arrival.

A call that outlives STOP_DRAIN (a worker killed mid-call: the watchdog will judge it)
is the one exception; the answer lists it as still in flight (publishing/stop_answer.py)."""

from __future__ import annotations

import datetime as dt
import time

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.db.models.functions import Now

from accounts.models import Workspace
from publishing.models import Delivery
from scheduling import reasons, stops
from scheduling.models import Stop, Timeslot
from scheduling.reasons import Reason, Stamp

# settings.STOP_DRAIN: how long the stop waits for the calls already under way to be
# answered. A chunk starts no call after its call budget and every network call has its
# own timeout, so a living worker answers well within it; a dead one is the watchdog's.
DRAIN_POLL = 0.05


def publishing_stop(*, workspace: Workspace | None, user=None, label: str = "") -> Stop:
    stop = stops.publishing_stop(workspace=workspace, user=user, label=label, hold=stop_hold)
    if not connection.in_atomic_block:
        # Inside a caller's transaction (the API's idempotency record) nothing of ours is
        # committed yet for a worker to see: the answer lists the calls under way instead.
        drain(stop)
    return stop


def _stamp(stop: Stop) -> Stamp:
    return reasons.stamp(Reason.STOPPED, who=stop.by_label, at=stop.created_at.astimezone(dt.UTC))


def stop_hold(slot_ids: list[int], stamp: Stamp) -> list[int]:
    """Inside the stop's transaction: every delivery of these claimed slots that no call
    has begun — `pending`, or `sending` but not begun (`sending_started_at` empty) — ends
    `failed` with the stop's reason; the chunk's begin UPDATE then takes nothing. A slot
    with no delivery under way any more ends `canceled` with the reason. Returns the slots
    whose publication is under way: the only ones whose calls may still be answered."""
    if not slot_ids:
        return []
    S = Delivery.Status
    Delivery.objects.filter(
        Q(status=S.PENDING) | Q(status=S.SENDING, sending_started_at__isnull=True),
        timeslot_id__in=slot_ids,
    ).update(status=S.FAILED, last_error=f"Not sent: {stamp.text}", next_attempt_at=None)
    under_way = set(
        Delivery.objects.filter(timeslot_id__in=slot_ids)
        .exclude(status=S.FAILED)
        .values_list("timeslot_id", flat=True)
    )
    held = [i for i in slot_ids if i not in under_way]
    Timeslot.objects.filter(id__in=held, status=Timeslot.Status.PUBLISHING).update(
        status=Timeslot.Status.CANCELED, **stamp.fields()
    )
    return sorted(under_way)


def _scope(stop: Stop) -> Q:
    return Q(account__workspace_id=stop.workspace_id) if stop.workspace_id else Q()


def _hold_comments(stop: Stop, stamp: Stamp) -> None:
    """First comments still due in the scope are not sent (their claim also sees the stop,
    publishing/comments.py): failed with the reason, never caught up after resume."""
    C = Delivery.CommentStatus
    Delivery.objects.filter(_scope(stop), comment_status=C.DUE).update(
        comment_status=C.FAILED, comment_error=f"Not sent: {stamp.text}"
    )


def _under_way(stop: Stop) -> bool:
    S, C = Delivery.Status, Delivery.CommentStatus
    return (
        Delivery.objects.filter(timeslot_id__in=stop.claimed_before, status=S.SENDING).exists()
        or Delivery.objects.filter(_scope(stop), comment_status=C.SENDING).exists()
    )


def drain(stop: Stop) -> Stop:
    """After the stop committed: wait (at most settings.STOP_DRAIN) until no call of the scope is
    under way, failing with the stop's reason whatever those calls gave back to be sent
    again; then state the cutoff, from the database's clock (module docstring)."""
    stamp = _stamp(stop)
    until = time.monotonic() + settings.STOP_DRAIN.total_seconds()
    while True:
        with transaction.atomic():
            stop_hold(stop.claimed_before, stamp)
            _hold_comments(stop, stamp)
        if not _under_way(stop) or time.monotonic() > until:
            break
        time.sleep(DRAIN_POLL)  # the workers' answers are what this waits for
    Stop.objects.filter(pk=stop.pk).update(cutoff_at=Now())
    stop.refresh_from_db(fields=["cutoff_at"])
    return stop
