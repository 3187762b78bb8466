"""The calendar's reads: every slot of a period (week, month, day) with the coming ones'
posts predicted only for the slots a page shows, and a month's per-day counts.

Built on scheduling.selectors' replay and projection (the same rule, expansion and
predictor as the dashboard and the channel page); split out of it so that the calendar's
shapes of reading live in one place. Every function here runs a constant number of
queries, however many slots.
"""

from __future__ import annotations

import datetime as dt
import heapq
import zoneinfo
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db.models import Count, F, Q, QuerySet, Window
from django.db.models.functions import RowNumber, TruncDate

from channels.models import Channel
from posts.models import Post
from scheduling.models import Schedule, Timeslot
from scheduling.selectors import (
    _UNREAD_ROW_FIELDS,
    MAX_SIMULATED_SLOTS,
    Problem,
    UpcomingSlot,
    _active_by_channel,
    _from_rows,
    _occurrences,
    _planned_keys,
    _predict,
    _schedules,
    _slots,
    _window_start,
)

# The calendar predicts each slot's post only for weeks starting within this: beyond, the
# replay from now would be long (an every-minute rule) and the guess much less useful.
PREDICT_AHEAD = dt.timedelta(days=21)


class _PendingPrediction:
    """The coming slots of a period whose posts are predicted only once a page has chosen
    the slots it shows (a month cell shows 3 of a day's hundreds): then each channel that
    has a shown slot is replayed up to its last shown slot, and the other channels not at
    all. A replay must still pass a channel's hidden slots before a shown one (each takes
    an entry off the queue), so what is predicted equals the full replay's answer."""

    def __init__(self, channels: Sequence[Channel], slots: dict[int, list[UpcomingSlot]], now):
        self.channels = {c.id: c for c in channels}
        self.slots = slots
        self.now = now
        self.replayed: set[int] = set()
        for mine in slots.values():
            for slot in mine:
                slot.pending = self

    def run(self, shown: Sequence[UpcomingSlot]) -> None:
        wanted = {id(s) for s in shown if s.pending is self}
        cut: dict[int, list[UpcomingSlot]] = {}
        for channel_id, mine in self.slots.items():
            last = max((n for n, s in enumerate(mine) if id(s) in wanted), default=None)
            if last is None:
                continue
            if channel_id in self.replayed:
                # A second page of one request reaching past what was replayed: the replay
                # state is gone, say so rather than guess.
                for slot in mine[: last + 1]:
                    if slot.pending is self and not slot.pinned:
                        slot.flag(Problem.NOT_PREDICTED)
                    slot.pending = None
                continue
            cut[channel_id] = mine[: last + 1]
        if cut:
            _predict([self.channels[k] for k in cut], cut, now=self.now, texts=False)
        for channel_id, mine in cut.items():
            self.replayed.add(channel_id)
            for slot in mine:
                slot.pending = None


def _not_predicted(slots: dict[int, list[UpcomingSlot]]) -> None:
    for mine in slots.values():
        for slot in mine:
            if not slot.pinned:
                slot.flag(Problem.NOT_PREDICTED)


PROJECTED = "projected"  # the calendar's status of a rule occurrence with no row yet


@dataclass
class DayCap:
    """slots_between keeps only each local day's first `keep` finished slots and first `keep`
    coming ones (a month cell shows 3 of hundreds) and counts the others in `hidden`: the
    finished ones in SQL, the coming ones from plain tuples (`_capped_coming`). Building
    every slot of a month as an object only to count it was most of the month's time."""

    tz: zoneinfo.ZoneInfo
    keep: int
    hidden: dict[dt.date, int] = field(default_factory=dict)

    def cut(self, past: QuerySet[Timeslot]) -> QuerySet[Timeslot]:
        day = TruncDate("publish_at", tzinfo=self.tz)
        self.hidden = dict(past.order_by().values_list(day).annotate(n=Count("id")))
        # The page's own order (time, then channel name; id for the publisher's ties).
        order = [F("publish_at").asc(), F("channel__name").asc(), F("id").asc()]
        rank = Window(RowNumber(), partition_by=[day], order_by=order)
        return past.annotate(day=day, rank=rank).filter(rank__lte=self.keep)

    def kept(self, row: Timeslot) -> None:
        self.hidden[row.day] -= 1

    def cell(self, at: dt.datetime) -> dt.date:
        return at.astimezone(self.tz).date()


