"""The planner (DESIGN §3): turns schedules into timeslots for the coming window and
enqueues their publish messages.

Two ways to run it, one body (`_plan_schedules`):
- `planner_run` plans every schedule in this process (`manage.py plan_timeslots`, tests);
- `planner_fan_out` (beat's hourly `scheduling.plan_upcoming`) cuts the active schedules
  into id ranges of PLANNER_CHUNK_SIZE and sends one `scheduling.plan_chunk` task per range,
  so every worker plans; the last chunk to finish moves the watermark (fan-in).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Sum
from django.utils import timezone

from accounts.models import EventType
from accounts.outbox import NewEvent, record_events
from accounts.services import notices_email_later
from channels import queue_rule
from channels.models import Channel, QueueEntry
from ground import events, opsrecord
from queueloop.celery import send_many
from scheduling import blackouts, enqueue, reasons, rules, spacing, wall_times
from scheduling.models import PlannerChunk, PlannerState, Schedule, Timeslot
from scheduling.reasons import Reason

log = logging.getLogger(__name__)

CHUNK_TASK = "scheduling.plan_chunk"
ENQUEUE_RANGE_TASK = "scheduling.enqueue_range"

# How far back a planner outage is recorded as missed slots (older occurrences are only
# counted in the notice's time range, not stored one by one).
MISSED_GAP_LIMIT = dt.timedelta(days=7)


def _notify_planner_gap(missed_by_workspace: dict[int, int], *, reason: reasons.Stamp) -> None:
    from accounts.models import Notice
    from accounts.services import notice_create

    for workspace_id, count in missed_by_workspace.items():
        notice_create(
            workspace_id=workspace_id,
            kind=Notice.Kind.TIMESLOT_MISSED,
            message=f"{count} slot(s) were missed. {reason.text}",
        )


@dataclass
class PlanResult:
    start: dt.datetime
    end: dt.datetime
    created: int = 0
    missed: int = 0
    warned_empty: int = 0
    enqueued: int = 0
    skipped: int = 0  # over the channel's bound (scheduling/spacing.py)
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


@dataclass
class _Window:
    start: dt.datetime
    end: dt.datetime
    gap_start: dt.datetime | None = None  # a planner outage to record as missed
    gap_end: dt.datetime | None = None


def _window(*, now: dt.datetime, until: dt.datetime | None, state: PlannerState) -> _Window:
    """Plan from the stored watermark (an hour beat missed is caught up), never from
    further back than MISSED_AFTER: those slots could only be marked missed. The occurrences
    of a longer outage (at most MISSED_GAP_LIMIT back) are recorded missed, with a reason."""
    end = until or now + settings.PLANNER_HORIZON
    floor = now - settings.MISSED_AFTER
    window = _Window(start=max(state.planned_until or now, floor), end=end)
    if state.planned_until and state.planned_until < floor:
        window.gap_start = max(state.planned_until, now - MISSED_GAP_LIMIT)
        window.gap_end = floor
    return window


def _plan_schedules(
    schedules, window: _Window, *, dry_run: bool, batch_size: int, result: PlanResult
) -> None:
    """Create the missing slots of `schedules` in the window, in batches: per batch one
    SELECT (schedules + channels), one lock of their channels, one SELECT of existing slots,
    one of the channels' counted times, one INSERT."""
    start, end = window.start, window.end
    if start >= end:
        return
    gap_reason = (
        reasons.stamp(Reason.PLANNER_DOWN, start=window.gap_start, end=window.gap_end)
        if window.gap_start
        else reasons.NONE
    )
    missed_by_workspace: dict[int, int] = {}
    last_id = 0
    while True:
        batch = list(schedules.filter(id__gt=last_id).order_by("id")[:batch_size])
        if not batch:
            break
        last_id = batch[-1].id
        with transaction.atomic():
            _plan_batch(
                batch,
                window,
                gap_reason=gap_reason,
                dry_run=dry_run,
                result=result,
                missed_by_workspace=missed_by_workspace,
            )
        if len(batch) < batch_size:
            break
    if not dry_run:
        _notify_planner_gap(missed_by_workspace, reason=gap_reason)


