"""The month view counts each day's finished slots in SQL and builds only the few a cell
shows: its totals ("N slots", "+N more") and the slots it shows must equal those of the full
listing (calendar_reads.slots_between) grouped by local day, for random data, zones and filters."""

from __future__ import annotations

import datetime as dt
import random
import re
import zoneinfo
from collections import defaultdict

import pytest
import time_machine
from django.urls import reverse

from scheduling import calendar_grid as grid
from scheduling import calendar_reads, selectors, services
from scheduling.models import Timeslot
from tests.factories import (
    ChannelFactory,
    PostFactory,
    QueueEntryFactory,
    ScheduleFactory,
    TimeslotFactory,
    rule,
)

pytestmark = pytest.mark.django_db

UTC = dt.UTC
NOW = dt.datetime(2026, 12, 17, 8, 0, tzinfo=UTC)
FINISHED = [s for s in Timeslot.Status.values if s != Timeslot.Status.SCHEDULED]
ZONES = ["UTC", "America/New_York", "Asia/Kolkata", "Pacific/Auckland"]
CELL = re.compile(
    r'<td class="cal-cell[^"]*" data-day="(?P<day>[\d-]+)">.*?'
    r'<span class="visually-hidden">[^<]*?: (?P<total>\d+) slots?</span>(?P<rest>.*?)</td>',
    re.S,
)


def random_world(workspace, rnd: random.Random) -> list:
    channels = []
    for n in range(4):
        channel = ChannelFactory(
            workspace=workspace, name=f"#c{rnd.randrange(100)}-{n}", timezone=rnd.choice(ZONES)
        )
        channels.append(channel)
        hour = rnd.randrange(24)
        schedule = ScheduleFactory(
            channel=channel,
            recurrence=rule(f"RRULE:FREQ=DAILY;BYHOUR={hour},{(hour + 7) % 24};BYMINUTE=0"),
        )
        post = PostFactory(workspace=workspace, text=f"Pinned post of {channel.name}")
        instants = [
            dt.datetime(2026, 12, 1, tzinfo=UTC) + dt.timedelta(minutes=15 * rnd.randrange(2200))
            for _ in range(rnd.randrange(20, 60))
        ]
        # Some at one shared instant: the cell's order breaks ties by channel name.
        instants += [dt.datetime(2026, 12, 3, 12, 0, tzinfo=UTC)] * 3
        for at in instants:
            TimeslotFactory(
                channel=channel,
                schedule=None,
                post=post,
                publish_at=at,
                status=rnd.choice(FINISHED),
            )
        # Coming slots beside the rule's: a queue, planned rows (some pinned, some at one
        # shared instant, one overdue but still publishing) before and among projections.
        for n in range(rnd.randrange(1, 6)):
            QueueEntryFactory(
                channel=channel, post=PostFactory(workspace=workspace, text=f"Queued {n}")
            )
        coming = [NOW + dt.timedelta(minutes=15 * rnd.randrange(1, 1400)) for _ in range(8)]
        coming += [dt.datetime(2026, 12, 20, 12, 0, tzinfo=UTC), NOW - dt.timedelta(minutes=1)]
        for at in sorted(set(coming)):
            pinned = rnd.random() < 0.3
            TimeslotFactory(
                channel=channel, publish_at=at, post=post if pinned else None,
                # A queue slot moved by hand (its schedule's, detached), or a pinned one.
                schedule=None if pinned else schedule, detached=not pinned, planned_for=None,
            )  # fmt: skip
    return channels


def plan(rnd: random.Random) -> None:
    """The planner's rows for the first days: those occurrences are rows, not projections."""
    services.planner_run(now=NOW, until=NOW + dt.timedelta(days=rnd.randrange(4)))


def cells(html: str) -> dict[str, tuple[int, list[str], int]]:
    """day -> (its total, the keys of the slots it shows, its "+N more" or 0)."""
    out = {}
    for m in CELL.finditer(html):
        more = re.search(r'class="cal-more"[^>]*>\+(\d+)<', m["rest"])
        keys = re.findall(r'data-key="([^"]+)"', m["rest"])
        out[m["day"]] = (int(m["total"]), keys, int(more[1]) if more else 0)
    return out


