"""The emergency stop: "Stop all publishing" for a workspace (an owner) or the whole
instance (an operator's `manage.py stop_publishing`), and its resume.

Why nothing can publish after the stated cutoff (DESIGN §7.8). In ONE transaction the stop
(1) locks every `scheduled` slot of its scope in id order and cancels it with a new token,
(2) pauses every channel of the scope, and (3) records the Stop row. A slot publishes only
through the claim's conditional UPDATE (publishing/claim.py: `(id, token) IN (...) AND
status = 'scheduled'`), so after the stop commits:

- a message already on the broker, or already held by a worker, carries the old token and
  asks for a `scheduled` row: its UPDATE matches nothing and the slot is a no-op;
- a batch mid-claim either committed its claim before the stop locked the row (the stop's
  UPDATE waits for it, then sees `publishing`), or it waits for the stop's row lock and,
  once the stop committed, re-reads the row (PostgreSQL re-checks the WHERE of an UPDATE on
  the newest row version) and fails;
- of a slot claimed before the stop, a delivery goes out only through the delivery chunk's
  own conditional UPDATE (`pending → sending`, publishing/delivery.py). The stop (with
  publishing's `hold`, publishing/stopping/services.py) turns every still `pending`
  delivery of those slots to `failed` with the stop's reason in the same transaction, so a
  chunk that comes later takes nothing. Only a call a worker had already begun (`sending`)
  can reach a network after the cutoff: its slot is listed as "claimed before the stop".

The cutoff is read from the database's clock. Called on its own (the web page, the command,
the API without an Idempotency-Key) the stop commits first and the cutoff is read by a
statement that starts after the commit (`Now()`: PostgreSQL's statement_timestamp()), so it
is at or after the commit instant. Inside a caller's transaction (the API's idempotency
record commits together with the stop's rows) the commit is not ours to wait for: the
cutoff is then `clock_timestamp()` after the stop's last statement. That instant is sound
too: by then every claim of the scope has either committed or waits for the stop's row and
channel locks and fails once the stop commits; if the transaction rolls back instead there
was no stop, and the caller gets an error, not an answer. Either way no claim of the scope
succeeds after the cutoff, and only the calls the answer lists as already under way may
still arrive at a network.

Resume re-plans from now and never catches up: the stop's canceled slots whose time is
still ahead come back with a new token; those whose time passed during the stop stay
canceled with the reason ("stopped by … at …"); the channels paused by the stop (not those
paused before it) resume, and their schedules are reconciled from now.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import OperationalError, connection, transaction
from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.db.models.functions import Now
from django.utils import timezone

from accounts.models import Workspace
from channels.models import Channel
from scheduling import enqueue, reasons
from scheduling.blackouts import require_owner
from scheduling.models import Schedule, Stop, Timeslot
from scheduling.reasons import Reason
from scheduling.services import schedule_reconcile

ATTEMPTS = 3  # a deadlock with a concurrent schedule save aborts one of us: try again


def _label(user, label: str) -> str:
    if label:
        return label[:150]
    return (getattr(user, "get_username", lambda: "")() or "an owner")[:150]


def _channels(workspace: Workspace | None):
    return Channel.objects.filter(workspace=workspace) if workspace else Channel.objects.all()


def active_stop(*, workspace: Workspace | None) -> Stop | None:
    """The stop in force for the workspace (its own), or the instance's (workspace None)."""
    return Stop.objects.filter(workspace=workspace, resumed_at__isnull=True).first()


# Called inside the stop's transaction with the slots claimed before it and the stop's
# reason; returns those of them whose publication is already under way (publishing's
# stop_hold: it stops their deliveries no worker has taken yet).
Hold = Callable[[list[int], reasons.Stamp], list[int]]


def publishing_stop(
    *, workspace: Workspace | None, user=None, label: str = "", hold: Hold | None = None
) -> Stop:
    """Stop every publication of the workspace (None: of every workspace; operators only,
    through the command). Returns the Stop with its `cutoff_at` and `claimed_before`.

    `user` must be an owner of the workspace (PermissionDenied otherwise); the operator's
    command passes no user and a `label` instead. Outside a transaction the cutoff is read
    after the stop's commit; inside one, after its last statement (module docstring)."""
    if user is not None:
        if workspace is None:
            raise ValidationError("Only an operator stops every workspace (manage.py).")
        require_owner(workspace=workspace, user=user)
    if active_stop(workspace=workspace) is not None:
        raise ValidationError("Publishing is already stopped here; resume it first.")
    if connection.in_atomic_block:
        # The caller's transaction commits the stop (module docstring): no retry, which an
        # aborted outer transaction could not run, and the cutoff read at the stop's end.
        stop = _stop_once(workspace=workspace, user=user, label=_label(user, label), hold=hold)
        clock = RawSQL("clock_timestamp()", ()) if connection.vendor == "postgresql" else Now()
        Stop.objects.filter(pk=stop.pk).update(cutoff_at=clock)
    else:
        for attempt in range(ATTEMPTS):
            try:
                stop = _stop_once(
                    workspace=workspace, user=user, label=_label(user, label), hold=hold
                )
                break
            except OperationalError:
                if attempt == ATTEMPTS - 1:
                    raise
        # Read after the commit, from the database's clock: at or after the commit instant.
        Stop.objects.filter(pk=stop.pk).update(cutoff_at=Now())
    stop.refresh_from_db(fields=["cutoff_at"])
    return stop


