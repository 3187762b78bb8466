"""The calendar's shapes: which days a week, month or day view covers, and how its slots are
laid out in cells. Pure functions over scheduling.selectors.UpcomingSlot lists (no queries),
so the views stay thin and the grid's query count never depends on the slots.

A slot is named by a key that works whether it has a row or is only projected from a rule:
"t<timeslot id>" for a row, "p<schedule id>-<unix seconds>" for a projection (the instant is
the rule occurrence itself, which is how the planner would name it).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import zoneinfo
from dataclasses import dataclass, field

from django.urls import reverse
from django.utils import formats, translation

from posts.models import word_preview
from scheduling.calendar_reads import PROJECTED
from scheduling.models import Timeslot
from scheduling.selectors import UpcomingSlot

VIEWS = ("week", "month", "day")
# Slots shown in one cell before "+N more": a 5-minute schedule has 12 an hour, 288 a day.
WEEK_CELL_MAX = 2
MONTH_CELL_MAX = 3
# Slots in one page of the day list; "Show more" fetches the next page (htmx).
DAY_PAGE = 60
CHANNEL_COLORS = 8  # app.css: --chan-0 ... --chan-7 (.c0 ... .c7)
KEY_RE = re.compile(r"^(?:t(?P<timeslot>\d{1,18})|p(?P<schedule>\d{1,18})-(?P<at>\d{1,12}))$")


def channel_color(channel_id: int) -> int:
    """A stable palette index per channel: the same colour on every page and every day,
    whatever channels are added or renamed (channels have no colour field)."""
    return channel_id % CHANNEL_COLORS


def slot_key(slot: UpcomingSlot) -> str:
    if slot.timeslot is not None:
        return f"t{slot.timeslot.id}"
    return f"p{slot.schedule.id}-{int(slot.publish_at.timestamp())}"


@dataclass(frozen=True)
class ParsedKey:
    timeslot_id: int | None = None
    schedule_id: int | None = None
    occurrence: dt.datetime | None = None


def parse_key(key: str) -> ParsedKey | None:
    match = KEY_RE.match(key)
    if not match:
        return None
    if match["timeslot"]:
        return ParsedKey(timeslot_id=int(match["timeslot"]))
    try:
        at = dt.datetime.fromtimestamp(int(match["at"]), tz=dt.UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return ParsedKey(schedule_id=int(match["schedule"]), occurrence=at)


# --- Which days ------------------------------------------------------------------------


def parse_start(value: str, *, today: dt.date) -> dt.date | None:
    """ "2026-12-07" → that date; None if unreadable or out of the calendar's range."""
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        return None
    # Local midnights around years 1 or 9999 would overflow; nothing is scheduled there.
    return day if 2000 <= day.year <= today.year + 10 else None


def parse_iso_week(value: str, *, today: dt.date) -> dt.date | None:
    """The Monday of "2026-W48" (the old calendar's links), None if unreadable."""
    try:
        year, week = value.upper().split("-W")
        if not 2000 <= int(year) <= today.year + 10:
            return None
        return dt.date.fromisocalendar(int(year), int(week), 1)
    except ValueError:
        return None