def _plan_batch(
    batch: list[Schedule],
    window: _Window,
    *,
    gap_reason: reasons.Stamp,
    dry_run: bool,
    result: PlanResult,
    missed_by_workspace: dict[int, int],
) -> None:
    start, end = window.start, window.end
    by_schedule = {s.id: s for s in batch}
    channels = {s.channel_id: s.channel for s in batch}
    if not dry_run:
        # The channels' bound is checked against what they hold: lock them (in id order, as
        # the publisher and the saves do) so a concurrent chunk or save cannot add times
        # between the check and the INSERT.
        list(
            Channel.objects.select_for_update()
            .filter(id__in=list(channels))
            .order_by("id")
            .values_list("id")
        )
    slots = [t for schedule in batch for t in _slots_for(schedule, start=start, end=end)]
    if window.gap_start is not None and not dry_run:
        for schedule in batch:
            for t in _slots_for(schedule, start=window.gap_start, end=window.gap_end):
                t.status = Timeslot.Status.MISSED
                gap_reason.put_on(t)
                slots.append(t)
    existing = set(
        Timeslot.objects.filter(
            schedule_id__in=by_schedule,
            planned_for__gte=min(start, window.gap_start or start),
            planned_for__lt=end,
        ).values_list("schedule_id", "planned_for")
    )
    slots = [t for t in slots if (t.schedule_id, t.planned_for) not in existing]
    # A slot inside a blackout is stored skipped, with the blackout's reason (not counted
    # against the bound): the calendar shows the gap and why (scheduling/blackouts.py).
    blackouts.skip_inside(slots, workspace_of={c.id: c.workspace_id for c in channels.values()})
    # A slot over its channel's bound is stored skipped, with the reason: the user sees why,
    # and the occurrence is not planned again (scheduling/spacing.py).
    skipped = spacing.admit(
        slots,
        taken=spacing.counted_times(channels, start=start, end=end),
        tz_of=lambda channel_id: channels[channel_id].tz,
    )
    result.skipped += skipped
    for t in slots:
        if t.status == Timeslot.Status.MISSED:
            ws = channels[t.channel_id].workspace_id
            missed_by_workspace[ws] = missed_by_workspace.get(ws, 0) + 1
    if dry_run:
        for t in slots:
            if t.status == Timeslot.Status.SCHEDULED:
                schedule = by_schedule[t.schedule_id]
                result.would_create.append(
                    (f"{schedule.channel.slug}/{schedule.name}", t.publish_at)
                )
    elif slots:
        # ignore_conflicts: the unique (schedule, planned_for) makes a concurrent
        # second planner (two beats by mistake, a chunk run twice) a no-op for them.
        Timeslot.objects.bulk_create(slots, ignore_conflicts=True)
        result.created += sum(t.status == Timeslot.Status.SCHEDULED for t in slots)
        result.missed += sum(t.status == Timeslot.Status.MISSED for t in slots)
        _record_ended(slots, channels=channels, by_schedule=by_schedule)


ENDED_AT_PLANNING = (Timeslot.Status.MISSED, Timeslot.Status.SKIPPED)


