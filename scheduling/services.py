"""Scheduling writes: the planner, schedule edits, moving/canceling/pinning slots, the watchdog.

Views, the API, the admin, commands and tasks all come through here. Every function that
creates or moves a slot enqueues its publish message after commit (scheduling/enqueue.py).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.activity import activity_record
from accounts.models import ActivityAction, SocialAccount
from channels.models import NAME_TAKEN, Channel, channel_name_taken
from ground import events
from posts.images import post_check_images_ready
from posts.models import Post
from scheduling import blackouts, enqueue, reasons, rules, spacing, wall_times
from scheduling.models import Schedule, Stop, Timeslot

# The planner's entry points, re-exported: callers reach every scheduling write here.
from scheduling.planner import PlanResult as PlanResult
from scheduling.planner import _slots_for, planned_until
from scheduling.planner import channels_warn_empty_queues as channels_warn_empty_queues
from scheduling.planner import plan_upcoming as plan_upcoming
from scheduling.planner import planner_fan_out as planner_fan_out
from scheduling.planner import planner_run as planner_run
from scheduling.reasons import Reason

log = logging.getLogger(__name__)


def _reason_missed() -> reasons.Stamp:
    return reasons.stamp(
        Reason.WORKERS_DOWN, minutes=int(settings.MISSED_AFTER.total_seconds() // 60)
    )


def _retire(qs, *, status: str, reason: reasons.Stamp, now: dt.datetime) -> int:
    """End slots that will not publish (canceled, missed): one home for the step that also
    rotates the token, so every message already on the broker for them is a no-op."""
    return qs.update(status=status, **reason.fields(), token=uuid.uuid4(), updated_at=now)


# --- Schedules ---------------------------------------------------------------------------


@dataclass
class ReconcilePlan:
    """What reconciling a schedule will do, computed without writing anything: the one
    home of the decision, so the editor's preview (scheduling/preview.py) and the save
    run the same code (plan, then `_reconcile_apply`)."""

    schedule: Schedule
    now: dt.datetime
    end: dt.datetime
    reason: reasons.Stamp
    cancel: list[Timeslot] = field(default_factory=list)  # scheduled, no longer wanted
    revive: list[Timeslot] = field(default_factory=list)  # canceled by an edit, wanted again
    create: list[Timeslot] = field(default_factory=list)  # new rows (skipped: over the bound)
    untouched: list[Timeslot] = field(default_factory=list)  # moved by a user: left alone


def schedule_reconcile_plan(
    *, schedule: Schedule, now: dt.datetime, lock: bool = False
) -> ReconcilePlan:
    """The plan of `schedule_reconcile`: reads only. `lock` takes the rows' locks (the
    save path, inside its transaction); a preview reads them as they are."""
    end = planned_until(now=now)
    channel = schedule.channel
    wanted: set[dt.datetime] = set()
    if schedule.is_active and not channel.is_paused:
        wanted = {t.publish_at for t in _slots_for(schedule, start=now, end=end)}

    existing: list[Timeslot] = []
    if schedule.pk is not None:  # a new schedule (a preview before the first save) has none
        rows = Timeslot.objects.filter(schedule=schedule, planned_for__gte=now, planned_for__lt=end)
        existing = list((rows.select_for_update() if lock else rows).order_by("planned_for"))
    known = {slot.planned_for for slot in existing}
    live_times = {s.publish_at for s in existing if s.status != Timeslot.Status.CANCELED}
    if channel.is_paused:
        reason = reasons.stamp(Reason.CHANNEL_PAUSED)
    elif not schedule.is_active:
        reason = reasons.stamp(Reason.SCHEDULE_OFF)
    else:
        reason = reasons.stamp(Reason.SCHEDULE_CHANGED)
    plan = ReconcilePlan(schedule=schedule, now=now, end=end, reason=reason)
    for slot in existing:
        if slot.detached:
            if slot.status == Timeslot.Status.SCHEDULED:
                plan.untouched.append(slot)
            continue
        if slot.status == Timeslot.Status.SCHEDULED and slot.planned_for not in wanted:
            plan.cancel.append(slot)
        elif (
            slot.status == Timeslot.Status.CANCELED
            and slot.reason_code in reasons.REVIVABLE
            and slot.planned_for in wanted
            and slot.planned_for not in live_times
        ):
            # An edit took this time away and a later edit gave it back.
            plan.revive.append(slot)
    plan.create = [
        Timeslot(
            channel=channel,
            schedule=schedule,
            publish_at=instant,
            planned_for=instant,
        )
        for instant in sorted(wanted - known)
        if instant not in live_times
    ]
    # Times inside a blackout are created skipped, with the reason (scheduling/blackouts.py).
    blackouts.skip_inside(plan.create, workspace_of={channel.id: channel.workspace_id})
    # The channel's bound holds here too: a resumed channel or a new time zone re-plans
    # every schedule without the save check (scheduling/spacing.py). `admit` only marks
    # the new rows (skipped, with the reason), so the plan says which ones it skips.
    spacing.admit(
        plan.create,
        taken=spacing.counted_times([channel.id], start=now, end=end),
        tz_of=lambda _: channel.tz,
    )
    return plan


def _reconcile_apply(plan: ReconcilePlan) -> dict[str, int]:
    now = plan.now
    canceled = _retire(
        Timeslot.objects.filter(
            id__in=[s.id for s in plan.cancel], status=Timeslot.Status.SCHEDULED
        ),
        status=Timeslot.Status.CANCELED,
        reason=plan.reason,
        now=now,
    )
    for slot in plan.revive:
        slot.status = Timeslot.Status.SCHEDULED
        slot.publish_at = slot.planned_for
        slot.token = uuid.uuid4()
        reasons.NONE.put_on(slot)
        slot.enqueued_at = None
    if plan.revive:
        Timeslot.objects.bulk_update(
            plan.revive, ["status", "publish_at", "token", "reason_code", "reason", "enqueued_at"]
        )
    skipped = sum(1 for s in plan.create if s.status == Timeslot.Status.SKIPPED)
    created = Timeslot.objects.bulk_create(plan.create, ignore_conflicts=True)
    enqueue.enqueue_due(until=now + settings.PLANNER_HORIZON, now=now, schedule=plan.schedule)
    return {
        "canceled": canceled,
        "created": len(created) - skipped,
        "revived": len(plan.revive),
        "skipped": skipped,
    }


@transaction.atomic
def schedule_reconcile(*, schedule: Schedule, now: dt.datetime | None = None) -> dict[str, int]:
    """Make the schedule's future, unpublished, non-detached slots match its rules.

    Kept where still valid, canceled where not, created where new; slots a user moved
    (detached) are left alone. Runs from `now`: a new schedule gets no past slots.
    """
    now = now or timezone.now()
    return _reconcile_apply(schedule_reconcile_plan(schedule=schedule, now=now, lock=True))


def _lock_channel(channel_id: int) -> None:
    """Serialize the writes that add times to one channel (schedule saves, pins, moves and
    the planner), so two of them never both pass the bound's check."""
    list(Channel.objects.select_for_update().filter(pk=channel_id).values_list("id"))


