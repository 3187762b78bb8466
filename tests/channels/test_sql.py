"""channels/sql.py reads the queue in plain SQL: over random queues it must give what the
queue rule gives in Python (`usable`, `order_key`) and what the ORM gives (`usable_q`,
`ORDER_BY`), on the database the tests run on (PostgreSQL in CI; run with DATABASE_URL=
for SQLite). The queue order has one home, `queue_rule.ORDER`: the SQL and the ORM's
ORDER BY are built from it, and these tests hold them to `order_key`."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from channels import queue_rule, sql
from channels.models import Channel, QueueEntry
from ground.db import fetch
from posts.models import Post
from tests.factories import ChannelFactory, PostFactory

AT = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)


def _random_queues(seed: int, *, channels: int = 4, entries: int = 14) -> list[int]:
    rnd = random.Random(seed)
    ids = []
    # A few shared instants, so that ties on last_published_at (and on position) are common.
    instants = [AT - dt.timedelta(hours=h) for h in (1, 2, 2, 5, 30)]
    for _ in range(channels):
        channel = ChannelFactory(with_sandbox=False)
        ids.append(channel.id)
        for _ in range(rnd.randrange(0, entries)):
            post = PostFactory(
                workspace=channel.workspace,
                status=rnd.choice([Post.Status.READY] * 4 + [Post.Status.DRAFT]),
                expires_at=rnd.choice([None, None, None, AT, AT + dt.timedelta(minutes=1)]),
            )
            cap = rnd.choice([None, None, 1, 3])
            QueueEntry.objects.create(
                channel=channel,
                post=post,
                position=rnd.randrange(0, 4),
                times_published=rnd.randrange(0, 4),
                max_publications=cap,
                last_published_at=rnd.choice([None, None, *instants]),
                is_active=rnd.random() < 0.85,
            )
    return ids


def _rule_heads(channel_ids, counts) -> dict[int, list[int]]:
    """What the queue rule says, in Python, over every entry."""
    out = {}
    for channel_id in channel_ids:
        entries = QueueEntry.objects.filter(channel_id=channel_id).select_related("post")
        usable = sorted(
            (e for e in entries if queue_rule.usable(e, at=AT)), key=queue_rule.order_key
        )
        out[channel_id] = [e.id for e in usable[: counts.get(channel_id, 0)]]
    return out


@pytest.mark.django_db
@pytest.mark.parametrize("seed", range(6))
def test_the_sql_order_and_the_orm_order_are_order_keys(seed):
    _random_queues(seed)
    everything = list(QueueEntry.objects.all())
    want = [e.id for e in sorted(everything, key=queue_rule.order_key)]
    table = QueueEntry._meta.db_table
    in_sql = fetch(f"SELECT id FROM {table} AS e ORDER BY {sql.order_sql(queue_rule.ORDER, 'e')}")  # noqa: S608
    assert [r[0] for r in in_sql] == want
    assert (
        list(QueueEntry.objects.order_by(*queue_rule.ORDER_BY).values_list("id", flat=True)) == want
    )


@pytest.mark.django_db
@pytest.mark.parametrize("seed", range(8))
def test_queue_heads_are_the_rules_first_usable_entries(seed):
    channel_ids = _random_queues(seed)
    rnd = random.Random(seed)
    counts = {k: rnd.randrange(0, 6) for k in channel_ids}
    got = sql.queue_heads(counts, at=AT, order=queue_rule.ORDER)
    by_channel: dict[int, list] = {k: [] for k in channel_ids}
    for entry in got:
        by_channel[entry.channel_id].append(entry)
    want = _rule_heads(channel_ids, counts)
    for channel_id in channel_ids:
        mine = sorted(by_channel[channel_id], key=queue_rule.order_key)
        assert [e.id for e in mine] == want[channel_id]
    # The same rows the ORM reads (usable_q), with the same values (aware datetimes, bools).
    orm = {
        e.id: e
        for e in QueueEntry.objects.filter(queue_rule.usable_q(at=AT), id__in=[e.id for e in got])
    }
    assert set(orm) == {e.id for e in got}
    for entry in got:
        row = orm[entry.id]
        for column in sql._COLUMNS:
            assert getattr(entry, column) == getattr(row, column), column
        assert type(entry.is_active) is bool
        assert entry.last_published_at is None or entry.last_published_at.tzinfo is not None


@pytest.mark.django_db
def test_queue_heads_with_nothing_to_read():
    channel_ids = _random_queues(1, channels=2)
    assert sql.queue_heads({}, at=AT, order=queue_rule.ORDER) == []
    assert sql.queue_heads(dict.fromkeys(channel_ids, 0), at=AT, order=queue_rule.ORDER) == []


@pytest.mark.django_db
@pytest.mark.parametrize("seed", range(4))
def test_the_predictors_heads_start_where_the_rule_does(seed):
    channel_ids = _random_queues(seed, channels=3, entries=20)
    channels = list(Channel.objects.filter(id__in=channel_ids))
    replays = queue_rule.heads(channels, dict.fromkeys(channel_ids, 2), usable_at=AT)
    want = _rule_heads(channel_ids, dict.fromkeys(channel_ids, 1))
    for channel_id, replay in replays.items():
        first = replay.next(at=AT)
        assert ([first.id] if first else []) == want[channel_id]
        assert first is None or type(first) is QueueEntry


@pytest.mark.django_db
def test_entries_of_posts_are_the_orms():
    channel_ids = _random_queues(5)
    pairs = list(QueueEntry.objects.values_list("channel_id", "post_id"))
    some = pairs[::2]
    channels = sorted({c for c, _ in some})
    posts = sorted({p for _, p in some})
    got = sql.entries_of_posts(channels, posts)
    want = QueueEntry.objects.filter(channel_id__in=channels, post_id__in=posts)
    assert sorted(e.id for e in got) == sorted(e.id for e in want)
    assert sql.entries_of_posts(channel_ids, []) == []
