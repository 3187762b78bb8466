"""When a channel's audience answers, and which evergreen posts stopped earning.

Engagement is likes + reposts + replies + quotes of a sent delivery's latest snapshot (its
+7 d one once taken, earlier ages until then). Two reads, each one query whatever the
history's size:

- `channel_hour_rows`: per (weekday, hour) of the CHANNEL's wall clock, how many deliveries
  were sent, how many were measured and their summed engagement, grouped in SQL.
- `channel_publications`: one row per publication (a slot that sent a post) with its
  deliveries' summed engagement; the median and each post's last N are read from them.

Everything else here is pure functions over those rows.
"""

from __future__ import annotations

import datetime as dt
import statistics
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Count, IntegerField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce, ExtractHour, ExtractIsoWeekDay

from publishing.models import Delivery
from results.models import Snapshot
from scheduling import rules

# Only the last year counts: an audience's habits drift, and the scan stays bounded.
HISTORY = dt.timedelta(days=365)
# Below these a suggestion is noise: too few measured posts overall, or in a chosen hour.
MIN_MEASURED = 30
MIN_PER_CELL = 3
# How many (weekday, hour) cells a suggestion proposes at most.
SUGGEST_CELLS = 4
# Evergreen hygiene: a post is marked when each of its last N measured publications in a
# channel earned less than the channel's median publication (Channel.hygiene_lookback
# overrides N per channel).
DEFAULT_LOOKBACK = 3
# Colour steps of the heat map (CSS classes heat-0 .. heat-4).
HEAT_STEPS = 4
DAY_CODES = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
DAY_NAMES = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def _engagement_subquery() -> Subquery:
    """A delivery's latest non-deleted snapshot's engagement (NULL: never measured)."""
    zero = Value(0)
    latest = (
        Snapshot.objects.filter(delivery=OuterRef("pk"), deleted=False)
        .order_by("-taken_at", "-id")
        .annotate(
            engagement=Coalesce("likes", zero)
            + Coalesce("reposts", zero)
            + Coalesce("replies", zero)
            + Coalesce("quotes", zero)
        )
        .values("engagement")[:1]
    )
    return Subquery(latest, output_field=IntegerField())


def _sent_in_channel(*, channel_id: int, now: dt.datetime):
    return Delivery.objects.filter(
        timeslot__channel_id=channel_id,
        status=Delivery.Status.SENT,
        sent_at__gte=now - HISTORY,
        sent_at__lte=now,
    )


# --- Reads (one query each) ------------------------------------------------------------------


@dataclass(frozen=True)
class HourRow:
    weekday: int  # 0 = Monday, in the channel's zone
    hour: int
    sent: int
    measured: int
    engagement: int


def channel_hour_rows(*, channel_id: int, zone: str, now: dt.datetime) -> list[HourRow]:
    """Sent deliveries grouped by the channel's local weekday and hour: one query."""
    tz = zoneinfo.ZoneInfo(zone)
    rows = (
        _sent_in_channel(channel_id=channel_id, now=now)
        .annotate(
            engagement=_engagement_subquery(),
            local_day=ExtractIsoWeekDay("sent_at", tzinfo=tz),
            local_hour=ExtractHour("sent_at", tzinfo=tz),
        )
        .order_by()
        .values("local_day", "local_hour")
        .annotate(sent=Count("id"), measured=Count("engagement"), total=Sum("engagement"))
    )
    return [
        HourRow(
            weekday=r["local_day"] - 1,
            hour=r["local_hour"],
            sent=r["sent"],
            measured=r["measured"],
            engagement=r["total"] or 0,
        )
        for r in rows
    ]


@dataclass(frozen=True)
class Publication:
    post_id: int
    sent_at: dt.datetime
    engagement: int


def channel_publications(*, channel_id: int, now: dt.datetime) -> list[Publication]:
    """The channel's measured publications of the last year, newest first: one query (a row
    per slot that sent a post, its deliveries' engagement summed)."""
    rows = (
        _sent_in_channel(channel_id=channel_id, now=now)
        .filter(post_id__isnull=False)
        .annotate(engagement=_engagement_subquery())
        .filter(engagement__isnull=False)
        .order_by()
        .values("timeslot_id", "post_id")
        .annotate(
            total=Sum("engagement"), at=Coalesce("timeslot__published_at", "timeslot__publish_at")
        )
        .order_by("-at", "-timeslot_id")
    )
    return [Publication(r["post_id"], r["at"], r["total"]) for r in rows]


# --- The heat map and the suggestion (pure) ---------------------------------------------------


@dataclass
class Cell:
    weekday: int
    hour: int
    sent: int = 0
    measured: int = 0
    engagement: int = 0
    step: int = 0  # the colour step, 0 = no data

    @property
    def weekday_hour(self) -> tuple[int, int]:
        return (self.weekday, self.hour)

    @property
    def average(self) -> float | None:
        return self.engagement / self.measured if self.measured else None

    @property
    def label(self) -> str:
        span = f"{DAY_NAMES[self.weekday]} {self.hour:02d}:00-{self.hour:02d}:59"
        if not self.measured:
            return f"{span}: no measured posts"
        return (
            f"{span}: {self.average:.1f} average engagement over {self.measured} measured "
            f"post{'s' if self.measured != 1 else ''}"
        )


