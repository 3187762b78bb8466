"""Scheduling reads: what a channel will publish next and the post list with each post's
queues and pinned times; the calendar's reads build on these (scheduling/calendar_reads.py).

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

import bisect
import datetime as dt
import importlib.metadata
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from django.conf import settings
from django.db.models import Count, Prefetch, Q, QuerySet

from accounts.models import Workspace
from channels import queue_rule
from channels.models import Channel, QueueEntry
from posts.models import Post, Variation
from scheduling import rules, sql
from scheduling.fields import rule_text
from scheduling.models import Schedule, Timeslot


class PendingPrediction(Protocol):
    """A period's prediction deferred until a page has chosen the slots it shows
    (calendar_reads._PendingPrediction): fill_texts runs it for those slots."""

    def run(self, shown: Sequence[UpcomingSlot]) -> None: ...


# How far ahead projections look, widened step by step until `limit` slots are found.
_PROJECTION_WINDOWS = (dt.timedelta(days=2), dt.timedelta(days=14), dt.timedelta(days=400))
# A calendar never replays more than this many slots per channel (an every-minute rule
# four weeks ahead): beyond it, queue slots are shown without a predicted post.
MAX_SIMULATED_SLOTS = 5000


class Problem(StrEnum):
    """Why a coming slot shows no predicted post. A finished slot's problem is its stored
    reason instead (`problem_code` then holds its scheduling.reasons code)."""

    PAUSED = "paused"
    QUEUE_EMPTY = "queue_empty"
    PINNED_GONE = "pinned_gone"
    NOT_PREDICTED = "not_predicted"  # not a warning: only too far ahead to predict


PROBLEM_TEXTS = {
    Problem.PAUSED: "The channel is paused: this slot will be skipped.",
    Problem.QUEUE_EMPTY: "The queue will be empty: this slot will be skipped.",
    Problem.PINNED_GONE: "The pinned post is archived or will have expired: skipped.",
    Problem.NOT_PREDICTED: "Takes the queue's next post (too far ahead to predict which).",
}


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
    problem: str = ""  # what people read
    problem_code: str = ""  # what the code compares: a Problem, or the row's reason code
    # The entry's count at this slot in the replay (it picks the variation's text)...
    times_published: int = 0
    # ...and how often the post really went out in this channel so far: the replay counts
    # the coming slots before this one, which have not published anything yet.
    published_before: int = 0
    # Set by calendar_reads.slots_between(texts=False): the prediction waits until a page says which
    # slots it shows (fill_texts), then replays only the channels those slots belong to.
    pending: PendingPrediction | None = field(default=None, repr=False, compare=False)
    # A finished slot's post not read yet (calendar_reads.slots_between(texts=False)):
    # fill_texts reads it.
    post_unread: bool = field(default=False, repr=False, compare=False)

    @property
    def is_projected(self) -> bool:
        return self.timeslot is None

    @property
    def is_warning(self) -> bool:
        """Something the user should look at (not just "too far ahead to predict")."""
        return bool(self.problem) and self.problem_code != Problem.NOT_PREDICTED

    def flag(self, problem: Problem) -> None:
        self.problem_code, self.problem = problem, PROBLEM_TEXTS[problem]

    @property
    def local_time(self) -> dt.datetime:
        return self.publish_at.astimezone(self.channel.tz)


def _window_start(now: dt.datetime) -> dt.datetime:
    # A slot overdue by less than MISSED_AFTER still publishes (the watchdog re-sends it).
    return now - settings.MISSED_AFTER


def _schedules(channel_ids: Sequence[int]) -> dict[int, Schedule]:
    """Every schedule of the channels by id, each rule parsed once for the whole request
    (a row's `select_related("schedule")` would parse it again for every row)."""
    # By id: the planner creates one schedule's slots after another in id order, so two
    # schedules firing at one instant get their slot ids (the publisher's tie-break) so.
    return {s.id: s for s in Schedule.objects.filter(channel_id__in=channel_ids).order_by("id")}


def _active_by_channel(schedules: dict[int, Schedule]) -> dict[int, list[Schedule]]:
    by_channel: dict[int, list[Schedule]] = defaultdict(list)
    for schedule in schedules.values():
        if schedule.is_active:
            by_channel[schedule.channel_id].append(schedule)
    return by_channel


_UNREAD_ROW_FIELDS = (
    "token",
    "entry_use",
    "enqueued_at",
    "published_at",
    "created_at",
    "updated_at",
)


def _scheduled_rows(
    channel_ids: Sequence[int], *, start: dt.datetime, end: dt.datetime | None, limit: int
) -> dict[int, list[Timeslot]]:
    """Scheduled rows from `start`: all of them before `end`, else each channel's first
    `limit` (one query: a limited scan of `timeslot_channel_time_idx` per channel), with
    their pinned posts."""
    if not channel_ids:
        return {}
    base = Timeslot.objects.filter(status=Timeslot.Status.SCHEDULED, publish_at__gte=start)
    if end is not None:
        # A month's rows (thousands): only what a slot, its replay and its cell read.
        rows = list(
            base.filter(channel_id__in=channel_ids, publish_at__lt=end)
            .select_related("post")
            .defer(*_UNREAD_ROW_FIELDS)
        )
    else:
        # Each channel's first `limit` (scheduling/sql.py), then the rows through the ORM.
        ids = sql.first_scheduled_ids(channel_ids, start=start, limit=limit)
        rows = list(Timeslot.objects.filter(id__any=ids).select_related("post"))
    by_channel: dict[int, list[Timeslot]] = defaultdict(list)
    for row in rows:
        by_channel[row.channel_id].append(row)
    for found in by_channel.values():
        found.sort(key=lambda r: (r.publish_at, r.id))
    return by_channel


def _planned_keys(
    ranges: Sequence[tuple[Sequence[int], dt.datetime]], *, start: dt.datetime
) -> set[tuple[int, dt.datetime]]:
    """(schedule, occurrence) pairs that already have a row, whatever its status: for
    each (schedule ids, end) of `ranges`, those in [start, end). One query."""
    ranges = [(ids, end) for ids, end in ranges if ids]
    if not ranges:
        return set()
    match = Q()
    for ids, end in ranges:
        match |= Q(schedule_id__in=list(ids), planned_for__lt=end)
    return set(
        Timeslot.objects.filter(match, planned_for__gte=start).values_list(
            "schedule_id", "planned_for"
        )
    )


def _tzdata_version() -> str:
    try:
        return importlib.metadata.version("tzdata")
    except importlib.metadata.PackageNotFoundError:
        return "system"


_TZDATA = _tzdata_version()


# A schedule's instants over whole UTC days, kept in the process (FIFO, bounded).
_EXPANSIONS: dict[tuple, tuple[dt.datetime, ...]] = {}
_EXPANSIONS_MAX = 8192
_CACHED_SPAN = dt.timedelta(days=35)  # a month view's window, at most


def _instants(
    schedule: Schedule, tz_name: str, *, start: dt.datetime, end: dt.datetime
) -> list[dt.datetime]:
    """rules.occurrences(...) in [start, end), from the schedule's expansion over the whole
    UTC days around the window, cached: a pure function of the rule's text, zone, first
    day, the days and the tzdata in use (all in the key), so nothing ever invalidates it,
    and a window that starts "now" finds the same entry all day. In the process rather
    than Django's cache: a page reads a few hundred, and a round trip each would cost more
    than expanding them."""
    if end - start > _CACHED_SPAN:
        # A projection's widest step (a year ahead for a sparse rule): not worth keeping.
        return rules.occurrences(
            schedule.recurrence, tz=zoneinfo.ZoneInfo(tz_name), starts_on=schedule.starts_on,
            start=start, end=end,
        )  # fmt: skip
    text = rule_text(schedule.recurrence)
    first = start.astimezone(dt.UTC).date()
    last = (end.astimezone(dt.UTC) - dt.timedelta(microseconds=1)).date() + dt.timedelta(days=1)
    key = (text, tz_name, schedule.starts_on, first, last, _TZDATA)
    found = _EXPANSIONS.get(key)
    if found is None:
        found = tuple(
            rules.occurrences(
                schedule.recurrence,
                tz=zoneinfo.ZoneInfo(tz_name),
                starts_on=schedule.starts_on,
                start=dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC),
                end=dt.datetime.combine(last, dt.time(), tzinfo=dt.UTC),
            )
        )
        if len(_EXPANSIONS) >= _EXPANSIONS_MAX:
            _EXPANSIONS.pop(next(iter(_EXPANSIONS), None), None)
        _EXPANSIONS[key] = found
    return list(found[bisect.bisect_left(found, start) : bisect.bisect_left(found, end)])


