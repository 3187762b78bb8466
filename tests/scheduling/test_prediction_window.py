"""The window-bounded predictor (scheduling/selectors.py, channels/queue_rule.Replay) shows
the same slots, posts and texts as the algorithm it replaced, which read every queue
entry and scanned the whole queue for every slot. That algorithm is kept below, in this
test only, and both run over random queues, rules and zones, DST weeks included.
"""

from __future__ import annotations

import copy
import datetime as dt
import random
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Sequence

import pytest
import recurrence
import time_machine
from django.conf import settings

from channels import queue_rule
from channels.models import Channel, QueueEntry
from posts.models import Post
from scheduling import calendar_reads, rules, selectors, services
from scheduling.calendar_reads import PREDICT_AHEAD
from scheduling.models import Schedule, Timeslot
from scheduling.selectors import (
    _PROJECTION_WINDOWS,
    MAX_SIMULATED_SLOTS,
    Problem,
    UpcomingSlot,
    _sort_key,
    _window_start,
)
from tests.factories import (
    ChannelFactory,
    PostFactory,
    QueueEntryFactory,
    ScheduleFactory,
    VariationFactory,
    WorkspaceFactory,
)

pytestmark = pytest.mark.django_db

# --- The replaced algorithm (scheduling/selectors.py before the window-bounded one) -------


def _scheduled_slots(channel_ids: Iterable[int], *, start: dt.datetime, end: dt.datetime | None):
    qs = (
        Timeslot.objects.filter(
            channel_id__in=list(channel_ids),
            status=Timeslot.Status.SCHEDULED,
            publish_at__gte=start,
        )
        .select_related("schedule", "post")
        .prefetch_related("post__variations")
        .order_by("publish_at", "id")
    )
    if end is not None:
        qs = qs.filter(publish_at__lt=end)
    # Scheduled rows exist only inside the planner's window (plus pinned posts), so this
    # stays small without a limit.
    return list(qs)


def _entries(channel_ids: Iterable[int]) -> dict[int, list[QueueEntry]]:
    by_channel: dict[int, list[QueueEntry]] = defaultdict(list)
    rows = (
        QueueEntry.objects.filter(channel_id__in=list(channel_ids))
        .select_related("post")
        .prefetch_related("post__variations")
    )
    for entry in rows:
        by_channel[entry.channel_id].append(entry)
    return by_channel


def _schedules(channel_ids: Iterable[int]) -> dict[int, list[Schedule]]:
    by_channel: dict[int, list[Schedule]] = defaultdict(list)
    # By id: the planner creates one schedule's slots after another in id order, so two
    # schedules firing at one instant get their slot ids (the publisher's tie-break) so.
    schedules = Schedule.objects.filter(channel_id__in=list(channel_ids), is_active=True)
    for schedule in schedules.order_by("id"):
        by_channel[schedule.channel_id].append(schedule)
    return by_channel


def _planned_keys(
    schedule_ids: Sequence[int], *, start: dt.datetime
) -> set[tuple[int, dt.datetime]]:
    """(schedule, occurrence) pairs that already have a row, whatever its status."""
    if not schedule_ids:
        return set()
    return set(
        Timeslot.objects.filter(schedule_id__in=schedule_ids, planned_for__gte=start).values_list(
            "schedule_id", "planned_for"
        )
    )


def _projections(
    channel: Channel,
    schedules: Sequence[Schedule],
    planned: set[tuple[int, dt.datetime]],
    *,
    start: dt.datetime,
    end: dt.datetime,
) -> list[UpcomingSlot]:
    if channel.is_paused or start >= end:
        return []
    out = []
    for schedule in schedules:
        for instant in rules.occurrences(
            schedule.recurrence,
            tz=channel.tz,
            starts_on=schedule.starts_on,
            start=start,
            end=end,
        ):
            if (schedule.id, instant) not in planned:
                out.append(UpcomingSlot(channel=channel, publish_at=instant, schedule=schedule))
    return out


