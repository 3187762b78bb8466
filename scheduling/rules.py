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

import calendar
import copy
import datetime as dt
import itertools
import logging
import re
import zoneinfo

import dateutil.rrule
import recurrence
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from ground.library_workarounds import MonthBudgetSpent, dateutil_month_budget

UTC = dt.UTC
log = logging.getLogger(__name__)

# Seconds per unit of the frequencies of fixed length (a month or a year has none).
_UNIT_SECONDS = {
    dateutil.rrule.WEEKLY: 7 * 86400,
    dateutil.rrule.DAILY: 86400,
    dateutil.rrule.HOURLY: 3600,
    dateutil.rrule.MINUTELY: 60,
    dateutil.rrule.SECONDLY: 1,
}
# The default Schedule.starts_on (a Monday): rules are anchored at its local midnight.
DEFAULT_STARTS_ON = dt.date(2020, 1, 6)
# A rule must fire within the next year (at most HORIZON_MONTHS months scanned, the two
# partial months at the ends included): a rule that never
# matches (FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=30), ended (UNTIL, COUNT) or matches too
# rarely to be a schedule is refused instead of being accepted and never firing. A rule
# whose own period is longer looks ahead two periods (YEARLY counts the 4-year leap cycle,
# so Feb 29 is accepted), never more than MAX_LOOKAHEAD_YEARS.
HORIZON_MONTHS = 14
MAX_LOOKAHEAD_YEARS = 8
# The rule text, web form and API alike (one home): a schedule is a handful of lines, and
# the planner, the previews and the calendar expand it again and again.
MAX_TEXT_LENGTH = 5000
# COUNT rules are expanded from their first occurrence; a larger series is an UNTIL rule.
MAX_COUNT = 10_000
# At most this many occurrences are read from one rule in one expansion (two weeks of a
# once-a-minute rule): the bound on the work one schedule can cost the planner.
MAX_OCCURRENCES = 20_000


# --- Bounded iteration ------------------------------------------------------------------
# dateutil checks UNTIL only when it yields: a rule whose BY* parts never match walks day by
# day to datetime.MAXYEAR, and no documented rrule API stops it. The bound on the months one
# expansion scans is a library-bug workaround: ground/library_workarounds.py (upstream
# issue, versions, and the test that fails when dateutil changes).


def _months_between(lo: dt.datetime, hi: dt.datetime) -> int:
    return (hi.year - lo.year) * 12 + hi.month - lo.month + 2


def _bounded(
    rule, *, dtstart: dt.datetime, lo: dt.datetime, hi: dt.datetime, first_only: bool = False
) -> list[dt.datetime]:
    """The occurrences of a dateutil rule (starting at dtstart) in [lo, hi], scanning no
    month past hi and reading at most MAX_OCCURRENCES; only the first with first_only."""
    out = []
    read = 0
    try:
        with dateutil_month_budget(_months_between(dtstart, hi)):
            for local in itertools.islice(iter(rule), MAX_OCCURRENCES):
                read += 1
                if local > hi:
                    break
                if local >= lo:
                    out.append(local)
                    if first_only:
                        break
    except MonthBudgetSpent:
        pass  # scanned every month up to hi: no (further) occurrence in the window
    if read >= MAX_OCCURRENCES:
        log.warning("rule %s: stopped after %s occurrences", rule, MAX_OCCURRENCES)
    return out


# django-recurrence reads only the first value of `RDATE:d1,d2,...` and drops the rest
# silently (jazzband/django-recurrence#158, still open for RDATE; EXDATE was fixed by #201).
# RFC 5545 allows the list, so each value gets its own line before the library sees it.
# tests/scheduling/test_rule_text.py fails once the library reads the list itself: then drop this.
_RDATE_LINE = re.compile(r"^(RDATE[^:]*):(.*)$", re.MULTILINE)