def _occurrences(
    channel: Channel, schedules: Sequence[Schedule], *, start: dt.datetime, end: dt.datetime
) -> list[tuple[Schedule, dt.datetime]]:
    if channel.is_paused or start >= end:
        return []
    return [
        (schedule, instant)
        for schedule in schedules
        for instant in _instants(schedule, channel.timezone, start=start, end=end)
    ]


def _from_rows(
    channel: Channel, rows: Iterable[Timeslot], schedules: dict[int, Schedule]
) -> list[UpcomingSlot]:
    out = []
    for row in rows:
        row.channel = channel
        schedule = schedules.get(row.schedule_id) if row.schedule_id else None
        if schedule is not None:
            row.schedule = schedule
        out.append(
            UpcomingSlot(
                channel=channel,
                publish_at=row.publish_at,
                timeslot=row,
                schedule=schedule,
                post=row.post,
                pinned=row.post_id is not None,
            )
        )
    return out


def _sort_key(slot: UpcomingSlot) -> tuple:
    # Rows in the publisher's order (publish_at, id); a projection after a row at one instant.
    return (slot.publish_at, slot.timeslot is None, slot.timeslot.id if slot.timeslot else 0)


def _slots(
    channels: Sequence[Channel],
    schedules: dict[int, Schedule],
    *,
    now: dt.datetime,
    limit: int,
    until: dt.datetime | None,
    since: dt.datetime | None,
) -> dict[int, list[UpcomingSlot]]:
    """Per channel: its next `limit` slots (up to `until` if given), posts not filled in.

    Projections start at `now`, not at the planner's watermark: an occurrence that has no
    row yet (whatever the reason) is one the planner will still create. Without `until`
    the window widens step by step (one query for the planned occurrences per step, for
    the channels still short of `limit` slots)."""
    ids = [c.id for c in channels]
    start = _window_start(now) if since is None else max(since, _window_start(now))
    project_from = now if since is None else max(since, now)
    rows = _scheduled_rows(ids, start=start, end=until, limit=limit)
    active = _active_by_channel(schedules)
    result: dict[int, list[UpcomingSlot]] = {}
    windows = [until] if until else [now + w for w in _PROJECTION_WINDOWS]
    step = dict.fromkeys(ids, 0)  # the window each channel is at
    pending = list(channels)
    while pending:
        # Widen each channel's window (no query) until it has `limit` candidates...
        found = {}
        for channel in pending:
            mine = rows.get(channel.id, [])
            while True:
                end = windows[step[channel.id]]
                occ = _occurrences(channel, active.get(channel.id, []), start=project_from, end=end)
                near = sum(1 for r in mine if r.publish_at < end)
                if near + len(occ) >= limit or step[channel.id] + 1 == len(windows):
                    break
                step[channel.id] += 1
            found[channel.id] = occ
        # ...then drop the occurrences that already have a row, for all of them at once.
        by_end: dict[dt.datetime, set[int]] = defaultdict(set)
        for channel in pending:
            by_end[windows[step[channel.id]]].update(s.id for s, _ in found[channel.id])
        planned = _planned_keys([(ids_, end) for end, ids_ in by_end.items()], start=project_from)
        still = []
        for channel in pending:
            end = windows[step[channel.id]]
            slots = _from_rows(
                channel, [r for r in rows.get(channel.id, []) if r.publish_at < end], schedules
            )
            slots += [
                UpcomingSlot(channel=channel, publish_at=at, schedule=schedule)
                for schedule, at in found[channel.id]
                if (schedule.id, at) not in planned
            ]
            slots.sort(key=_sort_key)
            result[channel.id] = slots[:limit]
            if len(slots) < limit and step[channel.id] + 1 < len(windows):
                # Rare: occurrences already planned (canceled, moved) left it short.
                step[channel.id] += 1
                still.append(channel)
        pending = still
    return result