def _simulate(
    channel: Channel, slots: list[UpcomingSlot], entries: Sequence[QueueEntry]
) -> list[UpcomingSlot]:
    """Fill in each slot's post, replaying the publisher over `slots` (sorted by time).

    The queue rule is the publisher's own (channels/queue_rule.py), applied to copies of the
    entries so nothing is written.
    """
    copies = [copy.copy(e) for e in entries]
    by_post = {e.post_id: e for e in copies}
    real = {e.post_id: e.times_published for e in entries}
    for n, slot in enumerate(slots):
        at = slot.publish_at
        if channel.is_paused:
            slot.flag(Problem.PAUSED)
            continue
        if n >= MAX_SIMULATED_SLOTS and not slot.pinned:
            slot.flag(Problem.NOT_PREDICTED)
            continue
        if slot.pinned:
            post = slot.post
            if post.status == Post.Status.ARCHIVED or (post.expires_at and post.expires_at <= at):
                slot.post = None
                slot.flag(Problem.PINNED_GONE)
                continue
            entry = by_post.get(post.id)
            times = entry.times_published if entry else 0
            slot.text = queue_rule.text_for(post, times_published=times)
            slot.times_published = times
            slot.published_before = real.get(post.id, 0)
            if entry is not None:
                # A pinned publication counts in the loop, as in the publisher.
                queue_rule.record_use(entry, mode=channel.mode, at=at)
            continue
        entry = queue_rule.next_entry(copies, at=at)
        if entry is None:
            slot.flag(Problem.QUEUE_EMPTY)
            continue
        post = entry.post
        slot.post, slot.times_published = post, entry.times_published
        slot.published_before = real.get(post.id, 0)
        slot.text = queue_rule.text_for(post, times_published=entry.times_published)
        queue_rule.record_use(entry, mode=channel.mode, at=at)
    return slots


def _from_rows(channel: Channel, rows: Iterable[Timeslot]) -> list[UpcomingSlot]:
    out = []
    for row in rows:
        row.channel = channel
        out.append(
            UpcomingSlot(
                channel=channel,
                publish_at=row.publish_at,
                timeslot=row,
                schedule=row.schedule,
                post=row.post,
                pinned=row.post_id is not None,
            )
        )
    return out


def _upcoming(
    channels: Sequence[Channel],
    *,
    now: dt.datetime,
    limit: int,
    until: dt.datetime | None = None,
    since: dt.datetime | None = None,
) -> dict[int, list[UpcomingSlot]]:
    """Per channel: its next `limit` slots (up to `until` if given), each with its post.

    Six queries whatever the number of channels, slots or posts: slots (+ their pinned
    posts' variations), entries (+ variations), schedules, planned occurrences.

    Projections start at `now`, not at the planner's watermark: an occurrence that has no
    row yet (whatever the reason) is one the planner will still create.

    With `since` (a calendar far ahead), only slots from `since` on are listed and queue
    slots are not predicted: the prediction would need every slot from now to there.
    """
    ids = [c.id for c in channels]
    if not ids:
        return {}
    predict = since is None
    start = _window_start(now) if predict else max(since, _window_start(now))
    project_from = now if predict else max(since, now)
    rows_by_channel: dict[int, list[Timeslot]] = defaultdict(list)
    for row in _scheduled_slots(ids, start=start, end=until):
        rows_by_channel[row.channel_id].append(row)
    entries = _entries(ids) if predict else {}
    schedules = _schedules(ids)
    planned = _planned_keys([s.id for ss in schedules.values() for s in ss], start=project_from)

    result = {}
    for channel in channels:
        rows = rows_by_channel.get(channel.id, [])
        windows = [until] if until else [now + w for w in _PROJECTION_WINDOWS]
        for end in windows:
            slots = _from_rows(channel, [r for r in rows if r.publish_at < end])
            slots += _projections(
                channel, schedules.get(channel.id, []), planned, start=project_from, end=end
            )
            if len(slots) >= limit:
                break
        slots.sort(key=_sort_key)
        slots = slots[:limit]
        if predict:
            # Simulate the whole prefix (a later window's cut never changes earlier picks).
            result[channel.id] = _simulate(channel, slots, entries.get(channel.id, []))
        else:
            for slot in slots:
                if not slot.pinned:
                    slot.flag(Problem.NOT_PREDICTED)
            result[channel.id] = slots
    return result


def old_upcoming_for_workspace(
    *, workspace, now: dt.datetime, limit: int = 10
) -> list[UpcomingSlot]:
    """The workspace's next `limit` slots over all its channels, each with its post."""
    channels = list(Channel.objects.filter(workspace=workspace))
    per_channel = _upcoming(channels, now=now, limit=limit)
    merged = [s for slots in per_channel.values() for s in slots]
    merged.sort(key=lambda s: (s.publish_at, s.channel.name))
    return [s for s in merged if s.publish_at >= now - settings.MISSED_AFTER][:limit]