def _one_rdate_per_line(text: str) -> str:
    def split(match: re.Match) -> str:
        values = [v.strip() for v in match.group(2).split(",") if v.strip()]
        if len(values) < 2:
            return match.group(0)
        return "\n".join(f"{match.group(1)}:{v}" for v in values)

    return _RDATE_LINE.sub(split, text)


def parse(
    text: str, *, starts_on: dt.date | None = None, now: dt.datetime | None = None
) -> recurrence.Recurrence:
    """Parse RFC 5545 rule text (RRULE/EXRULE/RDATE/EXDATE lines) or raise ValidationError.

    The one home of the text's limits, for the web form, the API and the admin alike.
    """
    # Measured as typed, whatever the line endings a browser sent or the spaces around.
    lines = (text or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    text = "\n".join(line.strip() for line in lines).strip()
    if len(text) > MAX_TEXT_LENGTH:
        raise ValidationError(
            f"Too many rules: at most {MAX_TEXT_LENGTH:,} characters (this has {len(text):,})."
        )
    if not text:
        raise ValidationError("Enter at least one rule, for example RRULE:FREQ=DAILY;BYHOUR=9")
    try:
        value = recurrence.deserialize(_one_rdate_per_line(text))
    except (recurrence.exceptions.DeserializationError, ValueError, KeyError, IndexError) as exc:
        raise ValidationError(f"Not a valid recurrence rule: {exc}") from None
    validate(value, starts_on=starts_on, now=now)
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


def _min_interval_words(seconds: int) -> str:
    return "a minute" if seconds == 60 else f"every {seconds} seconds"


def validate(
    value: recurrence.Recurrence,
    *,
    starts_on: dt.date | None = None,
    now: dt.datetime | None = None,
    tz: zoneinfo.ZoneInfo | dt.tzinfo = UTC,
) -> None:
    """Refuse what no schedule should hold: out-of-range parts, a rule faster than the
    channel's CHANNEL_MIN_INTERVAL on its own, a rule (or a whole schedule) that does not
    fire in the next year from `now` (the channel-wide bounds are scheduling/spacing.py's).
    Without `starts_on` (the text alone) a rule's end (UNTIL, COUNT) is not judged yet;
    schedule_save judges it with the schedule's own start."""
    if not value.rrules and not value.rdates:
        raise ValidationError("A schedule needs at least one RRULE or RDATE.")
    for rule in [*value.rrules, *value.exrules]:
        _check_parts(rule)
    min_interval = max(settings.CHANNEL_MIN_INTERVAL, 1)
    for rule in value.rrules:
        seconds = _UNIT_SECONDS.get(rule.freq)
        if seconds is not None and seconds * (rule.interval or 1) < min_interval:
            raise ValidationError(
                f"A schedule may fire at most once {_min_interval_words(min_interval)}."
            )
    anchor = dt.datetime.combine(starts_on or DEFAULT_STARTS_ON, dt.time())
    now = now or timezone.now()
    after = max(anchor, now.astimezone(tz).replace(tzinfo=None, microsecond=0))
    try:
        for rule in [*value.rrules, *value.exrules]:
            # Building the rules catches values dateutil rejects (BYHOUR=25, bad BYSETPOS).
            rule.to_dateutil_rrule(dtstart=anchor)
        for rule in value.rrules:
            until = after + _lookahead(rule)
            open_ended = copy.copy(rule)
            open_ended.count = open_ended.until = None
            if _first(open_ended, anchor=anchor, after=after, until=until) is None:
                raise ValidationError(
                    "This rule never fires: no date matches all its parts in the next year "
                    "(like BYMONTH=2;BYMONTHDAY=30)."
                )
            # COUNT counts from the schedule's own start: checked once that is known (the
            # text alone, in a form or serializer, may belong to a later starts_on).
            if (
                starts_on is not None
                and (rule.count or rule.until)
                and _first(rule, anchor=anchor, after=after, until=until) is None
            ):
                raise ValidationError(
                    "This rule never fires again: it ends (UNTIL or COUNT, counted from "
                    f"{anchor:%Y-%m-%d}) before {after:%Y-%m-%d %H:%M}."
                )
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValidationError(f"Not a valid recurrence rule: {exc}") from None
    if value.rrules and not value.exrules and not value.exdates:
        return  # each rule fires, and nothing takes its times away
    horizon = max((_lookahead(r) for r in value.rrules), default=dt.timedelta(days=366))
    start = localize(after, tz)
    # Growing windows: a busy schedule is found in its first hour, a sparse one later.
    for span in (dt.timedelta(hours=1), dt.timedelta(days=32), horizon):
        found = occurrences(
            value, tz=tz, starts_on=anchor.date(), start=start, end=start + min(span, horizon)
        )
        if found:
            return
    raise ValidationError(
        "This schedule never fires in the next year: its dates are past (or further ahead), "
        "or its exceptions (EXRULE/EXDATE) remove every time."
    )


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


def _pinned(rule, anchor: dt.datetime):
    """A copy of the rule with the parts RFC 5545 takes from DTSTART written out, so the
    rule means the same from any dtstart (the weekday of a WEEKLY rule, the day of a
    MONTHLY one, the time of a DAILY one...): the anchor's values, as dateutil would."""
    pinned = copy.copy(rule)
    if not (rule.bymonthday or rule.byyearday or rule.byweekno or rule.byday):
        if rule.freq == recurrence.YEARLY:
            pinned.bymonth = list(rule.bymonth or [anchor.month])
            pinned.bymonthday = [anchor.day]
        elif rule.freq == recurrence.MONTHLY:
            pinned.bymonthday = [anchor.day]
        elif rule.freq == recurrence.WEEKLY:
            pinned.byday = [recurrence.to_weekday(anchor.weekday())]
    if rule.freq < recurrence.HOURLY and not rule.byhour:
        pinned.byhour = [anchor.hour]
    if rule.freq < recurrence.MINUTELY and not rule.byminute:
        pinned.byminute = [anchor.minute]
    if rule.freq < recurrence.SECONDLY and not rule.bysecond:
        pinned.bysecond = [anchor.second]
    return pinned


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time())