@dataclass
class HeatMap:
    rows: list[list[Cell]]  # 24 hours, each with 7 weekdays
    sent: int
    measured: int

    @property
    def cells(self) -> list[Cell]:
        return [cell for row in self.rows for cell in row]

    def top(self, n: int) -> list[Cell]:
        ranked = [c for c in self.cells if c.measured >= MIN_PER_CELL]
        ranked.sort(key=lambda c: (-(c.average or 0), c.weekday, c.hour))
        return ranked[:n]


def heat_map(rows: list[HourRow]) -> HeatMap:
    grid = [[Cell(weekday=d, hour=h) for d in range(7)] for h in range(24)]
    for row in rows:
        cell = grid[row.hour][row.weekday]
        cell.sent, cell.measured, cell.engagement = row.sent, row.measured, row.engagement
    best = max((c.average or 0 for line in grid for c in line), default=0)
    for line in grid:
        for cell in line:
            if cell.measured:
                # Steps 1..HEAT_STEPS by share of the best cell's average (0 stays "no data").
                share = (cell.average or 0) / best if best else 0
                cell.step = 1 + min(HEAT_STEPS - 1, int(share * HEAT_STEPS))
    return HeatMap(
        rows=grid, sent=sum(r.sent for r in rows), measured=sum(r.measured for r in rows)
    )


@dataclass(frozen=True)
class Suggestion:
    rule: str  # RRULE lines, "" when there is too little data
    cells: list[Cell]
    message: str


def rule_for_cells(cells: list[tuple[int, int]]) -> str:
    """RRULE lines for (weekday, hour) cells: days that share the same hours share a line
    (BYDAY x BYHOUR is a cross product, so different hour sets need their own lines)."""
    hours_by_day: dict[int, tuple[int, ...]] = {}
    for day in sorted({d for d, _ in cells}):
        hours_by_day[day] = tuple(sorted(h for d, h in cells if d == day))
    days_by_hours: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for day, hours in hours_by_day.items():
        days_by_hours[hours].append(day)
    lines = [
        "RRULE:FREQ=WEEKLY;BYDAY={};BYHOUR={};BYMINUTE=0".format(
            ",".join(DAY_CODES[d] for d in days), ",".join(str(h) for h in hours)
        )
        for hours, days in sorted(days_by_hours.items(), key=lambda kv: kv[1][0])
    ]
    return "\n".join(lines)


def suggest(heat: HeatMap, *, used: set[tuple[int, int]]) -> Suggestion:
    """The best free cells (not in `used`, each with MIN_PER_CELL measured posts and above
    the channel's average) as a weekly rule, or why there is none."""
    short = (
        f"Not enough results yet to suggest times: {heat.measured} of {heat.sent} posts measured"
    )
    if heat.measured < MIN_MEASURED:
        return Suggestion("", [], f"{short} (at least {MIN_MEASURED} are needed).")
    overall = sum(c.engagement for c in heat.cells) / heat.measured
    free = [
        c
        for c in heat.top(len(heat.cells))
        if (c.weekday, c.hour) not in used and (c.average or 0) > overall
    ][:SUGGEST_CELLS]
    if not free:
        return Suggestion(
            "",
            [],
            f"{short} in free hours (each suggested hour needs at least {MIN_PER_CELL} "
            "measured posts and a better than average result).",
        )
    return Suggestion(
        rule_for_cells([(c.weekday, c.hour) for c in free]),
        sorted(free, key=lambda c: (c.weekday, c.hour)),
        "",
    )


def used_cells(schedules, *, zone: str, now: dt.datetime) -> set[tuple[int, int]]:
    """The (weekday, hour) cells the schedules publish in, in the channel's zone, read from
    four weeks of their occurrences (fortnightly rules show both weeks)."""
    tz = zoneinfo.ZoneInfo(zone)
    used = set()
    for schedule in schedules:
        for instant in rules.occurrences(
            schedule.recurrence,
            tz=tz,
            starts_on=schedule.starts_on,
            start=now,
            end=now + dt.timedelta(days=28),
        ):
            local = instant.astimezone(tz)
            used.add((local.weekday(), local.hour))
    return used


# --- Evergreen hygiene (pure) ----------------------------------------------------------------


@dataclass(frozen=True)
class Underperformer:
    post_id: int
    recent: list[int]  # the last N publications' engagement, newest first
    median: float

    @property
    def label(self) -> str:
        return (
            f"Its last {len(self.recent)} publications earned "
            f"{', '.join(str(n) for n in self.recent)}, each below this channel's median "
            f"of {self.median:g}."
        )


def underperformers(publications: list[Publication], *, lookback: int) -> dict[int, Underperformer]:
    """Posts whose last `lookback` publications each earned less than the channel's median
    publication (publications newest first). A post with fewer measured publications is
    not judged yet."""
    if not publications or lookback < 1:
        return {}
    median = statistics.median(p.engagement for p in publications)
    recent: dict[int, list[int]] = defaultdict(list)
    for publication in publications:
        mine = recent[publication.post_id]
        if len(mine) < lookback:
            mine.append(publication.engagement)
    return {
        post_id: Underperformer(post_id, values, median)
        for post_id, values in recent.items()
        if len(values) == lookback and all(v < median for v in values)
    }