@pytest.mark.parametrize("seed", range(6))
def test_month_cells_count_and_show_what_the_full_listing_has(web, member, seed):
    rnd = random.Random(seed)
    channels = random_world(member.workspace, rnd)
    tz_name = rnd.choice(ZONES)
    tz = zoneinfo.ZoneInfo(tz_name)
    status = rnd.choice(["", "&status=failed&status=projected", "&status=scheduled"])
    url = f"{reverse('calendar')}?view=month&start=2026-12-01&tz={tz_name}{status}"
    with time_machine.travel(NOW, tick=False):
        plan(rnd)
        html = web.get(url).content.decode()
        start, end = grid.period("month", dt.date(2026, 12, 1)).bounds(tz)
        full = calendar_reads.slots_between(
            workspace=member.workspace,
            start=start,
            end=end,
            now=NOW,
            texts=False,
            statuses=[v for v in ("failed", "projected", "scheduled") if f"={v}" in status],
        )
    by_day = defaultdict(list)
    for slot in full:
        by_day[slot.publish_at.astimezone(tz).date().isoformat()].append(grid.slot_key(slot))
    shown = cells(html)
    assert len(shown) == 31 and sum(len(keys) for keys in by_day.values()) > 31
    for day, (total, keys, more) in shown.items():
        expected = by_day.get(day, [])
        assert total == len(expected), day
        assert keys == expected[: grid.MONTH_CELL_MAX], day
        assert more == max(0, len(expected) - grid.MONTH_CELL_MAX), day
    assert f"{len(full)} slot" in html and len(channels) == 4


@pytest.mark.parametrize("seed", range(4))
def test_month_cells_predict_what_the_full_listing_predicts(member, seed):
    """The capped month builds only the coming slots a cell may show and, in their channels,
    the ones before them: each shown slot's post, text and problem are the full listing's."""
    rnd = random.Random(100 + seed)
    random_world(member.workspace, rnd)
    tz = zoneinfo.ZoneInfo(rnd.choice(ZONES))
    shown_period = grid.period("month", dt.date(2026, 12, 1))
    start, end = shown_period.bounds(tz)
    with time_machine.travel(NOW, tick=False):
        plan(rnd)
        full = calendar_reads.slots_between(
            workspace=member.workspace, start=start, end=end, now=NOW
        )
        cap = calendar_reads.DayCap(tz=tz, keep=grid.MONTH_CELL_MAX)
        capped = calendar_reads.slots_between(
            workspace=member.workspace, start=start, end=end, now=NOW, texts=False, cap=cap
        )
        weeks = grid.month_weeks(
            capped, first=start.astimezone(tz).date(), days=shown_period.days,
            today=NOW.astimezone(tz).date(), tz=tz, hidden=cap.hidden,
        )  # fmt: skip
        shown = [s for week in weeks for cell in week if cell for s in cell.slots]
        selectors.fill_texts(shown)

    def what(slot) -> tuple:
        return slot.post.id if slot.post else None, slot.text, slot.problem

    expected = {grid.slot_key(s): what(s) for s in full}
    # The coming ones (finished slots show their post as fill_texts reads it, not the
    # full listing's published text: the page's own way, unchanged here).
    coming = [s for s in shown if s.timeslot is None or s.timeslot.status == "scheduled"]
    assert len(coming) > 10 and any(s.text for s in coming)
    assert sum(cell.total for week in weeks for cell in week if cell) == len(full)
    for slot in coming:
        assert what(slot) == expected[grid.slot_key(slot)], grid.slot_key(slot)


WEEK_CELL = re.compile(
    r'<td class="cal-cell[^"]*" data-day="(?P<day>[\d-]+)" data-hour="(?P<hour>\d+)">'
    r"(?P<rest>.*?)</td>",
    re.S,
)


@pytest.mark.parametrize("seed", range(4))
def test_week_cells_show_and_count_what_the_full_listing_has(web, member, seed):
    """The week builds only each hour's first coming slots (calendar_reads.HourCap): its
    cells' slots and "+N more" are the full listing's, grouped by local day and hour."""
    rnd = random.Random(200 + seed)
    random_world(member.workspace, rnd)
    tz_name = rnd.choice(ZONES)
    tz = zoneinfo.ZoneInfo(tz_name)
    url = f"{reverse('calendar')}?view=week&start=2026-12-17&tz={tz_name}"
    with time_machine.travel(NOW, tick=False):
        plan(rnd)
        html = web.get(url).content.decode()
        start, end = grid.period("week", dt.date(2026, 12, 17)).bounds(tz)
        full = calendar_reads.slots_between(
            workspace=member.workspace, start=start, end=end, now=NOW, texts=False
        )
    by_cell = defaultdict(list)
    for slot in full:
        local = slot.publish_at.astimezone(tz)
        by_cell[(local.date().isoformat(), str(local.hour))].append(grid.slot_key(slot))
    seen = 0
    for m in WEEK_CELL.finditer(html):
        more = re.search(r'class="cal-more"[^>]*>\+(\d+)<', m["rest"])
        keys = re.findall(r'data-key="([^"]+)"', m["rest"])
        expected = by_cell.get((m["day"], m["hour"]), [])
        assert keys == expected[: grid.WEEK_CELL_MAX], (m["day"], m["hour"])
        assert (int(more[1]) if more else 0) == max(0, len(expected) - grid.WEEK_CELL_MAX)
        seen += len(expected)
    assert seen == len(full) > 20 and f"{len(full)} slot" in html
