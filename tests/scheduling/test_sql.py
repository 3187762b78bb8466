"""scheduling/sql.py reads each channel's first scheduled slots in plain SQL: the ids must
be the ORM's per-channel slices, on PostgreSQL (CI) and SQLite (DATABASE_URL=sqlite:///...)."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from scheduling import sql
from scheduling.models import Timeslot
from tests.factories import ChannelFactory, PostFactory

AT = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)


@pytest.mark.django_db
@pytest.mark.parametrize("seed", range(5))
def test_first_scheduled_ids_are_the_orms_slices(seed):
    rnd = random.Random(seed)
    channels = [ChannelFactory(with_sandbox=False) for _ in range(4)]
    posts = {c.id: PostFactory(workspace=c.workspace) for c in channels}
    for _ in range(40):
        channel = rnd.choice(channels)
        Timeslot.objects.create(
            channel=channel,
            post=posts[channel.id],
            # Ties on publish_at are common: the order is (publish_at, id).
            publish_at=AT + dt.timedelta(minutes=rnd.randrange(-30, 30, 10)),
            status=rnd.choice(["scheduled"] * 3 + ["published", "canceled"]),
        )
    limit = rnd.randrange(1, 6)
    asked = [c.id for c in channels[:3]]
    got = sql.first_scheduled_ids(asked, start=AT, limit=limit)
    want = []
    for channel_id in asked:
        want += (
            Timeslot.objects.filter(channel_id=channel_id, status="scheduled", publish_at__gte=AT)
            .order_by("publish_at", "id")
            .values_list("id", flat=True)[:limit]
        )
    assert sorted(got) == sorted(want)
    assert sql.first_scheduled_ids([], start=AT, limit=limit) == []
    assert sql.first_scheduled_ids(asked, start=AT, limit=0) == []
