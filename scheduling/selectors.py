"""Scheduling reads: what a channel will publish next, the slots of a calendar week, and the
post list with each post's queues and pinned times.

`upcoming_*` answer "which post will each coming slot take?" without touching the queue:
they replay the publisher's queue rule (channels/queue_rule.py: least recently published
first, then position, then id; skipping drafts, expired posts and spent entries;
deactivating used entries in `once` mode) over the channel's scheduled slots in time order,
on in-memory copies of the queue entries. Slots beyond the planner's window have no rows
yet; they are projected from the schedules' rules (same expansion as the planner) and
marked as such.

Every function here runs a constant number of queries, however many slots or posts.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, Prefetch, Q, QuerySet

from accounts.models import Workspace
from channels import queue_rule
from channels.models import Channel, QueueEntry
from posts.models import Post
from scheduling import rules
from scheduling.models import Schedule, Timeslot

# How far ahead projections look, widened step by step until `limit` slots are found.
_PROJECTION_WINDOWS = (dt.timedelta(days=2), dt.timedelta(days=14), dt.timedelta(days=400))
# The calendar predicts each slot's post only for weeks starting within this: beyond, the
# replay from now would be long (an every-minute rule) and the guess much less useful.
PREDICT_AHEAD = dt.timedelta(days=21)
# A calendar never replays more than this many slots per channel (an every-minute rule
# four weeks ahead): beyond it, queue slots are shown without a predicted post.
MAX_SIMULATED_SLOTS = 5000

PROBLEM_PAUSED = "The channel is paused: this slot will be skipped."
PROBLEM_QUEUE_EMPTY = "The queue will be empty: this slot will be skipped."
PROBLEM_PINNED_GONE = "The pinned post is archived or will have expired: skipped."
PROBLEM_NOT_PREDICTED = "Takes the queue's next post (too far ahead to predict which)."


@dataclass
class UpcomingSlot:
    """A coming slot and the post it will take (None when it will be skipped)."""

    channel: Channel
    publish_at: dt.datetime
    timeslot: Timeslot | None = None  # None: projected from a rule, not planned yet
    schedule: Schedule | None = None
    post: Post | None = None
    text: str = ""
    pinned: bool = False
    problem: str = ""
    # The entry's count at this slot in the replay (it picks the variation's text)...
    times_published: int = 0
    # ...and how often the post really went out in this channel so far: the replay counts
    # the coming slots before this one, which have not published anything yet.
    published_before: int = 0

    @property
    def is_projected(self) -> bool:
        return self.timeslot is None

    @property
    def is_warning(self) -> bool:
        """Something the user should look at (not just "too far ahead to predict")."""
        return bool(self.problem) and self.problem != PROBLEM_NOT_PREDICTED

    @property
    def local_time(self) -> dt.datetime:
        return self.publish_at.astimezone(self.channel.tz)


def _window_start(now: dt.datetime) -> dt.datetime:
    # A slot overdue by less than MISSED_AFTER still publishes (the watchdog re-sends it).
    return now - settings.MISSED_AFTER


def _scheduled_slots(channel_ids: Iterable[int], *, start: dt.datetime, end: dt.datetime | None):
    qs = (
        Timeslot.objects.filter(
            channel_id__in=list(channel_ids),
            status=Timeslot.Status.SCHEDULED,
            publish_at__gte=start,
        )
        .select_related("schedule", "post")
        .prefetch_related("post__variations")
        .order_by("publish_at", "id")
    )
    if end is not None:
        qs = qs.filter(publish_at__lt=end)
    # Scheduled rows exist only inside the planner's window (plus pinned posts), so this
    # stays small without a limit.
    return list(qs)


def _entries(channel_ids: Iterable[int]) -> dict[int, list[QueueEntry]]:
    by_channel: dict[int, list[QueueEntry]] = defaultdict(list)
    rows = (
        QueueEntry.objects.filter(channel_id__in=list(channel_ids))
        .select_related("post")
        .prefetch_related("post__variations")
    )
    for entry in rows:
        by_channel[entry.channel_id].append(entry)
    return by_channel


def _schedules(channel_ids: Iterable[int]) -> dict[int, list[Schedule]]:
    by_channel: dict[int, list[Schedule]] = defaultdict(list)
    # By id: the planner creates one schedule's slots after another in id order, so two
    # schedules firing at one instant get their slot ids (the publisher's tie-break) so.
    schedules = Schedule.objects.filter(channel_id__in=list(channel_ids), is_active=True)
    for schedule in schedules.order_by("id"):
        by_channel[schedule.channel_id].append(schedule)
    return by_channel


def _planned_keys(
    schedule_ids: Sequence[int], *, start: dt.datetime
) -> set[tuple[int, dt.datetime]]:
    """(schedule, occurrence) pairs that already have a row, whatever its status."""
    if not schedule_ids:
        return set()
    return set(
        Timeslot.objects.filter(schedule_id__in=schedule_ids, planned_for__gte=start).values_list(
            "schedule_id", "planned_for"
        )
    )


def _projections(
    channel: Channel,
    schedules: Sequence[Schedule],
    planned: set[tuple[int, dt.datetime]],
    *,
    start: dt.datetime,
    end: dt.datetime,
) -> list[UpcomingSlot]:
    if channel.is_paused or start >= end:
        return []
    out = []
    for schedule in schedules:
        for instant in rules.occurrences(
            schedule.recurrence,
            tz=channel.tz,
            starts_on=schedule.starts_on,
            start=start,
            end=end,
        ):
            if (schedule.id, instant) not in planned:
                out.append(UpcomingSlot(channel=channel, publish_at=instant, schedule=schedule))
    return out


def _simulate(
    channel: Channel, slots: list[UpcomingSlot], entries: Sequence[QueueEntry]
) -> list[UpcomingSlot]:
    """Fill in each slot's post, replaying the publisher over `slots` (sorted by time).

    The queue rule is the publisher's own (channels/queue_rule.py), applied to copies of the
    entries so nothing is written.
    """
    copies = [copy.copy(e) for e in entries]
    by_post = {e.post_id: e for e in copies}
    real = {e.post_id: e.times_published for e in entries}
    for n, slot in enumerate(slots):
        at = slot.publish_at
        if channel.is_paused:
            slot.problem = PROBLEM_PAUSED
            continue
        if n >= MAX_SIMULATED_SLOTS and not slot.pinned:
            slot.problem = PROBLEM_NOT_PREDICTED
            continue
        if slot.pinned:
            post = slot.post
            if post.status == Post.Status.ARCHIVED or (post.expires_at and post.expires_at <= at):
                slot.post, slot.problem = None, PROBLEM_PINNED_GONE
                continue
            entry = by_post.get(post.id)
            times = entry.times_published if entry else 0
            slot.text = queue_rule.text_for(post, times_published=times)
            slot.times_published = times
            slot.published_before = real.get(post.id, 0)
            if entry is not None:
                # A pinned publication counts in the loop, as in the publisher.
                queue_rule.record_use(entry, mode=channel.mode, at=at)
            continue
        entry = queue_rule.next_entry(copies, at=at)
        if entry is None:
            slot.problem = PROBLEM_QUEUE_EMPTY
            continue
        post = entry.post
        slot.post, slot.times_published = post, entry.times_published
        slot.published_before = real.get(post.id, 0)
        slot.text = queue_rule.text_for(post, times_published=entry.times_published)
        queue_rule.record_use(entry, mode=channel.mode, at=at)
    return slots


def _from_rows(channel: Channel, rows: Iterable[Timeslot]) -> list[UpcomingSlot]:
    out = []
    for row in rows:
        row.channel = channel
        out.append(
            UpcomingSlot(
                channel=channel,
                publish_at=row.publish_at,
                timeslot=row,
                schedule=row.schedule,
                post=row.post,
                pinned=row.post_id is not None,
            )
        )
    return out


def _sort_key(slot: UpcomingSlot) -> tuple:
    # Rows in the publisher's order (publish_at, id); a projection after a row at one instant.
    return (slot.publish_at, slot.timeslot is None, slot.timeslot.id if slot.timeslot else 0)


def _upcoming(
    channels: Sequence[Channel],
    *,
    now: dt.datetime,
    limit: int,
    until: dt.datetime | None = None,
    since: dt.datetime | None = None,
) -> dict[int, list[UpcomingSlot]]:
    """Per channel: its next `limit` slots (up to `until` if given), each with its post.

    Six queries whatever the number of channels, slots or posts: slots (+ their pinned
    posts' variations), entries (+ variations), schedules, planned occurrences.

    Projections start at `now`, not at the planner's watermark: an occurrence that has no
    row yet (whatever the reason) is one the planner will still create.

    With `since` (a calendar far ahead), only slots from `since` on are listed and queue
    slots are not predicted: the prediction would need every slot from now to there.
    """
    ids = [c.id for c in channels]
    if not ids:
        return {}
    predict = since is None
    start = _window_start(now) if predict else max(since, _window_start(now))
    project_from = now if predict else max(since, now)
    rows_by_channel: dict[int, list[Timeslot]] = defaultdict(list)
    for row in _scheduled_slots(ids, start=start, end=until):
        rows_by_channel[row.channel_id].append(row)
    entries = _entries(ids) if predict else {}
    schedules = _schedules(ids)
    planned = _planned_keys([s.id for ss in schedules.values() for s in ss], start=project_from)

    result = {}
    for channel in channels:
        rows = rows_by_channel.get(channel.id, [])
        windows = [until] if until else [now + w for w in _PROJECTION_WINDOWS]
        for end in windows:
            slots = _from_rows(channel, [r for r in rows if r.publish_at < end])
            slots += _projections(
                channel, schedules.get(channel.id, []), planned, start=project_from, end=end
            )
            if len(slots) >= limit:
                break
        slots.sort(key=_sort_key)
        slots = slots[:limit]
        if predict:
            # Simulate the whole prefix (a later window's cut never changes earlier picks).
            result[channel.id] = _simulate(channel, slots, entries.get(channel.id, []))
        else:
            for slot in slots:
                if not slot.pinned:
                    slot.problem = PROBLEM_NOT_PREDICTED
            result[channel.id] = slots
    return result


def upcoming_for_channel(
    *, channel: Channel, now: dt.datetime, limit: int = 20
) -> list[UpcomingSlot]:
    """The channel's next `limit` slots, each with the post the publisher will pick."""
    return _upcoming([channel], now=now, limit=limit)[channel.id]


def upcoming_for_workspace(*, workspace, now: dt.datetime, limit: int = 10) -> list[UpcomingSlot]:
    """The workspace's next `limit` slots over all its channels, each with its post."""
    channels = list(Channel.objects.filter(workspace=workspace))
    per_channel = _upcoming(channels, now=now, limit=limit)
    merged = [s for slots in per_channel.values() for s in slots]
    merged.sort(key=lambda s: (s.publish_at, s.channel.name))
    return [s for s in merged if s.publish_at >= now - settings.MISSED_AFTER][:limit]


def slots_between(
    *, workspace, start: dt.datetime, end: dt.datetime, now: dt.datetime
) -> list[UpcomingSlot]:
    """Every slot of the workspace in [start, end): past ones as they ended, coming ones
    with their predicted post (including rule occurrences not planned yet)."""
    channels = list(Channel.objects.filter(workspace=workspace))
    if not channels:
        return []
    by_id = {c.id: c for c in channels}
    out: list[UpcomingSlot] = []
    # Finished or running slots (and scheduled ones too old to still publish).
    past = (
        Timeslot.objects.filter(channel__in=channels, publish_at__gte=start, publish_at__lt=end)
        .exclude(status=Timeslot.Status.SCHEDULED, publish_at__gte=_window_start(now))
        .select_related("schedule", "post", "published_post")
        .order_by("publish_at", "id")
    )
    for row in past:
        channel = by_id[row.channel_id]
        row.channel = channel
        out.append(
            UpcomingSlot(
                channel=channel,
                publish_at=row.publish_at,
                timeslot=row,
                schedule=row.schedule,
                post=row.published_post or row.post,
                text=row.published_text,
                pinned=row.post_id is not None,
                problem=row.reason,
            )
        )
    if end > _window_start(now):
        # Predict posts up to PREDICT_AHEAD; a week further out lists its slots only.
        since = start if start - now > PREDICT_AHEAD else None
        coming = _upcoming(channels, now=now, limit=MAX_SIMULATED_SLOTS * 2, until=end, since=since)
        out += [s for slots in coming.values() for s in slots if s.publish_at >= start]
    out.sort(key=lambda s: (s.publish_at, s.channel.name))
    return out


def upcoming_by_channel(
    *, channels: Sequence[Channel], now: dt.datetime, limit: int = 1
) -> dict[int, list[UpcomingSlot]]:
    """Each channel's next `limit` slots with their posts (constant queries)."""
    return _upcoming(list(channels), now=now, limit=limit)


def posts_for_list(*, workspace: Workspace, status: str = "", search: str = "") -> QuerySet[Post]:
    """Newest first; each with its queue entries (+ channel), coming pinned slots and the
    number of variations: a constant number of queries for any page size."""
    qs = (
        Post.objects.filter(workspace=workspace)
        .select_related("author")
        .annotate(variation_count=Count("variations", distinct=True))
        .prefetch_related(
            Prefetch(
                "entries",
                queryset=QueueEntry.objects.select_related("channel").order_by("channel__name"),
            ),
            Prefetch(
                "pinned_timeslots",
                queryset=Timeslot.objects.filter(status=Timeslot.Status.SCHEDULED)
                .select_related("channel")
                .order_by("publish_at"),
                to_attr="pinned_upcoming",
            ),
        )
        .order_by("-created_at", "-id")
    )
    if status:
        qs = qs.filter(status=status)
    if search:
        qs = qs.filter(Q(text__icontains=search) | Q(variations__text__icontains=search)).distinct()
    return qs


def post_for_edit(*, workspace: Workspace, post_id: int) -> Post | None:
    return (
        Post.objects.filter(workspace=workspace, id=post_id)
        .prefetch_related("variations", Prefetch("entries", queryset=_entries_with_channel()))
        .first()
    )


def _entries_with_channel() -> QuerySet[QueueEntry]:
    return QueueEntry.objects.select_related("channel").order_by("channel__name")
