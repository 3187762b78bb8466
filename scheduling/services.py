"""Scheduling writes: the planner, schedule edits, moving/canceling/pinning slots, the watchdog.

Views, the API, the admin, commands and tasks all come through here. Every function that
creates or moves a slot enqueues its publish message after commit (scheduling/enqueue.py).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from channels.models import Channel
from posts.models import Post
from scheduling import enqueue, rules
from scheduling.models import PlannerState, Schedule, Timeslot

log = logging.getLogger(__name__)

REASON_SCHEDULE_CHANGED = "Canceled: the schedule no longer has this time."
REASON_USER_CANCELED = "Canceled by a user."
REASON_SCHEDULE_OFF = "Canceled: the schedule was turned off."
REASON_CHANNEL_PAUSED = "Canceled: the channel was paused."
# Slots canceled for these reasons come back if the rule, schedule or channel does.
REVIVABLE_REASONS = (REASON_SCHEDULE_CHANGED, REASON_SCHEDULE_OFF, REASON_CHANNEL_PAUSED)


def _reason_missed() -> str:
    minutes = int(settings.MISSED_AFTER.total_seconds() // 60)
    return (
        f"Missed: not published within {minutes} minutes of its time (workers or broker "
        "were down), so it was not sent late."
    )


# --- Planner -----------------------------------------------------------------------------


# How far back a planner outage is recorded as missed slots (older occurrences are only
# counted in the notice's time range, not stored one by one).
MISSED_GAP_LIMIT = dt.timedelta(days=7)


def _reason_planner_down(start: dt.datetime, end: dt.datetime) -> str:
    return (
        "Missed: the planner (celery beat) was not running from "
        f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC, so this slot was never planned "
        "and was not sent late."
    )


def _notify_planner_gap(missed_by_workspace: dict[int, int], *, reason: str) -> None:
    from accounts.models import Notice
    from accounts.services import notice_create

    for workspace_id, count in missed_by_workspace.items():
        notice_create(
            workspace_id=workspace_id,
            kind=Notice.Kind.TIMESLOT_MISSED,
            message=f"{count} slot(s) were missed. {reason}",
        )


@dataclass
class PlanResult:
    start: dt.datetime
    end: dt.datetime
    created: int = 0
    missed: int = 0
    warned_empty: int = 0
    enqueued: int = 0
    would_create: list[tuple[str, dt.datetime]] = field(default_factory=list)


def _slots_for(schedule: Schedule, *, start: dt.datetime, end: dt.datetime) -> list[Timeslot]:
    channel = schedule.channel
    try:
        instants = rules.occurrences(
            schedule.recurrence,
            tz=channel.tz,
            starts_on=schedule.starts_on,
            start=start,
            end=end,
        )
    except ValueError:
        # A rule saved before validation caught this kind of mistake must not stop the
        # planner for every other channel: log it and plan the rest.
        log.exception("schedule %s has a rule that cannot be expanded", schedule.pk)
        return []
    return [
        Timeslot(
            channel_id=channel.id,
            schedule_id=schedule.id,
            publish_at=instant,
            planned_for=instant,
            token=uuid.uuid4(),
        )
        for instant in instants
    ]


def _plannable_schedules():
    return Schedule.objects.filter(is_active=True, channel__is_paused=False).select_related(
        "channel"
    )


def planner_run(
    *,
    now: dt.datetime | None = None,
    until: dt.datetime | None = None,
    dry_run: bool = False,
    batch_size: int | None = None,
    channel_ids: tuple[int, int] | None = None,
) -> PlanResult:
    """Create the slots of [watermark, now + horizon) for every active schedule, then enqueue.

    Plans from the stored watermark so an hour that beat missed is caught up, but never
    from further back than MISSED_AFTER: those slots could only be marked missed.
    Per batch of schedules: one SELECT (schedules + channels), one INSERT; then two
    queries per batch of slots to enqueue. Never one query per row.

    `channel_ids=(first, last)` plans and enqueues only the channels with ids in that
    inclusive range, so several workers can share one run (bench/: batches of channels as
    tasks). Such a partial run leaves the watermark alone: whoever split the run advances
    it once every part is done (a part that moved it would make the others plan nothing).
    """
    now = now or timezone.now()
    batch_size = batch_size or settings.PLANNER_BATCH_SIZE
    end = until or now + settings.PLANNER_HORIZON
    state, _ = PlannerState.objects.get_or_create(key="default")
    floor = now - settings.MISSED_AFTER
    start = max(state.planned_until or now, floor)
    result = PlanResult(start=start, end=end)
    # The planner was down past MISSED_AFTER (beat stopped): the occurrences of that gap are
    # recorded as missed, with a reason, instead of vanishing — but never published late,
    # and never more than MISSED_GAP_LIMIT back.
    gap_start = gap_end = None
    if state.planned_until and state.planned_until < floor:
        gap_start, gap_end = max(state.planned_until, now - MISSED_GAP_LIMIT), floor
    gap_reason = _reason_planner_down(gap_start, gap_end) if gap_start is not None else ""
    missed_by_workspace: dict[int, int] = {}

    schedules = _plannable_schedules()
    scope = {}
    if channel_ids is not None:
        scope = {"channel_id__gte": channel_ids[0], "channel_id__lte": channel_ids[1]}
        schedules = schedules.filter(**scope)
    if start < end:
        last_id = 0
        while True:
            batch = list(schedules.filter(id__gt=last_id).order_by("id")[:batch_size])
            if not batch:
                break
            last_id = batch[-1].id
            by_schedule = {s.id: s for s in batch}
            slots = [t for schedule in batch for t in _slots_for(schedule, start=start, end=end)]
            if gap_start is not None and not dry_run:
                for schedule in batch:
                    for t in _slots_for(schedule, start=gap_start, end=gap_end):
                        t.status, t.reason = Timeslot.Status.MISSED, gap_reason
                        slots.append(t)
            existing = set(
                Timeslot.objects.filter(
                    schedule_id__in=by_schedule,
                    planned_for__gte=min(start, gap_start or start),
                    planned_for__lt=end,
                ).values_list("schedule_id", "planned_for")
            )
            slots = [t for t in slots if (t.schedule_id, t.planned_for) not in existing]
            for t in slots:
                if t.status == Timeslot.Status.MISSED:
                    ws = by_schedule[t.schedule_id].channel.workspace_id
                    missed_by_workspace[ws] = missed_by_workspace.get(ws, 0) + 1
            if dry_run:
                for t in slots:
                    schedule = by_schedule[t.schedule_id]
                    result.would_create.append(
                        (f"{schedule.channel.slug}/{schedule.name}", t.publish_at)
                    )
            elif slots:
                # ignore_conflicts: the unique (schedule, planned_for) makes a concurrent
                # second planner (two beats by mistake) a no-op for the same slots.
                Timeslot.objects.bulk_create(slots, ignore_conflicts=True)
                result.created += sum(t.status == Timeslot.Status.SCHEDULED for t in slots)
                result.missed += sum(t.status == Timeslot.Status.MISSED for t in slots)
            if len(batch) < batch_size:
                break

    if dry_run:
        return result
    _notify_planner_gap(missed_by_workspace, reason=gap_reason)
    result.enqueued = enqueue.enqueue_due(until=end, now=now, batch_size=batch_size, **scope)
    if channel_ids is not None:
        return result
    PlannerState.objects.filter(pk=state.pk).update(
        planned_until=max(end, state.planned_until or end),
        last_run_at=now,
        last_run_created=result.created,
    )
    return result


def plan_upcoming(
    *, now: dt.datetime | None = None, until: dt.datetime | None = None
) -> PlanResult:
    """What beat runs hourly: plan the window, then warn owners whose next slot will find
    an empty queue (kept out of planner_run so planning itself stays lean)."""
    from publishing.services import channels_warn_empty_queues

    now = now or timezone.now()
    result = planner_run(now=now, until=until)
    result.warned_empty = channels_warn_empty_queues(now=now, until=result.end)
    return result


def planned_until(*, now: dt.datetime) -> dt.datetime:
    state = PlannerState.objects.filter(key="default").first()
    horizon_end = now + settings.PLANNER_HORIZON
    if state and state.planned_until and state.planned_until > horizon_end:
        return state.planned_until
    return horizon_end


# --- Schedules ---------------------------------------------------------------------------


@transaction.atomic
def schedule_reconcile(*, schedule: Schedule, now: dt.datetime | None = None) -> dict[str, int]:
    """Make the schedule's future, unpublished, non-detached slots match its rules.

    Kept where still valid, canceled where not, created where new; slots a user moved
    (detached) are left alone. Runs from `now`: a new schedule gets no past slots.
    """
    now = now or timezone.now()
    end = planned_until(now=now)
    channel = schedule.channel
    wanted: set[dt.datetime] = set()
    if schedule.is_active and not channel.is_paused:
        wanted = {t.publish_at for t in _slots_for(schedule, start=now, end=end)}

    existing = list(
        Timeslot.objects.select_for_update().filter(
            schedule=schedule, planned_for__gte=now, planned_for__lt=end
        )
    )
    known = {slot.planned_for for slot in existing}
    live_times = {s.publish_at for s in existing if s.status != Timeslot.Status.CANCELED}
    to_cancel, to_revive = [], []
    for slot in existing:
        if slot.detached:
            continue
        if slot.status == Timeslot.Status.SCHEDULED and slot.planned_for not in wanted:
            to_cancel.append(slot.id)
        elif (
            slot.status == Timeslot.Status.CANCELED
            and slot.reason in REVIVABLE_REASONS
            and slot.planned_for in wanted
            and slot.planned_for not in live_times
        ):
            # An edit took this time away and a later edit gave it back.
            to_revive.append(slot)

    if channel.is_paused:
        reason = REASON_CHANNEL_PAUSED
    elif not schedule.is_active:
        reason = REASON_SCHEDULE_OFF
    else:
        reason = REASON_SCHEDULE_CHANGED
    canceled = Timeslot.objects.filter(id__in=to_cancel, status=Timeslot.Status.SCHEDULED).update(
        status=Timeslot.Status.CANCELED, reason=reason, token=uuid.uuid4(), updated_at=now
    )
    for slot in to_revive:
        slot.status = Timeslot.Status.SCHEDULED
        slot.publish_at = slot.planned_for
        slot.token = uuid.uuid4()
        slot.reason = ""
        slot.enqueued_at = None
    if to_revive:
        Timeslot.objects.bulk_update(
            to_revive, ["status", "publish_at", "token", "reason", "enqueued_at"]
        )
    new = [
        Timeslot(
            channel=channel,
            schedule=schedule,
            publish_at=instant,
            planned_for=instant,
        )
        for instant in sorted(wanted - known)
        if instant not in live_times
    ]
    created = Timeslot.objects.bulk_create(new, ignore_conflicts=True)
    enqueue.enqueue_due(until=now + settings.PLANNER_HORIZON, now=now, schedule=schedule)
    return {"canceled": canceled, "created": len(created), "revived": len(to_revive)}


def schedule_save(*, schedule: Schedule, now: dt.datetime | None = None) -> Schedule:
    """Validate and save a schedule, then plan/reconcile its window at once."""
    rules.validate(schedule.recurrence)
    with transaction.atomic():
        schedule.save()
        schedule_reconcile(schedule=schedule, now=now)
    return schedule


def channel_save(*, channel: Channel, now: dt.datetime | None = None) -> Channel:
    """Save a channel; a time-zone change or a resume re-plans every schedule of it."""
    channel.full_clean()
    with transaction.atomic():
        before = Channel.objects.filter(pk=channel.pk).values("timezone", "is_paused").first()
        channel.save()
        if before is None or before != {
            "timezone": channel.timezone,
            "is_paused": channel.is_paused,
        }:
            for schedule in channel.schedules.all():
                schedule.channel = channel
                schedule_reconcile(schedule=schedule, now=now)
    return channel


# --- Single slots ------------------------------------------------------------------------


def _message_if_near(slot: Timeslot, *, now: dt.datetime) -> None:
    """Enqueue now if the slot is inside the horizon; otherwise the planner will."""
    if slot.publish_at < now + settings.PLANNER_HORIZON:
        Timeslot.objects.filter(pk=slot.pk).update(enqueued_at=now)
        slot.enqueued_at = now
        enqueue.on_commit([enqueue.Message(slot.pk, slot.token, slot.publish_at)])


def _check_time(publish_at: dt.datetime, *, now: dt.datetime) -> None:
    if timezone.is_naive(publish_at):
        raise ValidationError("The time must include a time zone.")
    if publish_at < now - dt.timedelta(minutes=1):
        raise ValidationError("That time is in the past: pick a time from now on.")


@transaction.atomic
def timeslot_pin(
    *, post: Post, channel: Channel, publish_at: dt.datetime, now: dt.datetime | None = None
) -> Timeslot:
    """Pin a post to one exact time on a channel."""
    now = now or timezone.now()
    _check_time(publish_at, now=now)
    if post.workspace_id != channel.workspace_id:
        raise ValidationError("The post and the channel belong to different workspaces.")
    if post.status == Post.Status.ARCHIVED:
        raise ValidationError("An archived post cannot be scheduled.")
    slot = Timeslot.objects.create(channel=channel, post=post, publish_at=max(publish_at, now))
    _message_if_near(slot, now=now)
    return slot


def post_share_now(*, post: Post, channel: Channel, now: dt.datetime | None = None) -> Timeslot:
    now = now or timezone.now()
    return timeslot_pin(post=post, channel=channel, publish_at=now, now=now)


@transaction.atomic
def timeslot_reschedule(
    *, timeslot: Timeslot, publish_at: dt.datetime, now: dt.datetime | None = None
) -> Timeslot:
    """Move a slot. The token rotates, so the message already queued for it dies harmlessly."""
    now = now or timezone.now()
    _check_time(publish_at, now=now)
    token = uuid.uuid4()
    try:
        with transaction.atomic():
            moved = Timeslot.objects.filter(
                pk=timeslot.pk, status=Timeslot.Status.SCHEDULED
            ).update(
                publish_at=publish_at,
                token=token,
                enqueued_at=None,
                detached=timeslot.schedule_id is not None,
                updated_at=now,
            )
    except IntegrityError:
        raise ValidationError("This schedule already has a slot at that time.") from None
    if not moved:
        raise ValidationError("This slot is already publishing or finished; it cannot be moved.")
    timeslot.refresh_from_db()
    _message_if_near(timeslot, now=now)
    return timeslot


def timeslot_cancel(
    *, timeslot: Timeslot, reason: str = REASON_USER_CANCELED, now: dt.datetime | None = None
) -> Timeslot:
    """Cancel a scheduled slot; every message already queued for it becomes a no-op."""
    now = now or timezone.now()
    canceled = Timeslot.objects.filter(pk=timeslot.pk, status=Timeslot.Status.SCHEDULED).update(
        status=Timeslot.Status.CANCELED, reason=reason, token=uuid.uuid4(), updated_at=now
    )
    if not canceled:
        raise ValidationError("This slot is already publishing or finished; it cannot be canceled.")
    timeslot.refresh_from_db()
    return timeslot


# --- Watchdog ----------------------------------------------------------------------------


@dataclass
class WatchdogResult:
    missed: int = 0
    requeued: int = 0
    enqueued: int = 0
    deliveries_redispatched: int = 0
    deliveries_unconfirmed: int = 0
    settled: int = 0


def timeslots_mark_missed(*, now: dt.datetime, channel: Channel | None = None) -> int:
    """Slots still scheduled past MISSED_AFTER: missed, with a reason, the owners told."""
    from accounts.models import Notice
    from accounts.services import notice_create

    cutoff = now - settings.MISSED_AFTER
    with transaction.atomic():
        qs = Timeslot.objects.select_for_update(skip_locked=True).filter(
            status=Timeslot.Status.SCHEDULED, publish_at__lt=cutoff
        )
        if channel is not None:
            qs = qs.filter(channel=channel)
        rows = list(qs.select_related("channel").order_by("publish_at")[:5000])
        if not rows:
            return 0
        reason = _reason_missed()
        Timeslot.objects.filter(id__in=[r.id for r in rows]).update(
            status=Timeslot.Status.MISSED, reason=reason, token=uuid.uuid4(), updated_at=now
        )
        by_channel: dict[int, list[Timeslot]] = {}
        for row in rows:
            by_channel.setdefault(row.channel_id, []).append(row)
        for slots in by_channel.values():
            ch = slots[0].channel
            times = ", ".join(
                timezone.localtime(s.publish_at, ch.tz).strftime("%Y-%m-%d %H:%M")
                for s in slots[:5]
            )
            notice_create(
                workspace_id=ch.workspace_id,
                kind=Notice.Kind.TIMESLOT_MISSED,
                message=(
                    f"{len(slots)} slot(s) of {ch.name} were missed "
                    f"({times} {ch.timezone}). {reason}"
                ),
            )
    return len(rows)


def timeslots_requeue_overdue(*, now: dt.datetime, channel: Channel | None = None) -> int:
    """Slots still scheduled WATCHDOG_GRACE after their time: their message was lost.

    Each gets a new token (so a late original message is a no-op) and a message for now.
    """
    cutoff = now - settings.WATCHDOG_GRACE
    floor = now - settings.MISSED_AFTER
    total = 0
    while True:
        with transaction.atomic():
            qs = Timeslot.objects.select_for_update(skip_locked=True).filter(
                status=Timeslot.Status.SCHEDULED, publish_at__lt=cutoff, publish_at__gte=floor
            )
            if channel is not None:
                qs = qs.filter(channel=channel)
            rows = list(qs.order_by("publish_at")[: settings.PLANNER_BATCH_SIZE])
            if not rows:
                return total
            for row in rows:
                row.token = uuid.uuid4()
                row.enqueued_at = now
            Timeslot.objects.bulk_update(rows, ["token", "enqueued_at"])
            enqueue.on_commit(enqueue.Message(r.id, r.token, now) for r in rows)
        total += len(rows)
        if len(rows) < settings.PLANNER_BATCH_SIZE:
            return total


def watchdog_run(
    *, now: dt.datetime | None = None, channel: Channel | None = None
) -> WatchdogResult:
    from publishing import services as publishing_services

    now = now or timezone.now()
    result = WatchdogResult()
    result.missed = timeslots_mark_missed(now=now, channel=channel)
    result.requeued = timeslots_requeue_overdue(now=now, channel=channel)
    filters = {"channel": channel} if channel is not None else {}
    # Never enqueued (broker down at commit) or pinned beyond the horizon and now near.
    result.enqueued = enqueue.enqueue_due(until=now + settings.PLANNER_HORIZON, now=now, **filters)
    stuck = publishing_services.deliveries_recover(now=now, channel=channel)
    result.deliveries_redispatched = stuck.redispatched
    result.deliveries_unconfirmed = stuck.unconfirmed
    result.settled = stuck.settled
    return result


# --- Admin: requeue selected slots -------------------------------------------------------
# (Added for the admin's "requeue selected" action; kept separate from the watchdog above.)


def timeslots_requeue(*, timeslots, now: dt.datetime | None = None) -> list[Timeslot]:
    """Give each still-`scheduled` slot a new token and a fresh publish message.

    Any message already on the broker for these slots becomes a no-op (its token is stale),
    so requeueing is always safe, whatever the broker holds. Slots inside the planner
    horizon get their message after commit (ETA = their time, or now if overdue); later
    slots only get the new token with `enqueued_at` cleared, so the planner enqueues them
    when they come near (ETAs beyond the horizon would outlive the visibility timeout).
    Returns the slots requeued; anything not `scheduled` any more is left alone.
    """
    now = now or timezone.now()
    ids = [t.pk for t in timeslots]
    horizon_end = now + settings.PLANNER_HORIZON
    with transaction.atomic():
        rows = list(
            Timeslot.objects.select_for_update()
            .filter(id__in=ids, status=Timeslot.Status.SCHEDULED)
            .order_by("id")
        )
        messages = []
        for row in rows:
            row.token = uuid.uuid4()
            row.updated_at = now
            if row.publish_at < horizon_end:
                row.enqueued_at = now
                messages.append(enqueue.Message(row.id, row.token, max(row.publish_at, now)))
            else:
                row.enqueued_at = None
        Timeslot.objects.bulk_update(rows, ["token", "enqueued_at", "updated_at"])
        enqueue.on_commit(messages)
    return rows