@dataclass
class HourCap:
    """A week's cap: each local hour's first `keep` coming slots are built (a week cell
    shows 2 of ~10), the others counted in `hidden` by (local day, hour). Its finished
    slots are all kept: a week holds far fewer than a month, and the current week few."""

    tz: zoneinfo.ZoneInfo
    keep: int
    hidden: dict[tuple[dt.date, int], int] = field(default_factory=dict)

    def cut(self, past: QuerySet[Timeslot]) -> QuerySet[Timeslot]:
        return past

    def kept(self, row: Timeslot) -> None:
        pass

    def cell(self, at: dt.datetime) -> tuple[dt.date, int]:
        local = at.astimezone(self.tz)
        return local.date(), local.hour


def _capped_coming(
    channels: Sequence[Channel],
    schedules: dict[int, Schedule],
    *,
    now: dt.datetime,
    start: dt.datetime,
    end: dt.datetime,
    since: dt.datetime | None,
    statuses: Sequence[str],
    cap: DayCap | HourCap,
) -> tuple[dict[int, list[UpcomingSlot]], list[UpcomingSlot]]:
    """The coming slots of a capped period, as `_slots(until=end)` lists them, but built as
    objects only where a cell may show them: each cell's first `cap.keep` (a local day of a
    month, an hour of a week; in the page's order: time, channel name) and, in their
    channels, the slots before them, which the replay must pass (each takes an entry). The
    others are only counted, in `cap.hidden`: a month has ~5,000 coming slots, its cells
    show ~75. Returns (each built channel's slots from its first, the kept slots).

    Two queries whatever the period: its scheduled rows as plain tuples, then the rows
    built (with their pinned posts); plus `_planned_keys`' one, as `_slots` runs it."""
    ids = [c.id for c in channels]
    rows_from = _window_start(now) if since is None else max(since, _window_start(now))
    project_from = now if since is None else max(since, now)
    # (publish_at, is a projection, row id, schedule): `_sort_key`'s order, then what it is.
    items: dict[int, list[tuple]] = defaultdict(list)
    rows = Timeslot.objects.filter(
        status=Timeslot.Status.SCHEDULED,
        channel_id__in=ids,
        publish_at__gte=rows_from,
        publish_at__lt=end,
    ).values_list("channel_id", "publish_at", "id")
    for channel_id, at, row_id in rows:
        items[channel_id].append((at, False, row_id, None))
    active = _active_by_channel(schedules)
    found = {
        c.id: _occurrences(c, active.get(c.id, []), start=project_from, end=end) for c in channels
    }
    planned = _planned_keys(
        [({sch.id for mine in found.values() for sch, _ in mine}, end)], start=project_from
    )
    wanted = set(statuses)
    candidates = []  # (publish_at, channel name, channel's place, index in its list)
    for place, channel in enumerate(channels):
        mine = items[channel.id]
        mine += [(at, True, 0, sch) for sch, at in found[channel.id] if (sch.id, at) not in planned]
        # Rows before projections at one instant, rows by id; stable: projections that tie
        # stay in found order, as in `_slots`.
        mine.sort(key=lambda item: item[:3])
        del mine[MAX_SIMULATED_SLOTS * 2 :]
        for n, (at, projected, _, _) in enumerate(mine):
            status = PROJECTED if projected else Timeslot.Status.SCHEDULED
            if at >= start and (not wanted or status in wanted):
                candidates.append((at, channel.name, place, n))
    by_cell: dict[object, list[tuple]] = defaultdict(list)
    for candidate in candidates:
        by_cell[cap.cell(candidate[0])].append(candidate)
    kept: set[tuple[int, int]] = set()  # (channel's place, index)
    for cell, found_cell in by_cell.items():
        first = heapq.nsmallest(cap.keep, found_cell)
        cap.hidden[cell] = cap.hidden.get(cell, 0) + len(found_cell) - len(first)
        kept.update((place, n) for _, _, place, n in first)
    upto: dict[int, int] = {}  # channel's place -> its last kept index
    for place, n in kept:
        upto[place] = max(n, upto.get(place, -1))
    row_ids = [
        item[2]
        for place, last in upto.items()
        for item in items[channels[place].id][: last + 1]
        if not item[1]
    ]
    built_rows = {
        r.id: r
        for r in Timeslot.objects.filter(id__any=row_ids)
        .select_related("post")
        .defer(*_UNREAD_ROW_FIELDS)
    }
    coming: dict[int, list[UpcomingSlot]] = {}
    shown: list[UpcomingSlot] = []
    for place, last in sorted(upto.items()):  # channel order: how `out`'s sort breaks ties
        channel = channels[place]
        built = []
        for at, projected, row_id, schedule in items[channel.id][: last + 1]:
            if projected:
                built.append(UpcomingSlot(channel=channel, publish_at=at, schedule=schedule))
            else:
                built += _from_rows(channel, [built_rows[row_id]], schedules)
        coming[channel.id] = built
        shown += [slot for n, slot in enumerate(built) if (place, n) in kept]
    return coming, shown