def _record_ended(slots, *, channels, by_schedule) -> None:
    """timeslot.missed / timeslot.skipped events for the slots created already ended (an
    outage's gap; over the channel's bound), in the batch's transaction. Their ids are read
    back (bulk_create with ignore_conflicts sets none): one SELECT and one INSERT, and only
    in a batch that has such slots."""
    ended = {(t.schedule_id, t.planned_for) for t in slots if t.status in ENDED_AT_PLANNING}
    if not ended:
        return
    rows = Timeslot.objects.filter(
        schedule_id__in={k[0] for k in ended},
        planned_for__in={k[1] for k in ended},
        status__in=ENDED_AT_PLANNING,
    ).values_list("id", "schedule_id", "planned_for", "status", "reason_code", "reason")
    record_events(
        NewEvent(
            channels[by_schedule[schedule_id].channel_id].workspace_id,
            EventType(f"timeslot.{status}"),
            {"timeslot_id": i, "status": status, "reason_code": code, "reason": reason},
        )
        for i, schedule_id, planned_for, status, code, reason in rows
        if (schedule_id, planned_for) in ended
    )


def planner_run(
    *,
    now: dt.datetime | None = None,
    until: dt.datetime | None = None,
    dry_run: bool = False,
    batch_size: int | None = None,
) -> PlanResult:
    """Create the slots of [watermark, now + horizon) for every active schedule, then enqueue,
    all in this process. Never one query per row."""
    started = time.monotonic()
    now = now or timezone.now()
    batch_size = batch_size or settings.PLANNER_BATCH_SIZE
    state, _ = PlannerState.objects.get_or_create(key="default")
    window = _window(now=now, until=until, state=state)
    result = PlanResult(start=window.start, end=window.end)
    _plan_schedules(
        _plannable_schedules(), window, dry_run=dry_run, batch_size=batch_size, result=result
    )
    if dry_run:
        return result
    result.enqueued = enqueue.enqueue_due(until=window.end, now=now, batch_size=batch_size)
    PlannerState.objects.filter(pk=state.pk).update(
        planned_until=max(window.end, state.planned_until or window.end),
        last_run_at=now,
        last_run_created=result.created,
    )
    events.log_event("planned", count=result.created)
    opsrecord.planner_run_record(
        duration_s=time.monotonic() - started,
        created=result.created,
        enqueued=result.enqueued,
    )
    return result


def plan_upcoming(
    *, now: dt.datetime | None = None, until: dt.datetime | None = None
) -> PlanResult:
    """What `manage.py plan_timeslots` runs: plan the window in this process, then warn
    owners whose next slot will find an empty queue (kept out of planner_run so planning
    itself stays lean)."""
    now = now or timezone.now()
    wall_times.wall_times_check(now=now)  # pins keep their local time across tzdata changes
    result = planner_run(now=now, until=until)
    result.warned_empty = channels_warn_empty_queues(now=now, until=result.end)
    return result


# --- Fan-out over the workers ----------------------------------------------------------------


def planner_fan_out(*, now: dt.datetime | None = None, until: dt.datetime | None = None) -> int:
    """Beat's hourly run: one `plan_chunk` task per PLANNER_CHUNK_SIZE schedules, sent after
    commit; returns how many. The last chunk to finish moves the watermark."""
    now = now or timezone.now()
    state, _ = PlannerState.objects.get_or_create(key="default")
    window = _window(now=now, until=until, state=state)
    ids = list(_plannable_schedules().order_by("id").values_list("id", flat=True))
    size = settings.PLANNER_CHUNK_SIZE
    ranges = [(ids[i], ids[min(i + size, len(ids)) - 1]) for i in range(0, len(ids), size)]
    if not ranges:
        ranges = [(0, 0)]  # nothing to plan, but the run still finishes (and enqueues pins)
    with transaction.atomic():
        chunks = PlannerChunk.objects.bulk_create(
            [
                PlannerChunk(
                    run_at=now,
                    first_schedule_id=first,
                    last_schedule_id=last,
                    start=window.start,
                    end=window.end,
                )
                for first, last in ranges
            ]
        )
        ids = [c.id for c in chunks]
        transaction.on_commit(lambda: _send_chunks(ids, window))
    return len(chunks)