def _predict(
    channels: Sequence[Channel],
    slots: dict[int, list[UpcomingSlot]],
    *,
    now: dt.datetime,
    texts: bool = True,
) -> None:
    """Fill in each slot's post, replaying the publisher over each channel's slots (sorted
    by time) with the queue rule's own Replay (channels/queue_rule.py), on copies read
    from the database, so nothing is written.

    Reads only what the slots can use: each queue's first entries (as many as the channel
    has queue slots), the queue entries of pinned posts, and the variations of the posts
    the slots show."""
    counts = {}
    pinned_posts = set()
    for channel in channels:
        mine = slots.get(channel.id, [])
        if channel.is_paused:
            continue
        # Each slot takes at most one entry off the head, a pinned one too (when its post
        # is queued here, the publication moves it back): so many entries are enough
        # unless some expire on the way (then the Replay reads on).
        counts[channel.id] = min(len(mine), MAX_SIMULATED_SLOTS)
        pinned_posts.update(s.post.id for s in mine if s.pinned)
    replays = queue_rule.heads(channels, counts, usable_at=_window_start(now))
    if pinned_posts:
        extra = QueueEntry.objects.filter(
            channel_id__in=list(counts), post_id__in=pinned_posts
        ).select_related("post")
        for entry in extra:
            replays[entry.channel_id].add([entry])
    for channel in channels:
        _simulate(channel, slots.get(channel.id, []), replays[channel.id])
    if texts:
        fill_texts(s for mine in slots.values() for s in mine)