def schedule_save(*, schedule: Schedule, now: dt.datetime | None = None) -> Schedule:
    """Validate and save a schedule, then plan/reconcile its window at once.

    Refused (ValidationError, nothing saved) when a rule does not fire in the next year or
    the channel would publish beyond its bound (scheduling/spacing.py).
    """
    now = now or timezone.now()
    rules.validate(
        schedule.recurrence, starts_on=schedule.starts_on, now=now, tz=schedule.channel.tz
    )
    with transaction.atomic():
        _lock_channel(schedule.channel_id)
        spacing.schedule_check(schedule=schedule, now=now)
        created = schedule.pk is None
        schedule.save()
        schedule_reconcile(schedule=schedule, now=now)
        activity_record(
            workspace_id=schedule.channel.workspace_id,
            action=ActivityAction.SCHEDULE_EDITED,
            channel=schedule.channel,
            target=f"{schedule.channel.name}: {schedule.name}",
            details={"schedule_id": schedule.pk, "created": created},
        )
    return schedule


def channel_save(
    *,
    channel: Channel,
    accounts: Iterable[SocialAccount] | None = None,
    now: dt.datetime | None = None,
) -> Channel:
    """Save a channel (and, given `accounts`, set exactly those as its accounts: each of
    the channel's workspace); a time-zone change or a resume re-plans every schedule of it."""
    channel.full_clean()
    if accounts is not None:
        accounts = list(accounts)
        if any(a.workspace_id != channel.workspace_id for a in accounts):
            raise ValidationError({"accounts": "An account belongs to another workspace."})
    with transaction.atomic():
        before = Channel.objects.filter(pk=channel.pk).values("timezone", "is_paused").first()
        if before and before["is_paused"] and not channel.is_paused and _stopped(channel):
            # An emergency stop holds it: only its resume unpauses (scheduling/stops.py).
            raise ValidationError({"is_paused": "Publishing is stopped; resume it first."})
        _channel_write(channel)
        if accounts is not None:
            channel.accounts.set(accounts)
        _record_channel_change(channel, before)
        if before is None or before != {
            "timezone": channel.timezone,
            "is_paused": channel.is_paused,
        }:
            for schedule in channel.schedules.all():
                schedule.channel = channel
                schedule_reconcile(schedule=schedule, now=now)
    return channel