def _send_chunks(chunk_ids: list[int], window: _Window) -> None:
    gap = [window.gap_start.isoformat(), window.gap_end.isoformat()] if window.gap_start else None
    try:
        send_many(CHUNK_TASK, [((chunk_id, gap), None) for chunk_id in chunk_ids], what="chunk")
    except Exception:
        # The run stays unfinished and its watermark unmoved: the next run plans this
        # window again (planning is idempotent), and the watchdog enqueues what exists.
        log.exception("broker refused the planner's chunk messages")


def planner_chunk_run(*, chunk_id: int, gap: list[str] | None = None) -> PlanResult | None:
    """Plan one chunk's schedules; the last chunk of the run finishes it (fan-in)."""
    chunk = PlannerChunk.objects.filter(id=chunk_id).first()
    if chunk is None:
        return None
    window = _Window(start=chunk.start, end=chunk.end)
    if gap:
        window.gap_start, window.gap_end = (dt.datetime.fromisoformat(g) for g in gap)
    result = PlanResult(start=chunk.start, end=chunk.end)
    schedules = _plannable_schedules().filter(
        id__gte=chunk.first_schedule_id, id__lte=chunk.last_schedule_id
    )
    _plan_schedules(
        schedules, window, dry_run=False, batch_size=settings.PLANNER_BATCH_SIZE, result=result
    )
    now = timezone.now()
    # No enqueueing here: the run's last chunk enqueues every slot of the window at once, so
    # each publish message carries every slot of its second (a chunk only knows its own:
    # with 10 chunks a message carried far fewer slots, and the broker writes cost the
    # planner more CPU per slot: bench/README.md, "Engine v2, 2026-12-02"). Slots are
    # planned >= 15 min ahead; should the fan-in never come, the watchdog enqueues them
    # (never enqueued).
    events.log_event("planned", count=result.created)
    if PlannerChunk.objects.filter(id=chunk.id, done_at__isnull=True).update(
        done_at=now, created=result.created
    ):
        _finish_run_if_last(chunk, now=now)
    return result


def _finish_run_if_last(chunk: PlannerChunk, *, now: dt.datetime) -> None:
    """Fan-in. Each chunk commits its own `done_at` before it looks, so the last one to
    finish sees every chunk done; the conditional UPDATE lets exactly one finish the run."""
    run = PlannerChunk.objects.filter(run_at=chunk.run_at)
    if run.filter(done_at__isnull=True).exists():
        return
    created = run.aggregate(n=Sum("created"))["n"] or 0
    state = PlannerState.objects.get(key="default")
    finished = (
        PlannerState.objects.filter(pk=state.pk)
        .exclude(last_run_at__gte=chunk.run_at)
        .update(
            planned_until=max(chunk.end, state.planned_until or chunk.end),
            last_run_at=chunk.run_at,
            last_run_created=created,
        )
    )
    if finished:
        # Every slot the chunks planned (and pinned slots now inside the horizon), sent by
        # the workers in parallel: the window is cut into whole-second ranges, one task each.
        pending = Timeslot.objects.filter(
            status=Timeslot.Status.SCHEDULED, enqueued_at__isnull=True, publish_at__lt=chunk.end
        ).count()
        ranges = enqueue_ranges(start=chunk.start, end=chunk.end, parts=run.count())
        if len(ranges) == 1:
            enqueue.enqueue_due(until=chunk.end, now=now)
        else:
            transaction.on_commit(lambda: _send_enqueue_ranges(ranges))
        opsrecord.planner_run_record(
            duration_s=(timezone.now() - chunk.run_at).total_seconds(),
            created=created,
            enqueued=pending,
        )
        channels_warn_empty_queues(now=now, until=chunk.end)
        # Old runs' bookkeeping is of no further use.
        PlannerChunk.objects.filter(run_at__lt=chunk.run_at - dt.timedelta(days=1)).delete()


