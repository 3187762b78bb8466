"""A channel's publishing bound (DESIGN §7 invariant 7): the one home of the rule.

A channel publishes at most CHANNEL_MAX_SLOTS_PER_HOUR slots in any 60 minutes (a sliding
hour, not the clock hour: 12 slots in 10:59-11:01 are as much a flood as 12 in 10:00-10:59)
and never two slots closer than CHANNEL_MIN_INTERVAL seconds, counted over all its schedules
and pins together. Every rule is checked on its own too (scheduling/rules.py), but only the
product bounds a flood: 60 rules each once a minute were 60 posts a minute.

Two places apply it:
- saving refuses, naming the offending times: a schedule (web form, API, admin:
  `schedule_check`), a pin, a share-now and a move (`timeslot_check`);
- planning enforces it again (`admit`, used by the planner and by schedule reconciliation):
  a slot that would break the bound is created `skipped`, with the reason in words, so the
  user sees it in the history and the planner does not plan that occurrence again. That
  catches what a save could not: schedules saved before the bound existed, a channel resumed
  or moved to another time zone, a yearly rule whose busy day lies beyond the save check's
  look-ahead.

What counts: slots that will or did publish (scheduled, publishing, published, partial),
within the hour around the time checked, and the active schedules' coming occurrences that
have no slot yet. Skipped, canceled, missed and failed slots published nothing and do not
count.
"""

from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Q

from scheduling import reasons, rules
from scheduling.models import Schedule, Timeslot

HOUR = dt.timedelta(hours=1)
COUNTED = (
    Timeslot.Status.SCHEDULED,
    Timeslot.Status.PUBLISHING,
    Timeslot.Status.PUBLISHED,
    Timeslot.Status.PARTIAL,
)
# A schedule is checked this far ahead on save, in growing windows (a flood shows in its
# first hours), stopping early once this many times were compared: the cost of a save is
# bounded whatever the channel holds, and the planner enforces the bound beyond it.
CHECK_AHEAD = dt.timedelta(days=366)
CHECK_BUDGET = 20_000
_SPANS = (
    dt.timedelta(hours=2),
    dt.timedelta(days=1),
    dt.timedelta(days=8),
    dt.timedelta(days=32),
    CHECK_AHEAD,
)
# At most this many offending times are named in one refusal.
NAMED = 5


@dataclass(frozen=True)
class Limits:
    per_hour: int
    min_interval: dt.timedelta

    @classmethod
    def current(cls) -> Limits:
        return cls(
            per_hour=settings.CHANNEL_MAX_SLOTS_PER_HOUR,
            min_interval=dt.timedelta(seconds=settings.CHANNEL_MIN_INTERVAL),
        )


def describe_limits() -> str:
    """The bound in words, for the schedule editor."""
    limits = Limits.current()
    return (
        f"A channel publishes at most {limits.per_hour} slots an hour, at least "
        f"{limits.min_interval.total_seconds():g} seconds apart, over all its schedules and "
        "pinned posts."
    )


def _at(instant: dt.datetime, tz) -> str:
    return instant.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class Conflict:
    """Why `at` does not fit: too close to `other`, or the `count`th slot in the hour from
    `window_start`."""

    at: dt.datetime
    limits: Limits
    other: dt.datetime | None = None
    window_start: dt.datetime | None = None
    count: int = 0

    def text(self, tz) -> str:
        if self.other is not None:
            gap = abs(self.at - self.other).total_seconds()
            return (
                f"{_at(self.at, tz)} is {gap:g} s from the slot at {_at(self.other, tz)}: "
                f"a channel's slots are at least {self.limits.min_interval.total_seconds():g} "
                "s apart (CHANNEL_MIN_INTERVAL)"
            )
        return (
            f"{_at(self.at, tz)} would be slot number {self.count} between "
            f"{_at(self.window_start, tz)} and {_at(self.window_start + HOUR, tz)}: a channel "
            f"publishes at most {self.limits.per_hour} slots an hour "
            "(CHANNEL_MAX_SLOTS_PER_HOUR)"
        )


