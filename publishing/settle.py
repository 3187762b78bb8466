"""Settling slots: a `publishing` slot closes once none of its deliveries is pending or
sending — `published` when all were sent, `partial` when some, `failed` when none.

Settling is idempotent and safe when two chunks finish at once: each records its own
results (committed) before it settles, so the last to finish sees them all; the conditional
UPDATE (status = publishing) lets exactly one of them close the slot and tell the owner.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef
from django.utils import timezone

from accounts.models import EventType, Notice
from accounts.outbox import NewEvent, record_event, record_events
from accounts.services import notice_create
from channels import queue_rule
from channels.models import Channel, QueueEntry
from ground import events
from ground.db import db_datetime
from publishing.models import Delivery
from scheduling import reasons
from scheduling.models import Timeslot

UNFINISHED = (Delivery.Status.PENDING, Delivery.Status.SENDING)


def timeslots_settle(*, timeslot_ids: Iterable[int], now: dt.datetime | None = None) -> int:
    """Settle every given slot that is done; return how many this call closed.

    Two queries in the usual case (every delivery sent): one UPDATE closes all the slots
    whose deliveries were all sent, one SELECT finds any others that are done (some
    failure) and those are settled one by one, with their reasons.
    """
    ids = list(timeslot_ids)
    if not ids:
        return 0
    now = now or timezone.now()
    with transaction.atomic():  # the slots close with their events, or neither
        published = _close_all_sent(ids, now=now)
        # One INSERT for the chunk's events, however many slots it closed.
        record_events(
            NewEvent(workspace_id, EventType.TIMESLOT_PUBLISHED, slot_facts(i, "published"))
            for i, workspace_id in published
        )
    closed = len(published)
    if closed:
        events.log_event("settled", status=Timeslot.Status.PUBLISHED, count=closed)
    if closed == len(set(ids)):
        return closed  # every slot was published: none is left to settle with a reason
    deliveries = Delivery.objects.filter(timeslot_id=OuterRef("pk"))
    rest = (
        Timeslot.objects.filter(id__any=ids, status=Timeslot.Status.PUBLISHING)
        .exclude(Exists(deliveries.filter(status__in=UNFINISHED)))
        .values_list("id", flat=True)
    )
    for timeslot_id in rest:
        if timeslot_settle(timeslot_id=timeslot_id, now=now):
            closed += 1
    return closed


def slot_facts(timeslot_id: int, status: str, reason: reasons.Stamp = reasons.NONE) -> dict:
    """What an outbound event records about a slot when it settles (the sender shows the
    slot as the API does, from its id)."""
    return {
        "timeslot_id": timeslot_id,
        "status": str(status),
        "reason_code": str(reason.code or ""),
        "reason": reason.text,
    }


def _close_all_sent(ids: list[int], *, now: dt.datetime) -> list[tuple[int, int]]:
    """Publishing slots with deliveries, every one sent → published; the (slot id,
    workspace id) of those it closed (the workspace for their events, in the same query).

    Written out, not through the ORM: compiling the ORM's form of this statement (two
    Exists, an exclude) showed in every chunk's CPU, and every delivery chunk runs it once
    (bench/README.md, "Engine v2, fourth follow-up"). Only table names and placeholders are
    formatted in."""
    slots, deliveries = Timeslot._meta.db_table, Delivery._meta.db_table
    channels = Channel._meta.db_table
    marks = ", ".join(["%s"] * len(ids))
    sql = (
        f"UPDATE {slots} SET status = %s, reason_code = '', reason = '', "  # noqa: S608
        "published_at = %s, updated_at = %s "
        f"WHERE id IN ({marks}) AND status = %s "
        f"AND EXISTS (SELECT 1 FROM {deliveries} d WHERE d.timeslot_id = {slots}.id) "
        f"AND NOT EXISTS (SELECT 1 FROM {deliveries} d "
        f"WHERE d.timeslot_id = {slots}.id AND d.status <> %s) "
        f"RETURNING id, (SELECT c.workspace_id FROM {channels} c WHERE c.id = channel_id)"
    )
    at = db_datetime(now)
    params = [Timeslot.Status.PUBLISHED, at, at, *ids, Timeslot.Status.PUBLISHING]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, Delivery.Status.SENT])
        return [(row[0], row[1]) for row in cursor.fetchall()]


def delivery_counts(timeslot_id: int) -> dict[str, int]:
    """How many of the slot's deliveries are in each status (one query)."""
    return dict(
        Delivery.objects.filter(timeslot_id=timeslot_id)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )


