"""The queue's hot reads as plain SQL: the first usable entries of many channels' queues in
the queue rule's order, in one statement, for the publish claim (publishing/claim.py) and
the UI's predictor (channels/queue_rule.py `heads`).

Plain SQL through the documented cursor, mapped to a small dataclass: the ORM cannot say
"the first n of each channel" as limited index scans, and building model instances was a
tenth of the publish step's CPU (bench/README.md). The order comes from the queue rule
(`queue_rule.ORDER`, passed in: the rule imports this module); `usable` is the rule's
`usable` / `usable_q` spelt in SQL, and tests/channels/test_sql.py compares the rows with the
ORM's over random queues on the database the tests run on (PostgreSQL; SQLite as well).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection

from channels.models import QueueEntry
from ground.db import Ids, any_of, aware, db_datetime, fetch, table

# Post.Status.READY, spelt out as queue_rule does (no import from `posts` at run time).
_READY = "ready"
# Post.ReviewState.APPROVED: a post that needs approval is usable only once approved.
_APPROVED = "approved"


@dataclass(slots=True, eq=False)
class Entry:
    """A queue entry as the claim reads it; `post` is set by the caller."""

    id: int
    channel_id: int
    post_id: int
    position: int
    times_published: int
    last_published_at: dt.datetime | None
    max_publications: int | None
    is_active: bool
    post: Any = None


_COLUMNS = (
    "id",
    "channel_id",
    "post_id",
    "position",
    "times_published",
    "last_published_at",
    "max_publications",
    "is_active",
)


def _entry(row: Sequence) -> Entry:
    return Entry(row[0], row[1], row[2], row[3], row[4], aware(row[5]), row[6], bool(row[7]))


def _select(alias: str) -> str:
    return ", ".join(f"{alias}.{c}" for c in _COLUMNS)


def _usable(*, at: dt.datetime) -> tuple[str, list]:
    """queue_rule.usable as SQL on `e` (the entry) and `p` (its post)."""
    sql = (
        "e.is_active AND p.status = %s AND (p.expires_at IS NULL OR p.expires_at > %s) "
        "AND (e.max_publications IS NULL OR e.times_published < e.max_publications) "
        "AND (NOT p.needs_approval OR p.review_state = %s)"
    )
    return sql, [_READY, db_datetime(at), _APPROVED]


def order_sql(order: Sequence[tuple[str, bool]], alias: str) -> str:
    """ORDER BY text for `queue_rule.ORDER` (constants of our code, never input)."""
    return ", ".join(
        f"{alias}.{column} ASC" + (" NULLS FIRST" if nulls else "") for column, nulls in order
    )


_TABLES = (
    f"{table(QueueEntry)} AS e "
    f"JOIN {table(QueueEntry._meta.get_field('post').related_model)} AS p ON p.id = e.post_id"
)


def queue_heads(
    counts: Mapping[int, int], *, at: dt.datetime, order: Sequence[tuple[str, bool]]
) -> list[Entry]:
    """For each channel id k of `counts`, the first counts[k] entries of its queue usable
    at `at`, in `order` (queue_rule.ORDER); in no particular order across channels."""
    counts = {k: n for k, n in counts.items() if n > 0}
    if not counts:
        return []
    usable, usable_params = _usable(at=at)
    if connection.vendor == "postgresql":
        return [_entry(r) for r in _heads_lateral(counts, usable, usable_params, order)]
    # SQLite: a row number per channel in the rule's order; each channel's first n kept.
    sql = (
        f"SELECT {', '.join(_COLUMNS)} FROM ("  # noqa: S608 (constants and %s only)
        f"SELECT {_select('e')}, ROW_NUMBER() OVER ("
        f"PARTITION BY e.channel_id ORDER BY {order_sql(order, 'e')}) AS rank "
        f"FROM {_TABLES} WHERE {any_of('e.channel_id')} AND {usable}"
        ") AS r WHERE rank <= %s"
    )
    rows = fetch(sql, [Ids.of(counts), *usable_params, max(counts.values())])
    kept: dict[int, int] = defaultdict(int)
    out = []
    for row in rows:
        entry = _entry(row)
        if kept[entry.channel_id] < counts.get(entry.channel_id, 0):
            kept[entry.channel_id] += 1
            out.append(entry)
    return out


def _heads_lateral(counts, usable: str, usable_params: list, order) -> list[tuple]:
    # Per channel, two index range scans of `queueentry_next_idx` (never published, by
    # position; then the rest by last publication), each limited to n, merged and cut to
    # n: the head's cost, not the queue's. Ordered by the index's columns, the NULL one
    # included: PostgreSQL does not take `IS NULL` as an equality for ordering.
    index_order = ", ".join(f"e.{column}" for column, _ in order)
    part = (
        f"(SELECT {_select('e')} FROM {_TABLES} "  # noqa: S608 (constants and %s only)
        "WHERE e.channel_id = k.key AND e.last_published_at IS {} NULL AND " + usable + " "
        f"ORDER BY {index_order} LIMIT k.n)"
    )
    sql = (
        f"SELECT {_select('x')} FROM unnest(%s, %s) AS k(key, n) "  # noqa: S608
        f"CROSS JOIN LATERAL (SELECT u.* FROM ({part.format('')} UNION ALL "
        f"{part.format('NOT')}) AS u ORDER BY {order_sql(order, 'u')} LIMIT k.n) AS x"
    )
    keys = list(counts)
    params = [Ids(keys), Ids(counts[k] for k in keys), *usable_params, *usable_params]
    return fetch(sql, params)


def entries_of_posts(channel_ids: Sequence[int], post_ids: Sequence[int]) -> list[Entry]:
    """The entries of these posts in these channels, in any state (a pinned slot records
    its use on its post's entry)."""
    sql = (
        f"SELECT {_select('e')} FROM {table(QueueEntry)} AS e "  # noqa: S608
        f"WHERE {any_of('e.channel_id')} AND {any_of('e.post_id')}"
    )
    return [_entry(r) for r in fetch(sql, [Ids.of(channel_ids), Ids.of(post_ids)])]
