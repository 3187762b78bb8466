"""The moments a user may give: from 2000 to five years ahead (issue 10, finding 5).

A post pinned at 9999-12-31T23:59:59Z was stored, and then every page that converts it to
a channel's zone (or adds a day to it) failed with an overflow; 0001-01-01T00:30 east of
UTC cannot even be converted to UTC. Nothing a scheduler does needs either, so both ends
are refused where values come in (API fields, web forms, the admin), with one message.
"""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.utils import timezone

UTC = dt.UTC
MAX_YEARS_AHEAD = 5
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=UTC)
# PostgreSQL refuses offsets of 16 hours or more (Python accepts up to 23:59).
MAX_OFFSET = dt.timedelta(hours=15, minutes=59)


def latest() -> dt.datetime:
    return timezone.now() + dt.timedelta(days=365 * MAX_YEARS_AHEAD + 2)


def range_message() -> str:
    return (
        f"Choose a time between {EARLIEST:%Y-%m-%d} and {MAX_YEARS_AHEAD} years from now "
        f"({latest():%Y-%m-%d})."
    )


def check_offset(value: dt.datetime) -> None:
    offset = value.utcoffset()
    if offset is not None and abs(offset) > MAX_OFFSET:
        raise ValidationError("A UTC offset must be between -15:59 and +15:59.")


def to_utc(value: dt.datetime) -> dt.datetime:
    """`value` in UTC, or ValidationError when it cannot be (a year-1 time east of UTC)."""
    check_offset(value)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValidationError(range_message()) from None


def validate_moment(value: dt.datetime | None) -> None:
    """An aware moment a post or slot may be set to."""
    if value is None:
        return
    utc = to_utc(value)
    if not EARLIEST <= utc <= latest():
        raise ValidationError(range_message())


def validate_wall_time_in(value: dt.datetime, tz: dt.tzinfo) -> None:
    """A naive wall-clock time read in `tz` (fold=0, as scheduling.rules.localize reads it):
    the instant it names must lie in validate_moment's window. Checked here, before it is
    localized, because converting year 9999 west of UTC or year 1 east of it overflows."""
    validate_moment(value.replace(tzinfo=tz, fold=0))


def validate_wall_time(value: dt.datetime | None) -> None:
    """A form's date-time before it is read in a channel's zone: the same window, with a
    day's slack either side for the zone (checked again once localized, if needed)."""
    if value is None:
        return
    naive = value.replace(tzinfo=None)
    lo = EARLIEST.replace(tzinfo=None) + dt.timedelta(days=1)
    hi = latest().replace(tzinfo=None) - dt.timedelta(days=1)
    if not lo <= naive <= hi:
        raise ValidationError(range_message())