def _dtstart_near(rule, anchor: dt.datetime, lo: dt.datetime) -> dt.datetime:
    """A dtstart at or before `lo` in the same phase as the anchor (the same INTERVAL grid,
    the same weeks, months or years), so expansion starts at the window instead of at
    `starts_on`: its cost is the window's, whatever the rule.

    dateutil computes each period's set (a year, a month, a week, a day) in full and then
    drops what lies before dtstart, so a dtstart inside an in-phase period (with the
    DTSTART-derived parts pinned, _pinned) yields exactly the rule's times from there on.
    Sub-daily rules start on their grid (anchor + k x period): at most one period early.
    """
    interval = rule.interval or 1
    freq = rule.freq
    if freq in (recurrence.HOURLY, recurrence.MINUTELY, recurrence.SECONDLY):
        period = _UNIT_SECONDS[freq] * interval
        steps = int((lo - anchor).total_seconds()) // period
        return anchor + dt.timedelta(seconds=steps * period)
    if freq == recurrence.DAILY:
        behind = (lo.date() - anchor.date()).days % interval
        return lo if not behind else _midnight(lo.date() + dt.timedelta(days=interval - behind))
    if freq == recurrence.WEEKLY:
        wkst = rule.wkst if rule.wkst is not None else calendar.firstweekday()
        wkst = getattr(wkst, "number", wkst)

        def week_of(day: dt.date) -> dt.date:
            return day - dt.timedelta(days=(day.weekday() - wkst) % 7)

        behind = ((week_of(lo.date()) - week_of(anchor.date())).days // 7) % interval
        if not behind:
            return lo
        return _midnight(week_of(lo.date()) + dt.timedelta(weeks=interval - behind))
    if freq == recurrence.MONTHLY:
        behind = ((lo.year - anchor.year) * 12 + lo.month - anchor.month) % interval
        if not behind:
            return lo
        month = lo.year * 12 + lo.month - 1 + interval - behind
        return dt.datetime(month // 12, month % 12 + 1, 1)  # noqa: DTZ001 - wall time
    behind = (lo.year - anchor.year) % interval
    return lo if not behind else dt.datetime(lo.year + interval - behind, 1, 1)  # noqa: DTZ001


def _expander(rule, anchor: dt.datetime, lo: dt.datetime):
    """(dateutil rule, its dtstart) to read the rule's times from `lo` on, or None when the
    rule's next period lies beyond the last representable year."""
    lo = lo.replace(microsecond=0)
    if rule.count or lo <= anchor:
        # COUNT is counted from the real anchor (MAX_COUNT bounds that read).
        return rule.to_dateutil_rrule(dtstart=anchor), anchor
    try:
        dtstart = _dtstart_near(rule, anchor, lo)
    except (ValueError, OverflowError):
        return None
    return _pinned(rule, anchor).to_dateutil_rrule(dtstart=dtstart), dtstart


def _first(rule, *, anchor: dt.datetime, after: dt.datetime, until: dt.datetime):
    built = _expander(rule, anchor, after)
    if built is None:
        return None
    found = _bounded(built[0], dtstart=built[1], lo=after, hi=until, first_only=True)
    return found[0] if found else None


_PERIOD = {
    recurrence.YEARLY: dt.timedelta(days=4 * 366),  # the leap-year cycle: Feb 29 is real
    recurrence.MONTHLY: dt.timedelta(days=31),
}


def _lookahead(rule) -> dt.timedelta:
    """How far ahead a rule must fire: a year, or two of its periods when longer."""
    period = _PERIOD.get(rule.freq) or dt.timedelta(seconds=_UNIT_SECONDS[rule.freq])
    twice = 2 * (rule.interval or 1) * period
    return min(max(dt.timedelta(days=366), twice), dt.timedelta(days=366 * MAX_LOOKAHEAD_YEARS))


def occurrences(
    value: recurrence.Recurrence,
    *,
    tz: zoneinfo.ZoneInfo,
    starts_on: dt.date,
    start: dt.datetime,
    end: dt.datetime,
) -> list[dt.datetime]:
    """The rule's instants in [start, end) as aware UTC datetimes, sorted, without repeats.

    The work is the window's: every rule is read from a dtstart near `start`
    (_dtstart_near), never from `starts_on` (a dense MONTHLY rule used to read 20,000
    times from 2020 on every call and then stop short of the window).
    """
    anchor = dt.datetime.combine(starts_on, dt.time())
    # Local bounds with margin: the local day around a DST change is 23 or 25 hours long.
    local_lo = start.astimezone(tz).replace(tzinfo=None) - dt.timedelta(hours=3)
    local_hi = end.astimezone(tz).replace(tzinfo=None) + dt.timedelta(hours=3)

    def expand(rule) -> list[dt.datetime]:
        built = _expander(rule, anchor, local_lo)
        if built is None:
            return []
        return _bounded(built[0], dtstart=built[1], lo=local_lo, hi=local_hi)

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


PREVIEW_WINDOW = dt.timedelta(days=60)
PREVIEW_MAX = 50


def preview(
    value: recurrence.Recurrence,
    *,
    tz: zoneinfo.ZoneInfo,
    now: dt.datetime,
    count: int,
    starts_on: dt.date = DEFAULT_STARTS_ON,
) -> list[dt.datetime]:
    """The rule's next `count` instants from `now`, within PREVIEW_WINDOW: what the
    schedule editor shows under the rule (web) and the API's rule preview answer."""
    return occurrences(value, tz=tz, starts_on=starts_on, start=now, end=now + PREVIEW_WINDOW)[
        : max(0, min(count, PREVIEW_MAX))
    ]