def _simulate(
    channel: Channel, slots: list[UpcomingSlot], replay: queue_rule.Replay
) -> list[UpcomingSlot]:
    for n, slot in enumerate(slots):
        at = slot.publish_at
        if channel.is_paused:
            slot.flag(Problem.PAUSED)
            continue
        if n >= MAX_SIMULATED_SLOTS and not slot.pinned:
            slot.flag(Problem.NOT_PREDICTED)
            continue
        if slot.pinned:
            post = slot.post
            if post.status == Post.Status.ARCHIVED or (post.expires_at and post.expires_at <= at):
                slot.post = None
                slot.flag(Problem.PINNED_GONE)
                continue
            entry = replay.entry_for(post.id)
            slot.times_published = entry.times_published if entry else 0
            slot.published_before = replay.published_before(post.id)
            if entry is not None:
                # A pinned publication counts in the loop, as in the publisher.
                replay.use(entry, at=at)
            continue
        entry = replay.next(at=at)
        if entry is None:
            slot.flag(Problem.QUEUE_EMPTY)
            continue
        slot.post, slot.times_published = entry.post, entry.times_published
        slot.published_before = replay.published_before(entry.post_id)
        replay.use(entry, at=at)
    return slots


def fill_texts(slots: Iterable[UpcomingSlot]) -> None:
    """Each predicted slot's text (the variation its count picks), for the slots a page
    shows: one query for the variations of those posts only, kept as each post's
    `variation_list` (Post.texts() reads it; no queryset per post). Slots whose
    prediction was deferred (calendar_reads.slots_between(texts=False)) are predicted first."""
    slots = list(slots)
    deferred = any(s.pending or s.post_unread for s in slots)
    for pending in {id(s.pending): s.pending for s in slots if s.pending}.values():
        pending.run(slots)
    if deferred:
        # The posts of the shown finished slots, with those of the predicted ones: one
        # query whichever kinds of slot a page shows, so its count does not vary with them.
        unread = [s for s in slots if s.post_unread]
        ids = {s.post.id for s in slots if s.post is not None}
        ids.update(i for s in unread for i in (s.timeslot.published_post_id, s.timeslot.post_id))
        posts = Post.objects.in_bulk(ids - {None})
        for slot in unread:
            row = slot.timeslot
            slot.post = posts.get(row.published_post_id) or posts.get(row.post_id)
            slot.post_unread = False
    shown = [s for s in slots if s.post is not None and not s.problem and not s.text]
    if not shown:
        return
    by_post: dict[int, list[Variation]] = defaultdict(list)
    ids = {s.post.id for s in shown}
    for variation in Variation.objects.filter(post_id__in=ids).order_by(
        "post_id", "position", "id"
    ):
        by_post[variation.post_id].append(variation)
    for slot in shown:
        slot.post.variation_list = by_post.get(slot.post.id, [])
        slot.text = queue_rule.text_for(slot.post, times_published=slot.times_published)