def old_slots_between(
    *, workspace, start: dt.datetime, end: dt.datetime, now: dt.datetime
) -> list[UpcomingSlot]:
    """Every slot of the workspace in [start, end): past ones as they ended, coming ones
    with their predicted post (including rule occurrences not planned yet)."""
    channels = list(Channel.objects.filter(workspace=workspace))
    if not channels:
        return []
    by_id = {c.id: c for c in channels}
    out: list[UpcomingSlot] = []
    # Finished or running slots (and scheduled ones too old to still publish).
    past = (
        Timeslot.objects.filter(channel__in=channels, publish_at__gte=start, publish_at__lt=end)
        .exclude(status=Timeslot.Status.SCHEDULED, publish_at__gte=_window_start(now))
        .select_related("schedule", "post", "published_post")
        .order_by("publish_at", "id")
    )
    for row in past:
        channel = by_id[row.channel_id]
        row.channel = channel
        out.append(
            UpcomingSlot(
                channel=channel,
                publish_at=row.publish_at,
                timeslot=row,
                schedule=row.schedule,
                post=row.published_post or row.post,
                text=row.published_text,
                pinned=row.post_id is not None,
                problem=row.reason,
                problem_code=row.reason_code,
            )
        )
    if end > _window_start(now):
        # Predict posts up to PREDICT_AHEAD; a week further out lists its slots only.
        since = start if start - now > PREDICT_AHEAD else None
        coming = _upcoming(channels, now=now, limit=MAX_SIMULATED_SLOTS * 2, until=end, since=since)
        out += [s for slots in coming.values() for s in slots if s.publish_at >= start]
    out.sort(key=lambda s: (s.publish_at, s.channel.name))
    return out


def old_upcoming_by_channel(
    *, channels: Sequence[Channel], now: dt.datetime, limit: int = 1
) -> dict[int, list[UpcomingSlot]]:
    """Each channel's next `limit` slots with their posts (constant queries)."""
    return _upcoming(list(channels), now=now, limit=limit)


# --- Random workspaces ----------------------------------------------------------------------

ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",
    "America/Sao_Paulo",
    "Asia/Kolkata",
    "Europe/London",
]
# Weeks that hold a DST change in some of the zones (EU, US, Sydney), and one without.
NOWS = [
    dt.datetime(2026, 3, 26, 9, 17, tzinfo=dt.UTC),  # EU springs forward on the 29th
    dt.datetime(2026, 10, 22, 23, 40, tzinfo=dt.UTC),  # EU falls back on the 25th
    dt.datetime(2026, 3, 5, 4, 5, tzinfo=dt.UTC),  # US springs forward on the 8th
    dt.datetime(2026, 10, 29, 12, 0, tzinfo=dt.UTC),  # US falls back on 1 November
    dt.datetime(2026, 4, 2, 15, 30, tzinfo=dt.UTC),  # Sydney falls back on the 5th
    dt.datetime(2026, 6, 10, 7, 0, tzinfo=dt.UTC),
]


def _random_rule(rng: random.Random) -> str:
    hour = rng.choice([0, 1, 2, 3, 9, 14, 23])  # 02:xx is in a spring-forward gap
    minute = rng.choice([0, 15, 30, 45])
    return rng.choice(
        [
            f"RRULE:FREQ=DAILY;BYHOUR={hour};BYMINUTE={minute}",
            f"RRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR,SU;BYHOUR={hour},{(hour + 5) % 24};"
            f"BYMINUTE={minute}",
            f"RRULE:FREQ=HOURLY;INTERVAL={rng.choice([1, 3, 7])};BYMINUTE={minute}",
            f"RRULE:FREQ=MINUTELY;INTERVAL={rng.choice([30, 45, 90])}",
            f"RRULE:FREQ=MONTHLY;BYMONTHDAY=1,15,28;BYHOUR={hour};BYMINUTE={minute}",
            f"RRULE:FREQ=DAILY;BYHOUR={hour};BYMINUTE={minute}\nEXDATE:20260328T{hour:02d}"
            f"{minute:02d}00",
        ]
    )