class Spacing:
    """The times a channel publishes at, and whether one more fits (the bound's arithmetic)."""

    def __init__(self, times=(), *, limits: Limits | None = None):
        self.limits = limits or Limits.current()
        self.times = sorted(times)

    def add(self, at: dt.datetime) -> None:
        bisect.insort(self.times, at)

    def conflict(self, at: dt.datetime) -> Conflict | None:
        times, limits = self.times, self.limits
        i = bisect.bisect_left(times, at)
        if limits.min_interval:
            for j in (i - 1, i):
                if 0 <= j < len(times) and abs(times[j] - at) < limits.min_interval:
                    return Conflict(at=at, limits=limits, other=times[j])
        # The fullest hour that holds `at` starts at `at` or at a time of the hour before it.
        first = bisect.bisect_right(times, at - HOUR)
        starts = times[first:i]
        if len(starts) >= limits.per_hour:
            # The hour from the earliest of them already holds them all, and `at`.
            starts = starts[:1]
        for start in [*starts, at]:
            count = bisect.bisect_left(times, start + HOUR) - bisect.bisect_left(times, start)
            if count + 1 > limits.per_hour:
                return Conflict(at=at, limits=limits, window_start=start, count=count + 1)
        return None


def admit(slots: list[Timeslot], *, taken, tz_of) -> int:
    """Mark `skipped` (with the reason) the planned slots that would break the bound against
    `taken` (channel id -> times already counted) and each other; the rest are added to
    `taken`. Returns how many were skipped. Slots are judged in time order, so the earlier
    of two colliding slots is the one that publishes."""
    limits = Limits.current()
    spacings: dict[int, Spacing] = {}
    skipped = 0
    for slot in sorted(slots, key=lambda t: (t.publish_at, t.schedule_id or 0)):
        if slot.status != Timeslot.Status.SCHEDULED:
            continue
        spacing = spacings.get(slot.channel_id)
        if spacing is None:
            spacing = spacings[slot.channel_id] = Spacing(
                taken.get(slot.channel_id, ()), limits=limits
            )
        found = spacing.conflict(slot.publish_at)
        if found is None:
            spacing.add(slot.publish_at)
            continue
        slot.status = Timeslot.Status.SKIPPED
        reasons.stamp(
            reasons.Reason.OVER_LIMIT, conflict=found.text(tz_of(slot.channel_id))
        ).put_on(slot)
        skipped += 1
    return skipped


def counted_times(channel_ids, *, start: dt.datetime, end: dt.datetime) -> dict[int, list]:
    """channel id -> the times of its counted slots in [start - 1 h, end + 1 h): one query."""
    out: dict[int, list] = {}
    rows = Timeslot.objects.filter(
        channel_id__in=list(channel_ids),
        status__in=COUNTED,
        publish_at__gte=start - HOUR,
        publish_at__lt=end + HOUR,
    ).values_list("channel_id", "publish_at")
    for channel_id, at in rows:
        out.setdefault(channel_id, []).append(at)
    return out


# --- Checks on save ------------------------------------------------------------------------


@dataclass
class _Slot:
    id: int
    schedule_id: int | None
    planned_for: dt.datetime | None
    publish_at: dt.datetime
    status: str
    detached: bool


class _Channel:
    """What a channel publishes in a window: its slots' rows (one query) and its other
    active schedules (one query), expanded per window as needed."""

    def __init__(
        self,
        channel,
        *,
        lo,
        hi,
        now,
        leave_out_schedule=None,
        leave_out_slot=None,
        with_schedules=True,
    ):
        self.channel, self.now = channel, now
        window = Q(publish_at__gte=lo - HOUR, publish_at__lt=hi + HOUR) | Q(
            planned_for__gte=lo - HOUR, planned_for__lt=hi + HOUR
        )
        self.leave_out_slot = leave_out_slot
        self.rows = [
            _Slot(*values)
            for values in Timeslot.objects.filter(window, channel=channel).values_list(
                "id", "schedule_id", "planned_for", "publish_at", "status", "detached"
            )
        ]
        schedules = Schedule.objects.filter(channel=channel, is_active=True)
        if leave_out_schedule is not None:
            schedules = schedules.exclude(pk=leave_out_schedule)
        self.schedules = list(schedules) if with_schedules else []
        # An occurrence that has a row is that row (moved, canceled or published): never
        # planned again, so only the row counts.
        self.planned = {(r.schedule_id, r.planned_for) for r in self.rows if r.schedule_id}

    def times(self, start: dt.datetime, end: dt.datetime, *, replaced=None) -> list:
        """Counted times in [start - 1 h, end + 1 h); `replaced` names a schedule whose
        scheduled, unmoved slots are about to be reconciled away (they do not count)."""
        lo, hi = start - HOUR, end + HOUR
        out = [
            r.publish_at
            for r in self.rows
            if lo <= r.publish_at < hi
            and r.status in COUNTED
            and r.id != self.leave_out_slot
            and not (
                replaced is not None
                and r.schedule_id == replaced
                and r.status == Timeslot.Status.SCHEDULED
                and not r.detached
            )
        ]
        for schedule in self.schedules:
            for at in rules.occurrences(
                schedule.recurrence,
                tz=self.channel.tz,
                starts_on=schedule.starts_on,
                start=max(lo, self.now),
                end=hi,
            ):
                if (schedule.id, at) not in self.planned:
                    out.append(at)
        return out