def _stopped(channel: Channel) -> bool:
    return Stop.objects.filter(
        Q(workspace_id=channel.workspace_id) | Q(workspace__isnull=True), resumed_at__isnull=True
    ).exists()


def _record_channel_change(channel: Channel, before: dict | None) -> None:
    if before is None:
        action = ActivityAction.CHANNEL_CREATED
    elif before["is_paused"] != channel.is_paused:
        action = (
            ActivityAction.CHANNEL_PAUSED if channel.is_paused else ActivityAction.CHANNEL_RESUMED
        )
    else:
        action = ActivityAction.CHANNEL_EDITED
    activity_record(workspace_id=channel.workspace_id, action=action, channel=channel)


def _channel_write(channel: Channel) -> None:
    """channel.save(), where a concurrent save that took the same name (checked by
    full_clean, but committed by another request since) is the form's error, not a 500."""
    try:
        with transaction.atomic():
            channel.save()
    except IntegrityError:
        if channel_name_taken(
            workspace_id=channel.workspace_id, name=channel.name, exclude_id=channel.pk
        ):
            raise ValidationError({"name": NAME_TAKEN}) from None
        raise


# --- Posts ---------------------------------------------------------------------------------


@transaction.atomic
def post_archive(*, post: Post, now: dt.datetime | None = None) -> Post:
    """Archive a post: it leaves every queue's rotation and its pinned slots are canceled.

    Nothing is deleted, so its publication history stays; setting it back to ready puts it
    in rotation again (pinned slots stay canceled).
    """
    now = now or timezone.now()
    Post.objects.filter(pk=post.pk).update(status=Post.Status.ARCHIVED)
    activity_record(workspace_id=post.workspace_id, action=ActivityAction.POST_ARCHIVED, post=post)
    _retire(
        Timeslot.objects.filter(post=post, status=Timeslot.Status.SCHEDULED),
        status=Timeslot.Status.CANCELED,
        reason=reasons.stamp(Reason.POST_ARCHIVED),
        now=now,
    )
    post.status = Post.Status.ARCHIVED
    return post


# --- Single slots ------------------------------------------------------------------------


def _message_if_near(slot: Timeslot, *, now: dt.datetime) -> None:
    """Enqueue now if the slot is inside the horizon; otherwise the planner will."""
    if slot.publish_at < now + settings.PLANNER_HORIZON:
        Timeslot.objects.filter(pk=slot.pk).update(enqueued_at=now)
        slot.enqueued_at = now
        enqueue.on_commit([enqueue.Message(slot.pk, slot.token, slot.publish_at)])


def check_publish_time(publish_at: dt.datetime, *, now: dt.datetime) -> None:
    """A pin or move time must carry a zone and not lie in the past (one minute of grace).
    The errors name the field, so the API answers {"publish_at": [...]}; forms and the admin
    read their messages as before."""
    if timezone.is_naive(publish_at):
        raise ValidationError({"publish_at": "The time must include a time zone."})
    if publish_at < now - dt.timedelta(minutes=1):
        raise ValidationError({"publish_at": "That time is in the past: pick a time from now on."})


@transaction.atomic
def timeslot_pin(
    *, post: Post, channel: Channel, publish_at: dt.datetime, now: dt.datetime | None = None
) -> Timeslot:
    """Pin a post to one exact time on a channel."""
    slot = _pin(post=post, channel=channel, publish_at=publish_at, now=now)
    _record_slot(ActivityAction.SLOT_PINNED, slot, post=post)
    return slot


def _record_slot(action: ActivityAction, slot: Timeslot, *, post: Post | None, **details) -> None:
    activity_record(
        workspace_id=slot.channel.workspace_id,
        action=action,
        post=post,
        channel=slot.channel,
        details={"timeslot_id": slot.pk, "publish_at": slot.publish_at.isoformat(), **details},
    )