def upcoming_for_channel(
    *, channel: Channel, now: dt.datetime, limit: int = 20
) -> list[UpcomingSlot]:
    """The channel's next `limit` slots, each with the post the publisher will pick."""
    return upcoming_by_channel(channels=[channel], now=now, limit=limit)[channel.id]


def upcoming_for_workspace(*, workspace, now: dt.datetime, limit: int = 10) -> list[UpcomingSlot]:
    """The workspace's next `limit` slots over all its channels, each with its post.

    The cut is made before predicting: only the channels (and each one's first slots)
    that reach the merged list are replayed."""
    channels = list(Channel.objects.filter(workspace=workspace))
    if not channels:
        return []
    schedules = _schedules([c.id for c in channels])
    per_channel = _slots(channels, schedules, now=now, limit=limit, until=None, since=None)
    merged = [s for slots in per_channel.values() for s in slots]
    merged.sort(key=lambda s: (s.publish_at, s.channel.name))
    shown = merged[:limit]
    kept: dict[int, list[UpcomingSlot]] = defaultdict(list)
    for slot in shown:
        kept[slot.channel.id].append(slot)
    _predict([c for c in channels if c.id in kept], kept, now=now)
    return shown


def upcoming_by_channel(
    *, channels: Sequence[Channel], now: dt.datetime, limit: int = 1
) -> dict[int, list[UpcomingSlot]]:
    """Each channel's next `limit` slots with their posts (constant queries)."""
    channels = list(channels)
    if not channels:
        return {}
    schedules = _schedules([c.id for c in channels])
    slots = _slots(channels, schedules, now=now, limit=limit, until=None, since=None)
    _predict(channels, slots, now=now)
    return slots


def posts_for_list(
    *, workspace: Workspace, status: str = "", search: str = "", label_id: int | None = None
) -> QuerySet[Post]:
    """Newest first; each with its queue entries (+ channel) and coming pinned slots: a
    constant number of queries for any page size. The number of variations is counted for
    the shown page only (`variation_counts`): annotated here, it grouped every post of the
    workspace to show 50, and made the paginator's COUNT group them too."""
    qs = (
        Post.objects.filter(workspace=workspace)
        .select_related("author")
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
            "labels",
        )
        .order_by("-created_at", "-id")
    )
    if status:
        qs = qs.filter(status=status)
    if label_id is not None:
        qs = qs.filter(
            id__in=Post.labels.through.objects.filter(label_id=label_id).values("post_id")
        )
    if search:
        # Two semi-joins, not a join: no duplicate rows (no DISTINCT over every match), and
        # each side is one scan of the trigram index on its text (posts migration 0005;
        # a plain OR of the text match would test every post's text row by row).
        posts = Post.objects.filter(workspace=workspace, text__icontains=search).values("id")
        matching = Variation.objects.filter(text__icontains=search).values("post_id")
        qs = qs.filter(Q(id__in=posts) | Q(id__in=matching))
    return qs


def variation_counts(*, post_ids: list[int]) -> dict[int, int]:
    """post id -> its number of variations, for the posts of one page (one query)."""
    rows = (
        Variation.objects.filter(post_id__in=post_ids)
        .order_by()
        .values_list("post_id")
        .annotate(n=Count("id"))
    )
    return dict(rows)


def post_for_edit(*, workspace: Workspace, post_id: int) -> Post | None:
    return (
        Post.objects.filter(workspace=workspace, id=post_id)
        .prefetch_related("variations", Prefetch("entries", queryset=_entries_with_channel()))
        .first()
    )


def _entries_with_channel() -> QuerySet[QueueEntry]:
    return QueueEntry.objects.select_related("channel").order_by("channel__name")
