"""Sent deliveries with counts for the results pages' tests: any number in a few bulk queries."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass

from accounts.models import SocialAccount
from channels.models import Channel
from links.models import AgentFamily, ClickDay, ShortLink
from posts.models import Post
from publishing.models import Delivery
from results.models import Age, Snapshot
from scheduling.models import Timeslot

_codes = itertools.count(1)


@dataclass
class Sent:
    """What to send: `n` deliveries of `post` (texts taken in turn) on `channel` via
    `account`, at `sent_at` plus one minute each, each read at +1 h and +24 h: the +24 h
    counts are `likes`, 1 repost, 1 reply, 0 quotes (the +1 h ones are half: only the
    latest counts)."""

    channel: Channel
    account: SocialAccount
    post: Post
    sent_at: dt.datetime
    n: int = 1
    likes: int = 4
    texts: tuple[str, ...] = ()
    clicks: int = 0


def send(spec: Sent) -> list[Delivery]:
    texts = spec.texts or (spec.post.text,)
    slots = Timeslot.objects.bulk_create(
        [
            Timeslot(
                channel=spec.channel,
                post=spec.post,
                publish_at=spec.sent_at + dt.timedelta(minutes=i),
                status=Timeslot.Status.PUBLISHED,
            )
            for i in range(spec.n)
        ]
    )
    deliveries = Delivery.objects.bulk_create(
        [
            Delivery(
                timeslot=slot,
                account=spec.account,
                post=spec.post,
                text=texts[i % len(texts)],
                status=Delivery.Status.SENT,
                attempts=1,
                sent_at=spec.sent_at + dt.timedelta(minutes=i),
            )
            for i, slot in enumerate(slots)
        ]
    )
    snapshots = []
    for d in deliveries:
        snapshots += [
            Snapshot(
                delivery=d, taken_at=d.sent_at + Age.HOUR.delay, age=Age.HOUR, likes=spec.likes // 2
            ),
            Snapshot(
                delivery=d,
                taken_at=d.sent_at + Age.DAY.delay,
                age=Age.DAY,
                likes=spec.likes,
                reposts=1,
                replies=1,
                quotes=0,
            ),
        ]
    Snapshot.objects.bulk_create(snapshots)
    if spec.clicks:
        links = ShortLink.objects.bulk_create(
            [
                ShortLink(
                    code=f"r{next(_codes)}",
                    target="https://example.com/",
                    post=spec.post,
                    delivery=d,
                )
                for d in deliveries
            ]
        )
        ClickDay.objects.bulk_create(
            [
                ClickDay(
                    link=link, day=spec.sent_at.date(), agent=AgentFamily.OTHER, count=spec.clicks
                )
                for link in links
            ]
        )
    return deliveries
