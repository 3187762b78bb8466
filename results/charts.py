"""A small line chart drawn on the server as SVG geometry (no JavaScript, no CDN): a post's
counts summed over its deliveries at each age (+1 h, +24 h, +7 days).

Only numbers are computed here; templates/results/post_results.html draws them, with the
same numbers in a data table beside the chart (the accessible reading of it).
"""

from __future__ import annotations

from dataclasses import dataclass

from results.models import AGES, Age

WIDTH, HEIGHT = 320, 180
LEFT, RIGHT, TOP, BOTTOM = 40, 12, 12, 28
# Each series its colour and dash pattern (told apart without colour too).
SERIES = (
    ("likes", "Likes", "#2563eb", ""),
    ("reposts", "Reposts", "#059669", "6 3"),
    ("replies", "Replies", "#d97706", "2 3"),
    ("quotes", "Quotes", "#7c3aed", "8 3 2 3"),
)


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    value: int


@dataclass(frozen=True)
class Line:
    name: str
    label: str
    colour: str
    dash: str
    points: list[Point]

    @property
    def polyline(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    ages: list[tuple[Age, float]]  # each age and its x
    ticks: list[tuple[int, float]]  # y-axis values and their y
    lines: list[Line]
    rows: list[dict]  # the data table: {"age", "likes", "reposts", ...}
    empty: bool


def nice_top(value: int) -> int:
    """The axis' top: the smallest 1, 2 or 5 times a power of ten at or above value."""
    scale = 1
    while True:
        for step in (1, 2, 5):
            if step * scale >= value:
                return step * scale
        scale *= 10


def post_chart(deliveries) -> Chart:
    """Sums per age of the deliveries' snapshots (fetched with selectors'
    deliveries_with_results: no query here). A deleted post adds nothing."""
    sums = {age: dict.fromkeys((s[0] for s in SERIES), 0) for age in AGES}
    seen = set()
    for delivery in deliveries:
        for snapshot in delivery.snapshots.all():
            if snapshot.deleted:
                continue
            seen.add(snapshot.age)
            for name, *_ in SERIES:
                sums[Age(snapshot.age)][name] += getattr(snapshot, name) or 0
    ages = [age for age in AGES if age in seen]
    top = nice_top(max([v for age in ages for v in sums[age].values()] or [1]))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(AGES) - 1, 1)
    xs = {age: LEFT + i * step for i, age in enumerate(AGES)}

    def y(value: int) -> float:
        return TOP + plot_h * (1 - value / top)

    lines = [
        Line(
            name=name,
            label=label,
            colour=colour,
            dash=dash,
            points=[Point(xs[age], y(sums[age][name]), sums[age][name]) for age in ages],
        )
        for name, label, colour, dash in SERIES
    ]
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        ages=[(age, xs[age]) for age in AGES],
        ticks=[(v, y(v)) for v in (0, top // 2, top)] if top > 1 else [(0, y(0)), (1, y(1))],
        lines=lines,
        rows=[{"age": age, **sums[age]} for age in ages],
        empty=not ages,
    )
