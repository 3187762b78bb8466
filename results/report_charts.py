"""The results pages' chart: engagement per day (week, month) of sending as bars, drawn on
the server as SVG geometry like results/charts.py (no JavaScript, no CDN). Only numbers
are computed here; templates/results/_timeline_chart.html draws them beside the same
numbers in a table (the accessible reading of the chart).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from results.charts import nice_top
from results.reports import Bucket

# A narrow view box: the chart is drawn at a phone's width too, and its 12-unit labels must
# stay readable when the box shrinks to ~320 px.
WIDTH, HEIGHT = 360, 200
LEFT, RIGHT, TOP, BOTTOM = 40, 10, 12, 30
# At most this many x labels (first, last and evenly between): more would overlap.
X_LABELS = 4


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    value: int
    label: str


@dataclass(frozen=True)
class TimelineChart:
    width: int
    height: int
    left: int
    right: int
    base: float  # the y of zero
    ticks: list[tuple[int, float]]  # y-axis values and their y
    bars: list[Bar]
    labels: list[tuple[str, float, str]]  # x-axis labels, their x and text-anchor
    empty: bool


def bucket_label(when: dt.date, bucket: Bucket) -> str:
    if bucket is Bucket.MONTH:
        return when.strftime("%b %Y")
    prefix = "Week of " if bucket is Bucket.WEEK else ""
    return f"{prefix}{when.day} {when.strftime('%b')}"


def timeline_chart(rows: list[dict], bucket: Bucket) -> TimelineChart:
    """Bars of `rows` (reports.timeline: {"when", "engagement", ...} per bucket)."""
    top = nice_top(max([row["engagement"] for row in rows] or [1]))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(rows), 1)
    bar_w = max(slot * 0.7, 1.0)
    base = TOP + plot_h

    def y(value: int) -> float:
        return TOP + plot_h * (1 - value / top)

    bars = [
        Bar(
            x=LEFT + i * slot + (slot - bar_w) / 2,
            y=y(row["engagement"]),
            width=bar_w,
            height=base - y(row["engagement"]),
            value=row["engagement"],
            label=bucket_label(row["when"], bucket),
        )
        for i, row in enumerate(rows)
    ]
    step = max(1, -(-(len(rows) - 1) // (X_LABELS - 1))) if len(rows) > 1 else 1
    picked = sorted({*range(0, len(rows), step), len(rows) - 1}) if rows else []
    if len(picked) > 1 and picked[-1] - picked[-2] < step / 2:
        picked.pop(-2)  # the last label would crowd the one before it
    # The first label starts at its bar and the last ends at its bar: neither leaves the box.
    labels = [
        (
            bucket_label(rows[i]["when"], bucket).removeprefix("Week of "),
            LEFT + (i + 0.5) * slot,
            "start" if i == 0 and len(rows) > 1 else "end" if i == len(rows) - 1 > 0 else "middle",
        )
        for i in picked
    ]
    return TimelineChart(
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        right=WIDTH - RIGHT,
        base=base,
        ticks=[(v, y(v)) for v in (0, top // 2, top)] if top > 1 else [(0, y(0)), (1, y(1))],
        bars=bars,
        labels=labels,
        empty=not any(row["publications"] for row in rows),
    )