@dataclass
class Period:
    view: str
    first: dt.date  # the first day shown
    days: int  # how many days
    prev: dt.date
    next: dt.date

    @property
    def last(self) -> dt.date:
        return self.first + dt.timedelta(days=self.days - 1)

    def bounds(self, tz: zoneinfo.ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
        """[start, end) in UTC from local midnights, so a DST week has its 167 or 169 hours."""
        start = dt.datetime.combine(self.first, dt.time(), tzinfo=tz)
        end = dt.datetime.combine(self.first + dt.timedelta(days=self.days), dt.time(), tzinfo=tz)
        return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def period(view: str, day: dt.date) -> Period:
    if view == "month":
        first = day.replace(day=1)
        following = (first + dt.timedelta(days=32)).replace(day=1)
        previous = (first - dt.timedelta(days=1)).replace(day=1)
        return Period(view, first, (following - first).days, previous, following)
    if view == "day":
        return Period(view, day, 1, day - dt.timedelta(days=1), day + dt.timedelta(days=1))
    monday = day - dt.timedelta(days=day.weekday())
    week = dt.timedelta(days=7)
    return Period("week", monday, 7, monday - week, monday + week)


# --- Cells -----------------------------------------------------------------------------


STATUS_LABELS = {
    PROJECTED: "Projected",
    Timeslot.Status.SCHEDULED: Timeslot.Status.SCHEDULED.label,
}
# The statuses whose slots a person may still move or cancel (in the future).
EDITABLE = (PROJECTED, Timeslot.Status.SCHEDULED)


def decorate(slots: list[UpcomingSlot], *, tz: zoneinfo.ZoneInfo, now: dt.datetime) -> None:
    """Give each slot what the template shows: key, colour, local time, status, editability,
    and its panel's path and times as text (a week shows hundreds of slots: a `{% url %}`
    and three `|date`s each were a good part of its rendering)."""
    base = reverse("calendar_slot", kwargs={"key": "t0"}).removesuffix("t0/")
    for slot in slots:
        slot.key = slot_key(slot)
        slot.color = channel_color(slot.channel.id)
        slot.local = slot.publish_at.astimezone(tz)
        slot.path = f"{base}{slot.key}/"  # what {% url 'calendar_slot' key %} gives
        slot.hhmm = f"{slot.local:%H:%M}"  # |date:"H:i"
        slot.iso = slot.local.isoformat()  # |date:"c" in the page's zone
        if slot.timeslot is None:
            slot.status, slot.status_label = PROJECTED, STATUS_LABELS[PROJECTED]
        else:
            slot.status = slot.timeslot.status
            slot.status_label = slot.timeslot.get_status_display()
        slot.editable = slot.status in EDITABLE and slot.publish_at > now
    set_shown_text(slots)


def set_shown_text(slots: list[UpcomingSlot]) -> None:
    for slot in slots:
        slot.shown_text = slot.text or (slot.post.text if slot.post else "")


@dataclass
class DayPage:
    slots: list[UpcomingSlot]
    more: int  # slots after this page
    next_from: int
    earlier_from: int | None  # where the page before starts; None on the first


def day_page(
    slots: list[UpcomingSlot], *, first: str | None, hour: str | None, appended: bool = False
) -> DayPage:
    """One page of a day's slots (time order): from index `first`, or from the first slot
    at or after local `hour` (a week cell's "+N more"), DAY_PAGE at most.

    Each slot gets `hour_first` (the day's first slot of its hour: its mark carries the
    `#h<hour>` anchor) and `hour_mark` (show the hour before it: also at the top of a page,
    unless the page is `appended` below the previous one by htmx)."""
    start = 0
    if first and first.isdigit():
        start = min(int(first), len(slots))
    elif hour and hour.isdigit():
        start = next((i for i, s in enumerate(slots) if s.local.hour >= int(hour)), len(slots))
    end = start + DAY_PAGE
    for i in range(start, min(end, len(slots))):
        slot = slots[i]
        slot.hour_first = i == 0 or slots[i - 1].local.hour != slot.local.hour
        slot.hour_mark = slot.hour_first or (i == start and not appended)
    return DayPage(
        slots=slots[start:end],
        more=max(0, len(slots) - end),
        next_from=end,
        earlier_from=max(0, start - DAY_PAGE) if start else None,
    )


@functools.lru_cache(maxsize=128)
def _day_texts(day: dt.date, language: str | None) -> tuple[str, str, str]:
    # formats.date_format is what the |date filter calls (in the active language: in the
    # key), so the text is the filter's.
    return day.isoformat(), formats.date_format(day, "D j M"), formats.date_format(day, "l j F")


@dataclass
class Cell:
    day: dt.date
    hour: int | None = None  # None in a month or day view
    slots: list[UpcomingSlot] = field(default_factory=list)
    total: int = 0
    is_today: bool = False
    is_past: bool = False
    # The day as the template writes it, formatted once per day rather than per cell (a
    # week has 168): |date:"Y-m-d", |date:"D j M" and |date:"l j F".
    iso: str = ""
    short: str = ""
    full: str = ""

    def __post_init__(self) -> None:
        self.iso, self.short, self.full = _day_texts(self.day, translation.get_language())

    @property
    def more(self) -> int:
        return self.total - len(self.slots)

    @property
    def hh(self) -> str:
        return f"{self.hour or 0:02d}"

    @property
    def wall(self) -> str:
        """The cell's local start as a datetime-local value (what the compose link pins)."""
        return f"{self.day.isoformat()}T{self.hour or 0:02d}:00"


def week_rows(
    slots: list[UpcomingSlot],
    *,
    first: dt.date,
    today: dt.date,
    now_local: dt.datetime,
    hidden: dict[tuple[dt.date, int], int] | None = None,
) -> list[tuple[int, list[Cell]]]:
    """24 rows (local hours) of 7 cells; a cell keeps its first WEEK_CELL_MAX slots.
    `hidden`: slots of a (day, hour) counted but not listed (calendar_reads.HourCap)."""
    hidden = hidden or {}
    days = [first + dt.timedelta(days=i) for i in range(7)]
    grid = {
        (d, h): Cell(d, h, is_today=d == today, total=hidden.get((d, h), 0))
        for d in days
        for h in range(24)
    }
    for slot in slots:
        cell = grid.get((slot.local.date(), slot.local.hour))
        if cell is None:
            continue
        cell.total += 1
        if len(cell.slots) < WEEK_CELL_MAX:
            cell.slots.append(slot)
    for (day, hour), cell in grid.items():
        cell.is_past = (day, hour) < (now_local.date(), now_local.hour)
    return [(h, [grid[(d, h)] for d in days]) for h in range(24)]


def month_weeks(
    slots: list[UpcomingSlot],
    *,
    first: dt.date,
    days: int,
    today: dt.date,
    tz: zoneinfo.ZoneInfo,
    hidden: dict[dt.date, int] | None = None,
) -> list[list[Cell | None]]:
    """Monday-first weeks of the month's days; days outside the month are None (blank).
    `hidden`: slots of a day counted but not listed (calendar_reads.DayCap), in its total."""
    hidden = hidden or {}
    cells = {first + dt.timedelta(days=i): Cell(first + dt.timedelta(days=i)) for i in range(days)}
    for day, cell in cells.items():
        cell.total = hidden.get(day, 0)
    for slot in slots:
        # The local day from the instant: the slots are not decorated yet (only the
        # few each cell shows will be).
        cell = cells.get(slot.publish_at.astimezone(tz).date())
        if cell is None:
            continue
        cell.total += 1
        if len(cell.slots) < MONTH_CELL_MAX:
            cell.slots.append(slot)
    for day, cell in cells.items():
        cell.is_today, cell.is_past = day == today, day < today
    row: list[Cell | None] = [None] * first.weekday()
    weeks = []
    for cell in cells.values():
        row.append(cell)
        if len(row) == 7:
            weeks.append(row)
            row = []
    if row:
        weeks.append(row + [None] * (7 - len(row)))
    return weeks


# --- Naming a slot in a confirmation --------------------------------------------------------

NAME_WORDS = 40  # characters of the post's start in a confirmation


def slot_name(timeslot) -> str:
    """ "#tech slot “Write the test first…”": the channel and the post's first words, so a
    confirmation (with the time) says which slot it is about. A queue slot has no post of
    its own until it publishes: "the queue's next post"."""
    post = (timeslot.published_post or timeslot.post) if timeslot is not None else None
    what = f"“{word_preview(post.text, NAME_WORDS)}”" if post else "(the queue's next post)"
    return f"{timeslot.channel.name} slot {what}"


def when(at: dt.datetime, tz: zoneinfo.ZoneInfo) -> str:
    local = at.astimezone(tz)
    return f"{local:%a %d %b %H:%M} {local.tzname()}"
