"""The scheduling pages' hot read as plain SQL: each channel's first scheduled slots from a
time, as limited index scans of `timeslot_channel_time_idx` in one statement (the ORM
cannot say "the first n of each channel" that way).

Plain SQL through the documented cursor; it returns ids, and the caller loads the rows
through the ORM. tests/scheduling/test_sql.py compares it with the ORM's per-channel slices.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.db import connection

from ground.db import Ids, any_of, db_datetime, fetch, table
from scheduling.models import Timeslot


def first_scheduled_ids(channel_ids: Sequence[int], *, start: dt.datetime, limit: int) -> list[int]:
    """The ids of each channel's first `limit` scheduled slots due at or after `start`, in
    (publish_at, id) order per channel; in no particular order across channels."""
    keys = Ids.of(sorted(set(channel_ids)))
    if not keys or limit <= 0:
        return []
    slots = table(Timeslot)
    match = "t.status = %s AND t.publish_at >= %s"
    params = [Timeslot.Status.SCHEDULED.value, db_datetime(start)]
    if connection.vendor == "postgresql":
        sql = (
            "SELECT x.id FROM unnest(%s) AS k(key) CROSS JOIN LATERAL ("  # noqa: S608
            f"SELECT t.id FROM {slots} AS t WHERE t.channel_id = k.key AND {match} "
            "ORDER BY t.publish_at, t.id LIMIT %s) AS x"
        )
        return [r[0] for r in fetch(sql, [keys, *params, limit])]
    sql = (
        "SELECT id FROM (SELECT t.id, ROW_NUMBER() OVER ("  # noqa: S608
        "PARTITION BY t.channel_id ORDER BY t.publish_at, t.id) AS rank "
        f"FROM {slots} AS t WHERE {any_of('t.channel_id')} AND {match}) AS r WHERE rank <= %s"
    )
    return [r[0] for r in fetch(sql, [keys, *params, limit])]
