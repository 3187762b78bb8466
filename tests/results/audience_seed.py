"""Seeded results history for the audience tests: sent deliveries at chosen local times of a
channel's zone, each with snapshots (a few bulk queries, any size)."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from publishing.models import Delivery
from results.models import Age, Snapshot
from scheduling.models import Timeslot

# A Thursday: the history is the weeks before it.
NOW = dt.datetime(2026, 11, 19, 12, 0, tzinfo=dt.UTC)


def publish(
    channel, account, post, at: dt.datetime, engagement: int | None, *, decoy: bool = True
) -> Delivery:
    """One sent delivery at `at` (aware); engagement None = not measured yet. Its +1 h
    snapshot is a decoy: only the latest counts."""
    return publish_many(channel, account, [(post, at, engagement)], decoy=decoy)[0]


def publish_many(channel, account, rows, *, decoy: bool = True) -> list[Delivery]:
    """rows: (post, aware instant, engagement or None)."""
    slots = Timeslot.objects.bulk_create(
        [
            Timeslot(
                channel=channel,
                post=post,
                publish_at=at,
                published_at=at,
                published_post=post,
                status=Timeslot.Status.PUBLISHED,
            )
            for post, at, _ in rows
        ]
    )
    deliveries = Delivery.objects.bulk_create(
        [
            Delivery(
                timeslot=slot,
                account=account,
                post=post,
                text=post.text,
                status=Delivery.Status.SENT,
                sent_at=at,
                attempts=1,
            )
            for slot, (post, at, _) in zip(slots, rows, strict=True)
        ]
    )
    snapshots = []
    for delivery, (_, at, engagement) in zip(deliveries, rows, strict=True):
        if engagement is None:
            continue
        if decoy:
            snapshots.append(
                Snapshot(
                    delivery=delivery,
                    taken_at=at + dt.timedelta(hours=1),
                    age=Age.HOUR,
                    likes=999,
                )
            )
        # Spread over the four counts: the engagement is their sum.
        likes = engagement // 2
        reposts = engagement // 4
        replies = engagement // 8
        quotes = engagement - likes - reposts - replies
        snapshots.append(
            Snapshot(
                delivery=delivery,
                taken_at=at + dt.timedelta(days=1),
                age=Age.DAY,
                likes=likes,
                reposts=reposts,
                replies=replies,
                quotes=quotes,
            )
        )
    Snapshot.objects.bulk_create(snapshots)
    return deliveries


def local(zone: str, weeks_ago: int, weekday: int, hour: int, minute: int = 15) -> dt.datetime:
    """The instant of `weekday` (0 = Monday) at hour:minute in `zone`, `weeks_ago` weeks
    before NOW's week."""
    tz = zoneinfo.ZoneInfo(zone)
    monday = (NOW.astimezone(tz) - dt.timedelta(days=NOW.astimezone(tz).weekday())).date()
    day = monday - dt.timedelta(weeks=weeks_ago) + dt.timedelta(days=weekday)
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=tz).astimezone(dt.UTC)


BEST = [(1, 9), (1, 14), (3, 9), (3, 14)]  # Tue and Thu, 09:00 and 14:00
OTHERS = [(0, 10), (2, 9), (4, 14), (5, 18), (6, 11), (0, 14), (2, 16), (4, 9)]


def audience_history(channel, account, post, *, weeks: int, unmeasured: int = 0) -> None:
    """`weeks` weeks of posts in every BEST and OTHERS cell (local time of the channel's
    zone): the BEST earn 40-60, the others 8-12; plus `unmeasured` without snapshots."""
    zone = channel.timezone
    rows = []
    for week in range(1, weeks + 1):
        for n, (day, hour) in enumerate(BEST):
            rows.append((post, local(zone, week, day, hour), 40 + (week + n) % 3 * 10))
        for n, (day, hour) in enumerate(OTHERS):
            rows.append((post, local(zone, week, day, hour), 8 + (week + n) % 3 * 2))
    for n in range(unmeasured):
        rows.append((post, local(zone, 1, 6, 20, minute=n % 60), None))
    publish_many(channel, account, rows)