def outcome(timeslot_id: int, counts: dict[str, int]) -> tuple[str, reasons.Stamp] | None:
    """The status and reason a slot with these delivery counts closes with; None while a
    delivery is unfinished. The one home of the rule (the engine and a person's mark on
    the dashboard both settle through it)."""
    if not counts or any(counts.get(s) for s in UNFINISHED):
        return None
    sent, total = counts.get(Delivery.Status.SENT, 0), sum(counts.values())
    if sent == total:
        return Timeslot.Status.PUBLISHED, reasons.NONE
    problems = list(
        Delivery.objects.filter(timeslot_id=timeslot_id)
        .exclude(status=Delivery.Status.SENT)
        .select_related("account")
        .order_by("id")
    )
    reason = reasons.stamp(
        reasons.Reason.DELIVERIES,
        problems="; ".join(
            f"{d.account}: {d.get_status_display()} — {d.last_error}" for d in problems
        ),
    )
    # A thread cut short still put something on its network: the slot is partial.
    partly = counts.get(Delivery.Status.PARTIAL, 0)
    return (Timeslot.Status.PARTIAL if sent or partly else Timeslot.Status.FAILED), reason


def spends_no_use(status: str, counts: dict[str, int]) -> bool:
    """Nothing went out (and nothing may have): the slot gives its post's use back."""
    return status == Timeslot.Status.FAILED and not counts.get(Delivery.Status.UNCONFIRMED)


def timeslot_settle(*, timeslot_id: int, now: dt.datetime | None = None) -> str | None:
    """Close one publishing slot if it is done; return its new status (None: not now)."""
    now = now or timezone.now()
    counts = delivery_counts(timeslot_id)
    closing = outcome(timeslot_id, counts)
    if closing is None:
        return None
    status, reason = closing
    with transaction.atomic():
        return _close_one(timeslot_id, status, reason, counts, now=now)


def _close_one(
    timeslot_id: int, status: str, reason: reasons.Stamp, counts: dict[str, int], *, now
) -> str | None:
    settled = Timeslot.objects.filter(id=timeslot_id, status=Timeslot.Status.PUBLISHING).update(
        status=status, **reason.fields(), published_at=now, updated_at=now
    )
    if settled:
        events.log_event("settled", timeslot_id=timeslot_id, status=status, reason=reason.text)
    if settled and status == Timeslot.Status.PUBLISHED:
        record_event(
            workspace_id=Channel.objects.filter(timeslots__id=timeslot_id)
            .values_list("workspace_id", flat=True)
            .get(),
            type=EventType.TIMESLOT_PUBLISHED,
            payload=slot_facts(timeslot_id, status),
        )
    if settled and status != Timeslot.Status.PUBLISHED:
        slot = Timeslot.objects.select_related("channel").get(id=timeslot_id)
        record_event(
            workspace_id=slot.channel.workspace_id,
            type=EventType(f"timeslot.{status}"),
            payload=slot_facts(timeslot_id, status, reason),
        )
        if spends_no_use(status, counts):
            give_back_use(slot)
        unconfirmed = counts.get(Delivery.Status.UNCONFIRMED, 0)
        notice_create(
            workspace_id=slot.channel.workspace_id,
            kind=Notice.Kind.TIMESLOT_UNCONFIRMED if unconfirmed else Notice.Kind.TIMESLOT_FAILED,
            message=(
                f"A slot of {slot.channel.name} ended {slot.get_status_display().lower()}: "
                f"{reason.text}"
            ),
            subject=f"channel:{slot.channel_id}",
        )
    return status if settled else None


def give_back_use(slot: Timeslot) -> None:
    """Nothing was sent (and nothing may have been): the slot did not use its post."""
    use = slot.entry_use
    if not use:
        return
    with transaction.atomic():
        entry = QueueEntry.objects.select_for_update().filter(id=use["entry"]).first()
        if entry is not None:
            queue_rule.give_back(entry, use)
            entry.save(update_fields=queue_rule.RECORDED_FIELDS)