def enqueue_ranges(
    *, start: dt.datetime, end: dt.datetime, parts: int
) -> list[tuple[dt.datetime | None, dt.datetime]]:
    """Cut [start, end) into at most `parts` (capped by PLANNER_ENQUEUE_RANGES) ranges on
    whole seconds, so every second's slots stay in one range and its publish messages stay
    full. The first range is open below: it also takes pins and leftovers due earlier."""
    parts = max(1, min(parts, settings.PLANNER_ENQUEUE_RANGES))
    seconds = int((end - start).total_seconds())
    step = max(1, -(-seconds // parts))
    base = start.replace(microsecond=0)  # cut on whole seconds, as publish messages group
    cuts = [base + dt.timedelta(seconds=i) for i in range(step, seconds, step)]
    bounds = [None, *cuts]
    return list(zip(bounds, [*cuts, end], strict=True))


def _send_enqueue_ranges(ranges: list[tuple[dt.datetime | None, dt.datetime]]) -> None:
    args = [((lo.isoformat() if lo else None, hi.isoformat()), None) for lo, hi in ranges]
    try:
        send_many(ENQUEUE_RANGE_TASK, args, what="enqueue range")
    except Exception:
        # The slots stay "never enqueued": the watchdog sends them (they are >= 15 min ahead).
        log.exception("broker refused the planner's enqueue messages")


def enqueue_range(*, since: str | None, until: str) -> int:
    """One part of a fanned-out run's enqueue: the scheduled slots due in [since, until)."""
    filters = {"publish_at__gte": dt.datetime.fromisoformat(since)} if since else {}
    return enqueue.enqueue_due(until=dt.datetime.fromisoformat(until), **filters)


def empty_queue_warning_subject(channel_id: int) -> str:
    """The subject of the warning that a channel's queue will be empty: its own, not the
    claim's "channel:<id>" (a slot that found the queue empty is a new incident)."""
    return f"channel:{channel_id}:empty-ahead"


def channels_warn_empty_queues(*, now: dt.datetime, until: dt.datetime) -> int:
    """Tell owners, before it happens, that a channel's next queue slot has nothing to post.

    One query finds the channels with a scheduled queue slot before `until` and no usable
    entry; each is told at most once a day (a warning about it not older than 24 h counts,
    found by its subject, whatever its words).
    """
    from accounts.models import Notice

    upcoming = Timeslot.objects.filter(
        channel=OuterRef("pk"),
        status=Timeslot.Status.SCHEDULED,
        post__isnull=True,
        publish_at__gte=now,
        publish_at__lt=until,
    )
    usable = QueueEntry.objects.filter(queue_rule.usable_q(at=now), channel=OuterRef("pk"))
    empty = list(Channel.objects.filter(Exists(upcoming), is_paused=False).exclude(Exists(usable)))
    if not empty:
        return 0
    messages = {
        c.id: f"{c.name} will have nothing to publish at its next slot: its queue is empty."
        for c in empty
    }
    already = set(
        Notice.objects.filter(
            kind=Notice.Kind.QUEUE_EMPTY,
            subject__in=[empty_queue_warning_subject(c.id) for c in empty],
            created_at__gte=now - dt.timedelta(hours=24),
        ).values_list("subject", flat=True)
    )
    notices = Notice.objects.bulk_create(
        [
            Notice(
                workspace_id=c.workspace_id,
                kind=Notice.Kind.QUEUE_EMPTY,
                message=messages[c.id],
                subject=empty_queue_warning_subject(c.id),
            )
            for c in empty
            if empty_queue_warning_subject(c.id) not in already
        ]
    )
    ids = [n.id for n in notices]
    transaction.on_commit(lambda: notices_email_later(ids))
    return len(ids)


def planned_until(*, now: dt.datetime) -> dt.datetime:
    state = PlannerState.objects.filter(key="default").first()
    horizon_end = now + settings.PLANNER_HORIZON
    if state and state.planned_until and state.planned_until > horizon_end:
        return state.planned_until
    return horizon_end