def _pin(
    *, post: Post, channel: Channel, publish_at: dt.datetime, now: dt.datetime | None
) -> Timeslot:
    now = now or timezone.now()
    check_publish_time(publish_at, now=now)
    if post.workspace_id != channel.workspace_id:
        raise ValidationError("The post and the channel belong to different workspaces.")
    if post.status == Post.Status.ARCHIVED:
        raise ValidationError("An archived post cannot be scheduled.")
    post_check_images_ready(post=post)
    publish_at = max(publish_at, now)
    _lock_channel(channel.pk)
    spacing.timeslot_check(channel=channel, publish_at=publish_at, now=now)
    slot = Timeslot.objects.create(
        channel=channel,
        post=post,
        publish_at=publish_at,
        **wall_times.wall_fields(publish_at, channel.tz),  # kept across zone-law changes
    )
    _message_if_near(slot, now=now)
    return slot


@transaction.atomic
def post_share_now(*, post: Post, channel: Channel, now: dt.datetime | None = None) -> Timeslot:
    now = now or timezone.now()
    # A post waiting for approval would only be skipped at once (posts.review): say so.
    post.refresh_from_db(fields=["needs_approval", "review_state"])
    if post.awaits_approval:
        raise ValidationError(
            "This post needs approval before it is published: submit it for review, "
            "and share it once an approver approved it."
        )
    slot = _pin(post=post, channel=channel, publish_at=now, now=now)
    _record_slot(ActivityAction.SLOT_SHARED_NOW, slot, post=post)
    return slot


@transaction.atomic
def timeslot_reschedule(
    *, timeslot: Timeslot, publish_at: dt.datetime, now: dt.datetime | None = None
) -> Timeslot:
    """Move a slot. The token rotates, so the message already queued for it dies harmlessly."""
    now = now or timezone.now()
    check_publish_time(publish_at, now=now)
    _lock_channel(timeslot.channel_id)
    spacing.timeslot_check(
        channel=timeslot.channel, publish_at=publish_at, now=now, moving=timeslot
    )
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
                **wall_times.wall_fields(publish_at, timeslot.channel.tz),
            )
    except IntegrityError:
        raise ValidationError("This schedule already has a slot at that time.") from None
    if not moved:
        raise ValidationError("This slot is already publishing or finished; it cannot be moved.")
    before = timeslot.publish_at
    timeslot.refresh_from_db()
    _message_if_near(timeslot, now=now)
    _record_slot(
        ActivityAction.SLOT_MOVED, timeslot, post=timeslot.post, moved_from=before.isoformat()
    )
    return timeslot


@transaction.atomic
def timeslot_cancel(*, timeslot: Timeslot, now: dt.datetime | None = None) -> Timeslot:
    """Cancel a scheduled slot; every message already queued for it becomes a no-op."""
    now = now or timezone.now()
    canceled = _retire(
        Timeslot.objects.filter(pk=timeslot.pk, status=Timeslot.Status.SCHEDULED),
        status=Timeslot.Status.CANCELED,
        reason=reasons.stamp(Reason.USER_CANCELED),
        now=now,
    )
    if not canceled:
        raise ValidationError("This slot is already publishing or finished; it cannot be canceled.")
    timeslot.refresh_from_db()
    _record_slot(ActivityAction.SLOT_CANCELED, timeslot, post=timeslot.post)
    return timeslot


REASON_NO_SUCH_OCCURRENCE = "The schedule no longer has a slot at that time: reload the calendar."


@transaction.atomic
def projected_slot_plan(
    *, schedule: Schedule, occurrence: dt.datetime, now: dt.datetime | None = None
) -> Timeslot:
    """Plan one projected occurrence now, so a user can act on a slot beyond the planner's
    window (the calendar shows those from the rule; they have no row yet).

    The row is detached: the user is about to change it, and a detached slot is one the
    planner and schedule_reconcile leave alone. It keeps `planned_for`, so the planner
    (keyed on schedule and occurrence) never plans that occurrence a second time. If the
    planner got there first, its row is returned as it is.
    """
    now = now or timezone.now()
    check_publish_time(occurrence, now=now)
    channel = schedule.channel
    if not schedule.is_active or channel.is_paused:
        raise ValidationError("The schedule or its channel is off: this slot will not happen.")
    expected = rules.occurrences(
        schedule.recurrence,
        tz=channel.tz,
        starts_on=schedule.starts_on,
        start=occurrence,
        end=occurrence + dt.timedelta(seconds=1),
    )
    if occurrence not in expected:
        raise ValidationError(REASON_NO_SUCH_OCCURRENCE)
    try:
        with transaction.atomic():
            slot, created = Timeslot.objects.get_or_create(
                schedule=schedule,
                planned_for=occurrence,
                defaults={"channel": channel, "publish_at": occurrence, "detached": True},
            )
    except IntegrityError:
        # A slot of this schedule was moved to exactly this instant.
        raise ValidationError("This schedule already has a slot at that time.") from None
    if created:
        _message_if_near(slot, now=now)
    return slot