def _workspace(rng: random.Random, now: dt.datetime):
    workspace = WorkspaceFactory()
    for c in range(3):
        channel = ChannelFactory(
            workspace=workspace,
            timezone=rng.choice(ZONES),
            mode=rng.choice([Channel.Mode.LOOP, Channel.Mode.LOOP, Channel.Mode.ONCE]),
            is_paused=rng.random() < 0.15,
        )
        posts = []
        for _n in range(rng.randint(0, 30)):
            post = PostFactory(
                workspace=workspace,
                status=rng.choice(["ready"] * 8 + ["draft", "archived"]),
                expires_at=now + dt.timedelta(hours=rng.randint(1, 200))
                if rng.random() < 0.15
                else None,
            )
            for v in range(rng.choice([0, 0, 1, 2])):
                VariationFactory(post=post, text=f"{post.text}, wording {v + 2}")
            published = rng.random() < 0.4
            QueueEntryFactory(
                channel=channel,
                post=post,
                position=rng.randint(0, 10),  # ties: the id decides
                times_published=rng.randint(1, 5) if published else 0,
                last_published_at=now - dt.timedelta(minutes=rng.randint(1, 20_000))
                if published
                else None,
                max_publications=rng.choice([None, None, None, 1, 3]),
                is_active=rng.random() < 0.9,
            )
            posts.append(post)
        for s in range(rng.randint(1, 3)):
            ScheduleFactory(
                channel=channel,
                name=f"s{c}{s}",
                recurrence=recurrence.deserialize(_random_rule(rng)),
                is_active=rng.random() < 0.9,
            )
        with time_machine.travel(now, tick=False):
            services.planner_run()
            for _ in range(rng.randint(0, 3)):
                # A pinned post: queued here or not, sometimes one that will have expired.
                pinned = rng.choice(posts) if posts and rng.random() < 0.6 else None
                pinned = pinned or PostFactory(workspace=workspace)
                Timeslot.objects.create(
                    channel=channel,
                    post=pinned,
                    publish_at=now + dt.timedelta(minutes=rng.randint(-20, 3 * 24 * 60)),
                )
            planned = list(Timeslot.objects.filter(channel=channel, schedule__isnull=False))
            for row in rng.sample(planned, k=min(len(planned), 2)):
                row.status = rng.choice([Timeslot.Status.CANCELED, Timeslot.Status.SKIPPED])
                row.save()
    return workspace


def _key(slot: UpcomingSlot) -> tuple:
    return (
        slot.channel.id,
        slot.publish_at,
        slot.timeslot.id if slot.timeslot else None,
        slot.schedule.id if slot.schedule else None,
        slot.post.id if slot.post else None,
        slot.text,
        slot.problem,
        slot.problem_code,
        slot.pinned,
        slot.times_published,
        slot.published_before,
    )


def _assert_capped_is_the_first_of_each_day(workspace, start, end, now, full, tz) -> None:
    """A month's cap (calendar_reads.DayCap) and a week's (HourCap) over the same period:
    each cell's first slots are the full listing's, predictions included, and the rest
    are counted."""
    for cap in (calendar_reads.DayCap(tz=tz, keep=3), calendar_reads.HourCap(tz=tz, keep=2)):
        capped = calendar_reads.slots_between(
            workspace=workspace, start=start, end=end, now=now, cap=cap
        )

        def by_cell(slots, cap=cap):
            cells = defaultdict(list)
            for slot in slots:
                cells[cap.cell(slot.publish_at)].append(_key(slot))
            return cells

        full_cells, capped_cells = by_cell(full), by_cell(capped)
        assert set(capped_cells) <= set(full_cells)
        for cell, keys in full_cells.items():
            mine = capped_cells.get(cell, [])
            assert mine[: cap.keep] == keys[: cap.keep], (cap, cell)
            assert len(mine) + cap.hidden.get(cell, 0) == len(keys), (cap, cell)


@pytest.mark.parametrize("seed", range(12))
def test_new_predictions_equal_the_replaced_algorithm(seed):
    rng = random.Random(seed)
    now = NOWS[seed % len(NOWS)]
    workspace = _workspace(rng, now)
    monday = (now - dt.timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0)
    periods = [
        (monday, monday + dt.timedelta(days=7)),  # this week: predicted
        (monday + dt.timedelta(days=7), monday + dt.timedelta(days=14)),
        (now - dt.timedelta(days=3), now + dt.timedelta(days=1)),  # a day around now
        (monday + dt.timedelta(weeks=5), monday + dt.timedelta(weeks=6)),  # too far: listed
    ]
    compared = 0
    with time_machine.travel(now, tick=False):
        for start, end in periods:
            old = old_slots_between(workspace=workspace, start=start, end=end, now=now)
            new = calendar_reads.slots_between(workspace=workspace, start=start, end=end, now=now)
            assert [_key(s) for s in new] == [_key(s) for s in old], (start, end)
            compared += len(new)
            _assert_capped_is_the_first_of_each_day(
                workspace, start, end, now, new, zoneinfo.ZoneInfo(rng.choice(ZONES))
            )
        for limit in (1, 8, 30):
            old = old_upcoming_for_workspace(workspace=workspace, now=now, limit=limit)
            new = selectors.upcoming_for_workspace(workspace=workspace, now=now, limit=limit)
            assert [_key(s) for s in new] == [_key(s) for s in old], limit
            channels = list(Channel.objects.filter(workspace=workspace))
            old = old_upcoming_by_channel(channels=channels, now=now, limit=limit)
            new = selectors.upcoming_by_channel(channels=channels, now=now, limit=limit)
            for channel in channels:
                assert [_key(s) for s in new[channel.id]] == [_key(s) for s in old[channel.id]]
    assert compared > 0  # the comparison saw slots