def _refuse(conflicts: list[Conflict], *, channel, what: str) -> None:
    named = "; ".join(c.text(channel.tz) for c in conflicts[:NAMED])
    more = " (and more)" if len(conflicts) > NAMED else ""
    raise ValidationError(
        f"{what} would make {channel.name} publish too often ({channel.timezone}): {named}{more}."
    )


def schedule_check(*, schedule: Schedule, now: dt.datetime) -> None:
    """Refuse a schedule whose times, with the channel's other schedules and slots, break
    the bound; the message names the first offending times."""
    if not schedule.is_active:
        return
    channel = schedule.channel
    limits = Limits.current()
    end = now + CHECK_AHEAD
    state = _Channel(channel, lo=now, hi=end, now=now, leave_out_schedule=schedule.pk)
    # This schedule's occurrences that are already a moved or finished slot stay that slot.
    kept = {
        r.planned_for
        for r in state.rows
        if schedule.pk is not None
        and r.schedule_id == schedule.pk
        and (r.detached or r.status not in (Timeslot.Status.SCHEDULED, Timeslot.Status.CANCELED))
    }
    compared = 0
    carried: list[dt.datetime] = []  # this schedule's times of the last hour of a window
    start = now
    for span in _SPANS:
        stop = min(now + span, end)
        if compared:
            # Grow no further than the budget left at the rate seen so far: a channel with
            # many schedules is checked for fewer days, never for more work.
            per_second = compared / max((start - now).total_seconds(), 1)
            stop = min(stop, start + dt.timedelta(seconds=(CHECK_BUDGET - compared) / per_second))
        if stop <= start:
            continue
        mine = [
            at
            for at in rules.occurrences(
                schedule.recurrence,
                tz=channel.tz,
                starts_on=schedule.starts_on,
                start=start,
                end=stop,
            )
            if at not in kept
        ]
        if mine:
            others = state.times(start, stop, replaced=schedule.pk)
            spacing = Spacing([*others, *carried], limits=limits)
            conflicts = []
            for at in mine:
                found = spacing.conflict(at)
                if found is None:
                    spacing.add(at)
                    continue
                conflicts.append(found)
                if len(conflicts) > NAMED:
                    break
            if conflicts:
                _refuse(conflicts, channel=channel, what="This schedule")
            compared += len(mine) + len(others)
            carried = [at for at in mine if at >= stop - HOUR]
        if compared > CHECK_BUDGET:
            return
        start = stop


def timeslot_check(
    *,
    channel,
    publish_at: dt.datetime,
    now: dt.datetime,
    moving: Timeslot | None = None,
) -> None:
    """Refuse a pin, share-now or move to `publish_at` that breaks the channel's bound."""
    state = _Channel(
        channel,
        lo=publish_at,
        hi=publish_at,
        now=now,
        leave_out_slot=moving.pk if moving is not None else None,
        # A paused channel's schedules plan nothing; on resume, reconciliation skips what
        # would break the bound against the pins there then (admit).
        with_schedules=not channel.is_paused,
    )
    found = Spacing(state.times(publish_at, publish_at)).conflict(publish_at)
    if found is not None:
        what = "Moving this slot" if moving is not None else "A slot at that time"
        _refuse([found], channel=channel, what=what)