@transaction.atomic
def _stop_once(*, workspace: Workspace | None, user, label: str, hold: Hold | None) -> Stop:
    scope = Q(channel__workspace=workspace) if workspace else Q()
    scheduled = Timeslot.objects.filter(scope, status=Timeslot.Status.SCHEDULED)
    # 1. Lock the scope's scheduled slots in id order, the order the claim's UPDATE takes
    #    them by primary key: a batch mid-claim either holds its rows already (we wait
    #    for its commit, then they are `publishing`: claimed before the stop) or waits
    #    for ours and fails.
    list(scheduled.select_for_update(of=("self",)).order_by("id").values_list("id"))
    # 2. Pause the channels (locked in id order, as the claim and the planner lock them),
    #    remembering those already paused so resume leaves them paused.
    channels = list(
        _channels(workspace).select_for_update().order_by("id").values_list("id", "is_paused")
    )
    # A channel paused by another stop still in force (the instance's, or a workspace's
    # under an instance stop) was not paused by its owner: it resumes with the last stop.
    by_stops = _paused_by_active_stops()
    already = [cid for cid, paused in channels if paused and cid not in by_stops]
    _channels(workspace).filter(is_paused=False).update(is_paused=True)
    stop = Stop.objects.create(
        workspace=workspace, by_user=user, by_label=label, already_paused=already
    )
    # 3. Cancel with a new token everything still scheduled — read again now that the
    #    channels are locked, so a pin or planner batch that committed meanwhile is in.
    stamp = reasons.stamp(Reason.STOPPED, who=label, at=stop.created_at.astimezone(dt.UTC))
    stop.rotated = scheduled.update(
        status=Timeslot.Status.CANCELED,
        token=uuid.uuid4(),
        enqueued_at=None,
        updated_at=stop.created_at,
        **stamp.fields(),
    )
    # What was claimed before the stop and may still go out: its slots are `publishing`.
    stop.claimed_before = list(
        Timeslot.objects.filter(scope, status=Timeslot.Status.PUBLISHING)
        .order_by("id")
        .values_list("id", flat=True)
    )
    if hold is not None:
        # 4. Of those, the deliveries no worker has taken yet are stopped too (publishing):
        #    what is left is what a worker was already sending.
        stop.claimed_before = hold(stop.claimed_before, stamp)
    stop.save(update_fields=["rotated", "claimed_before"])
    return stop


@dataclass
class Resumed:
    stop: Stop
    revived: int = 0  # stopped slots whose time is still ahead, scheduled again
    resumed_channels: list[int] = field(default_factory=list)


def publishing_resume(
    *, workspace: Workspace | None, user=None, label: str = "", now: dt.datetime | None = None
) -> Resumed:
    """End the stop in force for the scope and re-plan from now (no catch-up)."""
    if user is not None:
        if workspace is None:
            raise ValidationError("Only an operator resumes every workspace (manage.py).")
        require_owner(workspace=workspace, user=user)
    now = now or timezone.now()
    with transaction.atomic():
        stop = (
            Stop.objects.select_for_update()
            .filter(workspace=workspace, resumed_at__isnull=True)
            .first()
        )
        if stop is None:
            raise ValidationError("Publishing is not stopped here.")
        stop.resumed_at = now
        stop.resumed_by_label = _label(user, label)
        stop.save(update_fields=["resumed_at", "resumed_by_label"])
        held = _held_by_other_stops(stop)
        scope = _channels(workspace).exclude(id__in=held)
        ids = list(scope.order_by("id").values_list("id", flat=True))
        # Only what is still ahead comes back, with a new token: what fell in the stop
        # stays canceled with its reason, so nothing is published late.
        revived = Timeslot.objects.filter(
            channel_id__in=ids,
            status=Timeslot.Status.CANCELED,
            reason_code=Reason.STOPPED,
            publish_at__gte=now,
        ).update(
            status=Timeslot.Status.SCHEDULED,
            token=uuid.uuid4(),
            enqueued_at=None,
            updated_at=now,
            **reasons.NONE.fields(),
        )
        resume = [cid for cid in ids if cid not in set(stop.already_paused)]
        Channel.objects.filter(id__in=resume).update(is_paused=False)
        for schedule in Schedule.objects.filter(channel_id__in=resume).select_related("channel"):
            schedule_reconcile(schedule=schedule, now=now)
        enqueue.enqueue_due(until=now + settings.PLANNER_HORIZON, now=now, channel_id__in=ids)
    return Resumed(stop=stop, revived=revived, resumed_channels=resume)


def _held_by_other_stops(stop: Stop) -> set[int]:
    """Channels another stop still in force covers: this resume leaves them stopped."""
    others = Stop.objects.filter(resumed_at__isnull=True).exclude(pk=stop.pk)
    if others.filter(workspace__isnull=True).exists():
        return set(_channels(stop.workspace).values_list("id", flat=True))
    ws = list(others.values_list("workspace_id", flat=True))
    return set(Channel.objects.filter(workspace_id__in=ws).values_list("id", flat=True))


def _paused_by_active_stops() -> set[int]:
    """The channels the stops in force paused themselves (not those paused before them)."""
    paused: set[int] = set()
    for stop in Stop.objects.filter(resumed_at__isnull=True):
        ids = set(_channels(stop.workspace).values_list("id", flat=True))
        paused |= ids - set(stop.already_paused)
    return paused
