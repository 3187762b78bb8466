"""Recurrence rules expanded in a channel's wall-clock time.

Why not django-recurrence's own `between()`: it stores DTSTART in UTC with no TZID and
converts datetimes with Django's *current* time zone, so a "09:00 Europe/Berlin" rule
would drift by an hour across DST. Instead we take only the rules from the field and
expand them ourselves with a *naive local* anchor (local midnight of the schedule's
`starts_on`), then attach the channel's zone with zoneinfo:

- a local time that does not exist (spring forward, 02:30 in New York) gets fold=0, which
  zoneinfo resolves with the offset before the gap: 02:30 EST == 03:30 EDT, i.e. the slot
  moves forward by the gap;
- a local time that happens twice (fall back, 01:30) also gets fold=0: the first one.
  The second 01:30 is never generated, so the slot publishes once.

RDATE/EXDATE/UNTIL values are wall-clock times in the channel's zone (settings keep
TIME_ZONE=UTC and RECURRENCE_USE_TZ=False so django-recurrence hands them back unshifted).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import logging
import math
import threading
import zoneinfo

import dateutil.rrule
import recurrence
from django.core.exceptions import ValidationError

UTC = dt.UTC
log = logging.getLogger(__name__)

# Seconds per unit of each frequency that a whole number of days can skip without
# changing the rule's phase (MONTHLY/YEARLY are cheap to iterate and are left alone).
_UNIT_SECONDS = {
    dateutil.rrule.WEEKLY: 7 * 86400,
    dateutil.rrule.DAILY: 86400,
    dateutil.rrule.HOURLY: 3600,
    dateutil.rrule.MINUTELY: 60,
    dateutil.rrule.SECONDLY: 1,
}
# Refuse rules that would flood a channel: at most one slot a minute.
MIN_INTERVAL_SECONDS = 60
# A rule must fire at least once within this many months of its anchor: a rule that never
# matches (FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=30) is refused instead of being searched for
# until the year 9999 (41 s of CPU at every save, preview and planner run).
HORIZON_MONTHS = 61
# COUNT rules are expanded from their first occurrence; a larger series is an UNTIL rule.
MAX_COUNT = 10_000
# At most this many occurrences are read from one rule in one expansion (two weeks of a
# once-a-minute rule): the bound on the work one schedule can cost the planner.
MAX_OCCURRENCES = 20_000


# --- Bounded iteration ------------------------------------------------------------------
# dateutil checks UNTIL only when it yields: a rule whose BY* parts never match walks day
# by day to datetime.MAXYEAR. Every month it visits goes through _iterinfo.rebuild(), so
# counting those calls is an exact bound on the months (hence days) one expansion scans.
# The subclass is installed once; it counts only inside `_month_budget` (per thread, as
# the worker's delivery threads and the web's threads may expand rules at the same time).


class _BudgetSpent(Exception):
    pass


_budget = threading.local()


class _CountedIterInfo(dateutil.rrule._iterinfo):
    def rebuild(self, year, month):
        _budget.scanned = getattr(_budget, "scanned", 0) + 1
        left = getattr(_budget, "months", None)
        if left is not None:
            if left <= 0:
                raise _BudgetSpent
            _budget.months = left - 1
        return super().rebuild(year, month)


dateutil.rrule._iterinfo = _CountedIterInfo


@contextlib.contextmanager
def _month_budget(months: int):
    outer = getattr(_budget, "months", None)
    _budget.months = months
    try:
        yield
    finally:
        _budget.months = outer


def months_scanned_by(function, *args, **kwargs) -> int:
    """How many months dateutil visited in this thread while running function: the unit
    the bounds above are stated in (tests assert on it instead of on wall time)."""
    before = getattr(_budget, "scanned", 0)
    function(*args, **kwargs)
    return _budget.scanned - before if hasattr(_budget, "scanned") else 0


def _months_between(lo: dt.datetime, hi: dt.datetime) -> int:
    return (hi.year - lo.year) * 12 + hi.month - lo.month + 2


def _bounded(rule, *, lo: dt.datetime, hi: dt.datetime) -> list[dt.datetime]:
    """The occurrences of a dateutil rule in [lo, hi], scanning no month past hi and reading
    at most MAX_OCCURRENCES."""
    out = []
    read = 0
    try:
        with _month_budget(_months_between(rule._dtstart, hi)):
            for local in itertools.islice(iter(rule), MAX_OCCURRENCES):
                read += 1
                if local > hi:
                    break
                if local >= lo:
                    out.append(local)
    except _BudgetSpent:
        pass  # scanned every month up to hi: no (further) occurrence in the window
    if read >= MAX_OCCURRENCES:
        log.warning("rule %s: stopped after %s occurrences", rule, MAX_OCCURRENCES)
    return out


def parse(text: str) -> recurrence.Recurrence:
    """Parse RFC 5545 rule text (RRULE/EXRULE/RDATE/EXDATE lines) or raise ValidationError."""
    text = (text or "").strip()
    if not text:
        raise ValidationError("Enter at least one rule, for example RRULE:FREQ=DAILY;BYHOUR=9")
    try:
        value = recurrence.deserialize(text)
    except (recurrence.exceptions.DeserializationError, ValueError, KeyError, IndexError) as exc:
        raise ValidationError(f"Not a valid recurrence rule: {exc}") from None
    validate(value)
    return value


# RFC 5545 ranges (absolute values, never 0) that dateutil does not check itself: out of
# range it silently iterates to year 9999 (BYMONTH=13) or fails while expanding
# (BYMONTHDAY=40).
_BY_RANGES = {"bymonth": 12, "bymonthday": 31, "byyearday": 366, "byweekno": 53}


def _as_list(values) -> list:
    if values is None:
        return []
    return list(values) if isinstance(values, list | tuple | set) else [values]


def _check_parts(rule) -> None:
    if rule.interval is not None and rule.interval < 1:
        # dateutil never advances with INTERVAL=0: expanding the rule would hang.
        raise ValidationError("INTERVAL must be 1 or more.")
    if rule.count is not None and rule.count < 1:
        raise ValidationError("COUNT must be 1 or more.")
    if rule.count is not None and rule.count > MAX_COUNT:
        raise ValidationError(
            f"COUNT may be at most {MAX_COUNT:,}; for a longer series give an end date (UNTIL)."
        )
    for name, limit in _BY_RANGES.items():
        for v in _as_list(getattr(rule, name, None)):
            if v == 0 or abs(v) > limit or (name == "bymonth" and v < 0):
                raise ValidationError(f"{name.upper()}={v} is out of range.")
    for name, top in (("byhour", 23), ("byminute", 59), ("bysecond", 59)):
        for v in _as_list(getattr(rule, name, None)):
            if not 0 <= v <= top:
                raise ValidationError(
                    f"Not a valid recurrence rule: {name[2:]} must be in 0..{top} "
                    f"({name.upper()}={v})."
                )
    if len(_as_list(getattr(rule, "bysecond", None))) > 1:
        raise ValidationError("A schedule may fire at most once a minute: use one BYSECOND value.")


def validate(value: recurrence.Recurrence) -> None:
    if not value.rrules and not value.rdates:
        raise ValidationError("A schedule needs at least one RRULE or RDATE.")
    for rule in [*value.rrules, *value.exrules]:
        _check_parts(rule)
    for rule in value.rrules:
        seconds = _UNIT_SECONDS.get(rule.freq)
        if seconds is not None and seconds * (rule.interval or 1) < MIN_INTERVAL_SECONDS:
            raise ValidationError("A schedule may fire at most once a minute.")
    # The default Schedule.starts_on: the anchor every rule is checked from.
    anchor = dt.datetime(2020, 1, 6)  # noqa: DTZ001 - deliberately naive local time
    try:
        checks = [(r, False) for r in value.rrules] + [(r, True) for r in value.exrules]
        for rule, is_exclusion in checks:
            # Building the rules catches values dateutil rejects (BYHOUR=25, bad
            # BYSETPOS...); some impossible combinations (MINUTELY;INTERVAL=27;BYHOUR=0)
            # only show when iterating: take the first occurrence, scanning at most
            # HORIZON_MONTHS months.
            first = None
            with contextlib.suppress(_BudgetSpent), _month_budget(HORIZON_MONTHS):
                first = next(iter(rule.to_dateutil_rrule(dtstart=anchor)), None)
            if first is None and not is_exclusion:
                raise ValidationError(
                    "This rule never fires: no date matches all its parts within "
                    f"{HORIZON_MONTHS // 12} years (like BYMONTH=2;BYMONTHDAY=30), or it "
                    "ends before it starts."
                )
    except (ValueError, TypeError) as exc:
        raise ValidationError(f"Not a valid recurrence rule: {exc}") from None


def localize(wall: dt.datetime, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    """A naive wall-clock time in `tz`, as aware UTC: the one DST rule of the whole app.

    fold=0 (see the module docstring): a time in the spring-forward gap moves forward by
    the gap, a repeated fall-back time means the first one. The planner, the web forms and
    the API's naive `publish_at` all go through here, so they always agree.
    """
    return wall.replace(tzinfo=tz, fold=0).astimezone(UTC)


def _naive_wall_time(value: dt.datetime | dt.date) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        return dt.datetime.combine(value, dt.time())
    if value.tzinfo is not None:
        # A value that has not been through the database yet: store/reload would turn it
        # into UTC wall time, so do the same here and behave identically before a save.
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def _anchor_for(rule, anchor: dt.datetime, window_start: dt.datetime) -> dt.datetime:
    """Move the anchor forward by whole periods so expansion does not iterate since 2020."""
    unit = _UNIT_SECONDS.get(rule.freq)
    if unit is None or rule.count:
        return anchor  # COUNT is relative to the real anchor; MONTHLY/YEARLY are cheap.
    period = unit * (rule.interval or 1)
    step_days = math.lcm(period, 86400) // 86400
    days_behind = (window_start - anchor).days - 1
    if days_behind < step_days:
        return anchor
    return anchor + dt.timedelta(days=(days_behind // step_days) * step_days)


def occurrences(
    value: recurrence.Recurrence,
    *,
    tz: zoneinfo.ZoneInfo,
    starts_on: dt.date,
    start: dt.datetime,
    end: dt.datetime,
) -> list[dt.datetime]:
    """The rule's instants in [start, end) as aware UTC datetimes, sorted, without repeats."""
    anchor = dt.datetime.combine(starts_on, dt.time())
    # Local bounds with margin: the local day around a DST change is 23 or 25 hours long.
    local_lo = start.astimezone(tz).replace(tzinfo=None) - dt.timedelta(hours=3)
    local_hi = end.astimezone(tz).replace(tzinfo=None) + dt.timedelta(hours=3)

    def expand(rule) -> list[dt.datetime]:
        dtstart = _anchor_for(rule, anchor, local_lo)
        return _bounded(rule.to_dateutil_rrule(dtstart=dtstart), lo=local_lo, hi=local_hi)

    # What dateutil's rruleset does, with each rule bounded on its own: the rules' and
    # RDATEs' times, less the EXRULEs' and EXDATEs'.
    included = {local for rule in value.rrules for local in expand(rule)}
    included |= {t for t in map(_naive_wall_time, value.rdates) if local_lo <= t <= local_hi}
    excluded = {local for rule in value.exrules for local in expand(rule)}
    excluded |= set(map(_naive_wall_time, value.exdates))

    instants: set[dt.datetime] = set()
    for local in included - excluded:
        if local < anchor:
            continue
        instant = localize(local, tz)
        if start <= instant < end:
            instants.add(instant)
    return sorted(instants)


def describe(value: recurrence.Recurrence) -> str:
    """A human-readable summary ("weekly, each Monday, Friday at 14:00")."""
    parts = []
    for rule in value.rrules:
        try:
            text = rule.to_text()
        except (IndexError, KeyError, ValueError, TypeError):
            text = recurrence.serialize(recurrence.Recurrence(rrules=[rule]))
        hours = getattr(rule, "byhour", None) or []
        minutes = getattr(rule, "byminute", None) or [0]
        if hours:
            times = ", ".join(f"{h:02d}:{m:02d}" for h in hours for m in minutes)
            text = f"{text} at {times}"
        parts.append(text)
    if value.rdates:
        parts.append(f"plus {len(value.rdates)} extra date(s)")
    if value.exdates or value.exrules:
        parts.append("with exceptions")
    return "; ".join(parts) or "no rules"