@transaction.atomic
def timeslot_set_post(
    *, timeslot: Timeslot, post: Post | None, now: dt.datetime | None = None
) -> Timeslot:
    """Pin `post` to a coming slot, or (None) give a schedule's slot back to the queue.

    The publisher reads the slot's post when it claims the slot, so the message already
    queued stays valid: no token change. A schedule's slot becomes detached, so a later
    schedule edit does not cancel a post the user placed there by hand.
    """
    now = now or timezone.now()
    if post is None and timeslot.schedule_id is None:
        raise ValidationError("This slot exists only for its pinned post: cancel it instead.")
    if post is not None:
        if post.workspace_id != timeslot.channel.workspace_id:
            raise ValidationError("The post and the channel belong to different workspaces.")
        if post.status == Post.Status.ARCHIVED:
            raise ValidationError("An archived post cannot be scheduled.")
        post_check_images_ready(post=post)
    changed = Timeslot.objects.filter(pk=timeslot.pk, status=Timeslot.Status.SCHEDULED).update(
        post=post,
        detached=timeslot.detached or timeslot.schedule_id is not None,
        updated_at=now,
    )
    if not changed:
        raise ValidationError("This slot is already publishing or finished; it cannot change.")
    timeslot.refresh_from_db()
    _record_slot(ActivityAction.SLOT_POST_SET, timeslot, post=post)
    return timeslot


# --- Watchdog ----------------------------------------------------------------------------


@dataclass
class WatchdogResult:
    missed: int = 0
    requeued: int = 0
    enqueued: int = 0


def timeslots_mark_missed(
    *, now: dt.datetime, channel: Channel | None = None, ids: list[int] | None = None
) -> int:
    """Slots still scheduled past MISSED_AFTER: missed, with a reason, the owners told.

    `ids` limits it to those slots (a publish batch that found some of its own too late).
    """
    from accounts.models import EventType, Notice
    from accounts.outbox import NewEvent, record_events
    from accounts.services import notice_create

    cutoff = now - settings.MISSED_AFTER
    with transaction.atomic():
        qs = Timeslot.objects.select_for_update(skip_locked=True).filter(
            status=Timeslot.Status.SCHEDULED, publish_at__lt=cutoff
        )
        if channel is not None:
            qs = qs.filter(channel=channel)
        if ids is not None:
            qs = qs.filter(id__in=ids)
        rows = list(qs.select_related("channel").order_by("publish_at")[:5000])
        if not rows:
            return 0
        reason = _reason_missed()
        _retire(
            Timeslot.objects.filter(id__in=[r.id for r in rows]),
            status=Timeslot.Status.MISSED,
            reason=reason,
            now=now,
        )
        record_events(
            NewEvent(
                r.channel.workspace_id,
                EventType.TIMESLOT_MISSED,
                {
                    "timeslot_id": r.id,
                    "status": str(Timeslot.Status.MISSED),
                    "reason_code": str(reason.code),
                    "reason": reason.text,
                },
            )
            for r in rows
        )
        events.log_events(
            "missed",
            (
                {
                    "timeslot_id": r.id,
                    "channel_id": r.channel_id,
                    "workspace_id": r.channel.workspace_id,
                }
                for r in rows
            ),
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
                    f"({times} {ch.timezone}). {reason.text}"
                ),
                subject=f"channel:{ch.id}",
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
            events.log_events("requeued", ({"timeslot_id": r.id} for r in rows))
            enqueue.on_commit(enqueue.Message(r.id, r.token, now) for r in rows)
        total += len(rows)
        if len(rows) < settings.PLANNER_BATCH_SIZE:
            return total


def watchdog_run(
    *, now: dt.datetime | None = None, channel: Channel | None = None
) -> WatchdogResult:
    """The slots' half of the watchdog (DESIGN §3). Deliveries have their own recovery task
    in `publishing` (publishing.recover_deliveries), which this layer never imports."""
    now = now or timezone.now()
    result = WatchdogResult()
    result.missed = timeslots_mark_missed(now=now, channel=channel)
    result.requeued = timeslots_requeue_overdue(now=now, channel=channel)
    filters = {"channel": channel} if channel is not None else {}
    # Never enqueued (broker down at commit) or pinned beyond the horizon and now near.
    result.enqueued = enqueue.enqueue_due(until=now + settings.PLANNER_HORIZON, now=now, **filters)
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
