"""The publish claim's hot reads as plain SQL, mapped to small dataclasses: a batch's
channels, locked, and its posts' variation texts (the queue's own reads are channels/sql.py's);
and the conditional UPDATE that begins a delivery's call.

Plain SQL through the documented cursor: building a model instance per row through the ORM
was a tenth of the publish step's CPU (bench/README.md). tests/publishing/test_sql.py
compares each function's rows with the ORM's on PostgreSQL and SQLite.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection

from accounts.models import SocialAccount
from channels.models import Channel
from ground.db import Ids, any_of, db_datetime, fetch, table
from posts.models import Variation
from publishing.models import Delivery
from scheduling.models import Stop


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


def _not_stopped() -> str:
    """SQL: no emergency stop is in force for the delivery row's account's workspace, nor
    for the whole instance (scheduling.models.Stop)."""
    d, stop, account = table(Delivery), table(Stop), table(SocialAccount)
    return (
        f"NOT EXISTS (SELECT 1 FROM {stop} WHERE {stop}.resumed_at IS NULL "  # noqa: S608
        f"AND ({stop}.workspace_id IS NULL OR {stop}.workspace_id = "
        f"(SELECT {account}.workspace_id FROM {account} WHERE {account}.id = {d}.account_id)))"
    )


def deliveries_begin(ids: Iterable[int], *, now) -> list[int]:
    """Mark these claimed deliveries' calls begun (`sending_started_at`), RETURNING those
    that may now be called: still `sending`, not begun yet, and under no emergency stop
    in force (their account's workspace's, or the instance's).

    The stop's check is part of this UPDATE, not a read before it: a stop that committed
    before the statement began is seen, so nothing begins after it; one that commits while
    it runs waits (scheduling/stops.py) for the calls this statement began, which the stop
    finds `sending` and begun. The stop's own UPDATE fails a claimed delivery not begun yet
    (`sending_started_at IS NULL`) — whichever of the two takes the row first wins."""
    sql = (
        f"UPDATE {table(Delivery)} SET sending_started_at = %s "  # noqa: S608 (see _not_stopped)
        f"WHERE {any_of('id')} AND status = %s AND sending_started_at IS NULL "
        f"AND {_not_stopped()} RETURNING id"
    )
    rows = fetch(sql, [db_datetime(now), Ids.of(sorted(set(ids))), Delivery.Status.SENDING])
    return [r[0] for r in rows]


def deliveries_fail_stopped(ids: Iterable[int], *, error: str) -> list[int]:
    """Of these claimed deliveries a chunk did not begin, those an emergency stop in force
    kept from beginning: `failed` with `error`, RETURNING them. (One that recovery took
    back, or that the stop failed itself, is no longer `sending`: left as it is.)"""
    sql = (
        f"UPDATE {table(Delivery)} SET status = %s, last_error = %s, "  # noqa: S608
        f"next_attempt_at = NULL WHERE {any_of('id')} AND status = %s "
        f"AND sending_started_at IS NULL AND NOT {_not_stopped()} RETURNING id"
    )
    params = [Delivery.Status.FAILED, error, Ids.of(sorted(set(ids))), Delivery.Status.SENDING]
    return [r[0] for r in fetch(sql, params)]