def test_a_queue_whose_head_expires_is_read_on_as_the_replay_needs():
    """Entries that expire while the window passes leave the head short: the Replay reads
    further in order (READ_MORE at a time) and still picks what the full scan picks."""
    now = NOWS[-1]
    workspace = WorkspaceFactory()
    channel = ChannelFactory(workspace=workspace)
    for n in range(60):
        QueueEntryFactory(
            channel=channel,
            post=PostFactory(
                workspace=workspace,
                expires_at=now + dt.timedelta(minutes=30) if n < 40 else None,
            ),
            position=n,
        )
    ScheduleFactory(channel=channel, recurrence=recurrence.deserialize("RRULE:FREQ=HOURLY"))
    with time_machine.travel(now, tick=False):
        old = old_upcoming_by_channel(channels=[channel], now=now, limit=10)[channel.id]
        new = selectors.upcoming_for_channel(channel=channel, now=now, limit=10)
    assert [_key(s) for s in new] == [_key(s) for s in old]
    assert all(s.post is not None and s.post.expires_at is None for s in new[1:])


@pytest.mark.parametrize("seed", range(8))
def test_predicting_only_the_shown_slots_gives_the_full_predictions(seed):
    """The calendar asks for a period without texts and predicts only the slots its cells
    show (each channel replayed up to its last shown slot): those slots get the post,
    text and counts of the full prediction, finished ones their post too."""
    rng = random.Random(1000 + seed)
    now = NOWS[seed % len(NOWS)]
    workspace = _workspace(rng, now)
    monday = (now - dt.timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0)
    compared = 0
    with time_machine.travel(now, tick=False):
        for start, end in [
            (monday, monday + dt.timedelta(days=7)),
            (now - dt.timedelta(days=3), now + dt.timedelta(days=10)),
        ]:
            full = calendar_reads.slots_between(workspace=workspace, start=start, end=end, now=now)
            lazy = calendar_reads.slots_between(
                workspace=workspace, start=start, end=end, now=now, texts=False
            )
            assert len(lazy) == len(full)
            shown = sorted(rng.sample(range(len(lazy)), k=min(len(lazy), rng.randint(1, 12))))
            selectors.fill_texts([lazy[i] for i in shown])
            assert [_key(lazy[i]) for i in shown] == [_key(full[i]) for i in shown]
            compared += len(shown)
    assert compared > 0


@pytest.mark.parametrize("seed", range(4))
def test_cached_expansion_equals_the_rule_expanded_for_the_window(seed):
    """Each schedule's instants come from its expansion over whole UTC days, kept in the
    process by rule text, zone, first day, days and tzdata: any window inside those days
    gets exactly what expanding the rule for that window gives, DST weeks included."""
    rng = random.Random(500 + seed)
    for _ in range(25):
        schedule = Schedule(
            recurrence=recurrence.deserialize(_random_rule(rng)),
            starts_on=dt.date(2026, rng.randint(1, 3), rng.randint(1, 28)),
        )
        zone = rng.choice(ZONES)
        start = NOWS[rng.randrange(len(NOWS))] + dt.timedelta(minutes=rng.randint(-3000, 3000))
        end = start + dt.timedelta(minutes=rng.randint(1, 30 * 24 * 60))
        direct = rules.occurrences(
            schedule.recurrence,
            tz=zoneinfo.ZoneInfo(zone),
            starts_on=schedule.starts_on,
            start=start,
            end=end,
        )
        assert selectors._instants(schedule, zone, start=start, end=end) == direct
        # The same again, from the cache, and a window inside it.
        assert selectors._instants(schedule, zone, start=start, end=end) == direct
        inner = start + (end - start) / 3
        assert selectors._instants(schedule, zone, start=inner, end=end) == [
            t for t in direct if t >= inner
        ]
