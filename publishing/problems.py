"""Deliveries that need a person, and what a person may do about them (issue 13, item 3).

Reads: `problem_deliveries` (retrying, unconfirmed, recently failed — one query) and
`failing_accounts` (accounts whose latest attempt failed — one query).

Writes, each a conditional UPDATE on the delivery's status so a click that races the
engine changes nothing it should not:

- `delivery_retry_now` — a delivery waiting for its next attempt goes now (pending only;
  the claim's own `pending → sending` UPDATE still guarantees one call at a time).
- `delivery_give_up` — a waiting delivery is failed; its slot settles.
- `delivery_mark_sent` / `delivery_mark_failed` — a person checked an `unconfirmed`
  delivery on the network and says what happened. Nothing is ever re-sent without this
  mark: `unconfirmed` means it may have gone out (at most once, DESIGN §4).
- `delivery_retry` — a failed delivery is tried again: `failed` always means the network
  did not take it (a call that may have posted ends `unconfirmed`, never `failed`).

Slots already closed are settled again from their deliveries (`_resettle`), quietly: the
person who clicked needs no notice of their own click.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import SocialAccount, Workspace
from channels import queue_rule
from channels.models import QueueEntry
from publishing.delivery import dispatch
from publishing.lanes import planned_attempts
from publishing.models import Delivery
from publishing.settle import (
    delivery_counts,
    give_back_use,
    outcome,
    spends_no_use,
    timeslot_settle,
)
from scheduling.models import Timeslot

S = Delivery.Status
PROBLEM_WINDOW = dt.timedelta(days=7)
CLOSED = (Timeslot.Status.PUBLISHED, Timeslot.Status.PARTIAL, Timeslot.Status.FAILED)


class ProblemKind(StrEnum):
    """What a problem delivery is waiting for (its `.kind` in problem_deliveries)."""

    RETRYING = "retrying"  # an attempt failed, another is coming
    UNCONFIRMED = S.UNCONFIRMED
    FAILED = S.FAILED
    PARTIAL = S.PARTIAL


# --- Reads ---------------------------------------------------------------------------------


def _retrying_q() -> Q:
    return Q(status__in=[S.PENDING, S.SENDING], attempts__gt=0) & ~Q(last_error="")


def problem_deliveries(
    *, workspace: Workspace, now: dt.datetime, limit: int = 20
) -> list[Delivery]:
    """Retrying (an attempt failed, another is coming), unconfirmed, and failed or partly
    sent (a thread cut short) in the last week: one query, whatever their number. Each row
    gets `.kind` and, when retrying, `.gives_up_at` and `.max_attempts`."""
    since = now - PROBLEM_WINDOW
    rows = list(
        Delivery.objects.filter(timeslot__channel__workspace=workspace)
        .filter(
            _retrying_q()
            | Q(status=S.UNCONFIRMED)
            # created_at: the bound delivery_problem_idx serves (a delivery is made when
            # its slot is claimed, never a day before its publish_at).
            | Q(
                status__in=[S.FAILED, S.PARTIAL],
                timeslot__publish_at__gte=since,
                created_at__gte=since - dt.timedelta(days=1),
            )
        )
        .select_related("account", "timeslot__channel")
        .order_by("-timeslot__publish_at", "id")[:limit]
    )
    for d in rows:
        retrying = d.status in (S.PENDING, S.SENDING)
        d.kind = ProblemKind.RETRYING if retrying else ProblemKind(d.status)
        if d.kind == ProblemKind.RETRYING:
            d.gives_up_at = d.timeslot.publish_at + settings.MISSED_AFTER
            d.max_attempts = max(d.attempts, planned_attempts(settings.MISSED_AFTER))
    return rows


def failing_accounts(*, workspace: Workspace, since: dt.datetime) -> dict[int, dict]:
    """account id → {"error", "at"} for each account whose latest attempt since `since`
    failed (retrying, failed or unconfirmed). One query, annotated per account."""
    latest = Delivery.objects.filter(
        account_id=OuterRef("pk"), attempts__gt=0, created_at__gte=since
    ).order_by("-created_at", "-id")
    rows = (
        SocialAccount.objects.filter(workspace=workspace)
        .annotate(
            d_status=Subquery(latest.values("status")[:1]),
            d_error=Subquery(latest.values("last_error")[:1]),
            d_at=Subquery(
                latest.annotate(at=Coalesce("dispatched_at", "claimed_at", "created_at")).values(
                    "at"
                )[:1]
            ),
        )
        .filter(~Q(d_status=S.SENT), ~Q(d_error=""), d_error__isnull=False)
        .values_list("id", "d_error", "d_at")
    )
    return {i: {"error": error, "at": at} for i, error, at in rows}


# --- Writes --------------------------------------------------------------------------------


def _locked(workspace: Workspace, delivery_id: int) -> Delivery:
    """The delivery, locked, within the workspace (another workspace's id: DoesNotExist)."""
    return (
        Delivery.objects.select_for_update(of=("self",))
        .select_related("timeslot__channel", "account")
        .get(id=delivery_id, timeslot__channel__workspace=workspace)
    )


def _refuse(delivery: Delivery, wanted: str) -> ValidationError:
    return ValidationError(
        f"This delivery is {delivery.get_status_display().lower()} now, not {wanted}: "
        "nothing was changed. Reload the page to see where it stands."
    )


@transaction.atomic
def delivery_retry_now(
    *, workspace: Workspace, delivery_id: int, now: dt.datetime | None = None
) -> Delivery:
    """A delivery waiting for its next attempt is sent now instead."""
    now = now or timezone.now()
    d = _locked(workspace, delivery_id)
    if d.status != S.PENDING:
        raise _refuse(d, "waiting for a retry")
    Delivery.objects.filter(id=d.id, status=S.PENDING).update(
        next_attempt_at=None, dispatched_at=now
    )
    transaction.on_commit(lambda: dispatch([d.id]))
    return d


@transaction.atomic
def delivery_give_up(
    *, workspace: Workspace, delivery_id: int, user: str, now: dt.datetime | None = None
) -> Delivery:
    """A waiting delivery is failed for good (never sent: it is pending, not in a call)."""
    now = now or timezone.now()
    d = _locked(workspace, delivery_id)
    if d.status != S.PENDING:
        raise _refuse(d, "waiting for a retry")
    error = f"{d.last_error} Given up by {user}.".strip()
    Delivery.objects.filter(id=d.id, status=S.PENDING).update(status=S.FAILED, last_error=error)
    timeslot_settle(timeslot_id=d.timeslot_id, now=now)
    return d


@transaction.atomic
def delivery_mark_sent(
    *, workspace: Workspace, delivery_id: int, user: str, now: dt.datetime | None = None
) -> Delivery:
    """A person found the unconfirmed post on the network: it counts as sent."""
    now = now or timezone.now()
    d = _locked(workspace, delivery_id)
    if d.status != S.UNCONFIRMED:
        raise _refuse(d, "unconfirmed")
    Delivery.objects.filter(id=d.id, status=S.UNCONFIRMED).update(
        status=S.SENT, sent_at=now, last_error=f"Marked sent by {user} after checking."
    )
    _resettle(d.timeslot_id, now=now)
    return d


@transaction.atomic
def delivery_mark_failed(
    *, workspace: Workspace, delivery_id: int, user: str, now: dt.datetime | None = None
) -> Delivery:
    """A person checked: the unconfirmed post is not on the network. It counts as failed
    (and may then be retried: nothing went out)."""
    now = now or timezone.now()
    d = _locked(workspace, delivery_id)
    if d.status != S.UNCONFIRMED:
        raise _refuse(d, "unconfirmed")
    Delivery.objects.filter(id=d.id, status=S.UNCONFIRMED).update(
        status=S.FAILED, last_error=f"{d.last_error} Marked not sent by {user}.".strip()
    )
    _resettle(d.timeslot_id, now=now)
    return d


@transaction.atomic
def delivery_retry(
    *, workspace: Workspace, delivery_id: int, now: dt.datetime | None = None
) -> Delivery:
    """A failed delivery goes again: its slot reopens (`publishing`) and settles anew when
    the attempt ends. A slot that had given its post back to the queue takes it again."""
    now = now or timezone.now()
    d = _locked(workspace, delivery_id)
    if d.status != S.FAILED:
        raise _refuse(d, "failed")
    slot = Timeslot.objects.select_for_update().get(id=d.timeslot_id)
    if slot.status not in CLOSED and slot.status != Timeslot.Status.PUBLISHING:
        raise ValidationError(f"Its slot is {slot.get_status_display().lower()}: nothing to retry.")
    if slot.status == Timeslot.Status.FAILED and not _has(slot.id, S.UNCONFIRMED):
        _take_use_again(slot)  # settle gave it back; the retry uses it after all
    Delivery.objects.filter(id=d.id, status=S.FAILED).update(
        status=S.PENDING, next_attempt_at=None, dispatched_at=now
    )
    Timeslot.objects.filter(id=slot.id).update(status=Timeslot.Status.PUBLISHING, updated_at=now)
    transaction.on_commit(lambda: dispatch([d.id]))
    return d


def _has(timeslot_id: int, status: str) -> bool:
    return Delivery.objects.filter(timeslot_id=timeslot_id, status=status).exists()


def _take_use_again(slot: Timeslot) -> None:
    use = slot.entry_use
    if not use:
        return
    entry = (
        QueueEntry.objects.select_for_update().select_related("channel").filter(id=use["entry"])
    ).first()
    if entry is None:
        return
    last = entry.last_published_at
    at = dt.datetime.fromisoformat(use["at"])
    queue_rule.record_use(entry, mode=entry.channel.mode, at=at)
    if last and last > at:  # a later use keeps its own time
        entry.last_published_at = last
    entry.save(update_fields=queue_rule.RECORDED_FIELDS)


def _resettle(timeslot_id: int, *, now: dt.datetime) -> None:
    """Settle a closed slot again after a person changed one of its deliveries, by the
    engine's own rule (publishing.settle); quietly: the owner was told when it closed."""
    slot = Timeslot.objects.select_for_update().get(id=timeslot_id)
    if slot.status == Timeslot.Status.PUBLISHING:
        timeslot_settle(timeslot_id=timeslot_id, now=now)
        return
    if slot.status not in CLOSED:
        return
    counts = delivery_counts(timeslot_id)
    closing = outcome(timeslot_id, counts)
    if closing is None:
        return  # a retry is under way: the engine settles it when it ends
    status, reason = closing
    if spends_no_use(status, counts):
        # Nothing went out after all: the post goes back to the queue, as settle does.
        # (Settle kept it while an unconfirmed delivery might have posted it.)
        give_back_use(slot)
    Timeslot.objects.filter(id=timeslot_id).update(status=status, **reason.fields(), updated_at=now)