def slot_status(slot: UpcomingSlot) -> str:
    return slot.timeslot.status if slot.timeslot is not None else PROJECTED


def slots_between(
    *,
    workspace,
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
    texts: bool = True,
    channel_ids: Sequence[int] = (),
    account_ids: Sequence[int] = (),
    statuses: Sequence[str] = (),
    cap: DayCap | HourCap | None = None,
    label_id: int | None = None,
) -> list[UpcomingSlot]:
    """Every slot of the workspace in [start, end): past ones as they ended, coming ones
    with their predicted post (including rule occurrences not planned yet).

    texts=False leaves the predicted slots' posts and texts to `fill_texts`, for a page
    that shows only some of the slots (the calendar's cells): it predicts those, replaying
    each of their channels only as far as its last shown slot. channel_ids, account_ids (a
    channel publishing to one of them) and statuses (Timeslot statuses and PROJECTED) narrow
    it, each when not empty, in the same queries: the calendar's filters cost no query.
    With `cap`, only each cell's first slots are returned, the others counted (see DayCap,
    HourCap).

    `label_id` keeps the slots whose post (published, pinned or predicted) carries the
    label: a finished slot's in its own query, a coming one after its post is predicted
    (so a labelled page predicts its posts here and is not capped; one more query)."""
    labeled = None
    if label_id is not None:
        texts, cap = True, None
        labeled = Post.labels.through.objects.filter(label_id=label_id).values("post_id")
    channels_qs = Channel.objects.filter(workspace=workspace)
    if channel_ids:
        channels_qs = channels_qs.filter(id__in=list(channel_ids))
    if account_ids:
        channels_qs = channels_qs.filter(
            id__in=Channel.accounts.through.objects.filter(
                socialaccount_id__in=list(account_ids)
            ).values("channel_id")
        )
    channels = list(channels_qs)
    if not channels:
        return []
    by_id = {c.id: c for c in channels}
    schedules = _schedules(list(by_id))
    out: list[UpcomingSlot] = []
    # Finished or running slots (and scheduled ones too old to still publish).
    past = (
        Timeslot.objects.filter(channel__in=channels, publish_at__gte=start, publish_at__lt=end)
        .exclude(status=Timeslot.Status.SCHEDULED, publish_at__gte=_window_start(now))
        .order_by("publish_at", "id")
    )
    if statuses:
        past = past.filter(status__in=[s for s in statuses if s != PROJECTED])
    if labeled is not None:
        past = past.filter(Q(published_post_id__in=labeled) | Q(post_id__in=labeled))
    if texts:
        past = past.select_related("post", "published_post")
    else:
        # A month holds thousands of finished slots: a cell shows its status and text only.
        past = past.defer("token", "entry_use", "enqueued_at", "published_at", "planned_for")
    if cap is not None:
        past = cap.cut(past)
    for row in past:
        if cap is not None:
            cap.kept(row)
        channel = by_id[row.channel_id]
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
                post=(row.published_post or row.post) if texts else None,
                text=row.published_text,
                pinned=row.post_id is not None,
                problem=row.reason,
                problem_code=row.reason_code,
                # Without texts, fill_texts reads the posts of the shown slots only.
                post_unread=not texts and bool(row.published_post_id or row.post_id),
            )
        )
    n_past = len(out)
    if end > _window_start(now):
        # Predict posts up to PREDICT_AHEAD; a week further out lists its slots only.
        since = start if start - now > PREDICT_AHEAD else None
        if cap is None:
            coming = _slots(
                channels, schedules, now=now, limit=MAX_SIMULATED_SLOTS * 2, until=end, since=since
            )
            shown = None
        else:
            coming, shown = _capped_coming(
                channels, schedules, now=now, start=start, end=end, since=since,
                statuses=statuses, cap=cap,
            )  # fmt: skip
        if since is None and not texts:
            _PendingPrediction(channels, coming, now)
        elif since is None:
            _predict(channels, coming, now=now)
        else:
            _not_predicted(coming)
        out += (
            shown
            if shown is not None
            else [
                s
                for slots in coming.values()
                for s in slots
                if s.publish_at >= start and (not statuses or slot_status(s) in statuses)
            ]
        )
    if labeled is not None:  # the past ones were filtered in their query
        ids = set(labeled.values_list("post_id", flat=True))
        out[n_past:] = [s for s in out[n_past:] if s.post is not None and s.post.id in ids]
    out.sort(key=lambda s: (s.publish_at, s.channel.name))
    return out
