"""The calendar's reads: every slot of a period (week, month, day) with the coming ones'
posts predicted only for the slots a page shows, and a month's per-day counts.

Built on scheduling.selectors' replay and projection (the same rule, expansion and
predictor as the dashboard and the channel page); split out of it so that the calendar's
shapes of reading live in one place. Every function here runs a constant number of
queries, however many slots.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db.models import Count, F, QuerySet, Window
from django.db.models.functions import RowNumber, TruncDate

from channels.models import Channel
from scheduling.models import Timeslot
from scheduling.selectors import (
    MAX_SIMULATED_SLOTS,
    PROBLEM_NOT_PREDICTED,
    UpcomingSlot,
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
                        slot.problem = PROBLEM_NOT_PREDICTED
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
                slot.problem = PROBLEM_NOT_PREDICTED


PROJECTED = "projected"  # the calendar's status of a rule occurrence with no row yet


@dataclass
class DayCap:
    """slots_between keeps only each local day's first `keep` finished slots (a month cell
    shows 3 of thousands) and counts the others in `hidden`, in SQL: building every finished
    slot of a month as an object only to count it was most of the month view's time."""

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
    cap: DayCap | None = None,
) -> list[UpcomingSlot]:
    """Every slot of the workspace in [start, end): past ones as they ended, coming ones
    with their predicted post (including rule occurrences not planned yet).

    texts=False leaves the predicted slots' posts and texts to `fill_texts`, for a page
    that shows only some of the slots (the calendar's cells): it predicts those, replaying
    each of their channels only as far as its last shown slot. channel_ids, account_ids (a
    channel publishing to one of them) and statuses (Timeslot statuses and PROJECTED) narrow
    it, each when not empty, in the same queries: the calendar's filters cost no query.
    With `cap`, only each local day's first finished slots are returned (see DayCap)."""
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
                # Without texts, fill_texts reads the posts of the shown slots only.
                post_unread=not texts and bool(row.published_post_id or row.post_id),
            )
        )
    if end > _window_start(now):
        # Predict posts up to PREDICT_AHEAD; a week further out lists its slots only.
        since = start if start - now > PREDICT_AHEAD else None
        coming = _slots(
            channels, schedules, now=now, limit=MAX_SIMULATED_SLOTS * 2, until=end, since=since
        )
        if since is None and not texts:
            _PendingPrediction(channels, coming, now)
        elif since is None:
            _predict(channels, coming, now=now)
        else:
            _not_predicted(coming)
        out += [
            s
            for slots in coming.values()
            for s in slots
            if s.publish_at >= start and (not statuses or slot_status(s) in statuses)
        ]
    out.sort(key=lambda s: (s.publish_at, s.channel.name))
    return out
