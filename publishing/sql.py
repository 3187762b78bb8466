"""The publish claim's hot reads as plain SQL, mapped to small dataclasses: a batch's
channels, locked, and its posts' variation texts (the queue's own reads are channels/sql.py's).

Plain SQL through the documented cursor: building a model instance per row through the ORM
was a tenth of the publish step's CPU (bench/README.md). tests/publishing/test_sql.py
compares each function's rows with the ORM's on PostgreSQL and SQLite.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection

from channels.models import Channel
from ground.db import Ids, any_of, fetch, table
from posts.models import Variation


@dataclass(slots=True, frozen=True)
class LockedChannel:
    """What a batch reads of a channel it publishes for."""

    id: int
    workspace_id: int
    name: str
    is_paused: bool
    mode: str
    # Links that count clicks (links/): read with the lock, so the option costs no query.
    slug: str = ""
    count_clicks: bool = False
    utm: tuple[str, str, str, str] = ("", "", "", "")


def channels_locked(ids: Iterable[int]) -> dict[int, LockedChannel]:
    """These channels, each row locked until the transaction ends (the caller's atomic
    block), locked in id order: two batches that share channels lock them in the same
    order, so one waits for the other instead of deadlocking. SQLite has no row locks (its
    writes are serialised anyway); the ORM's select_for_update does nothing there either."""
    lock = " FOR UPDATE" if connection.vendor == "postgresql" else ""
    sql = (
        "SELECT id, workspace_id, name, is_paused, mode, slug, count_clicks, "  # noqa: S608
        "utm_source, utm_medium, utm_campaign, utm_content "
        f"FROM {table(Channel)} WHERE {any_of('id')} ORDER BY id{lock}"
    )
    rows = fetch(sql, [Ids.of(sorted(set(ids)))])
    return {
        r[0]: LockedChannel(r[0], r[1], r[2], bool(r[3]), r[4], r[5], bool(r[6]), tuple(r[7:11]))
        for r in rows
    }


@dataclass(slots=True, frozen=True)
class VariationText:
    """A variation as Post.texts() reads it from `variation_list`."""

    post_id: int
    text: str


def variations_by_post(post_ids: Iterable[int]) -> dict[int, list[VariationText]]:
    """Each post's variations in Variation's order (position, id): one query."""
    keys = Ids.of(sorted(set(post_ids)))
    if not keys:
        return {}
    sql = (
        f"SELECT post_id, text FROM {table(Variation)} "  # noqa: S608
        f"WHERE {any_of('post_id')} ORDER BY post_id, position, id"
    )
    by_post: dict[int, list[VariationText]] = defaultdict(list)
    for post_id, text in fetch(sql, [keys]):
        by_post[post_id].append(VariationText(post_id, text))
    return by_post
