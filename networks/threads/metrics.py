"""Threads metrics: a post's insights, one call a post (Threads has no multiple-post read).

`GET /{media-id}/insights?metric=likes,replies,reposts,quotes,views` (needs
threads_manage_insights) answers `{"data": [{"name": "likes", "period": "lifetime",
"values": [{"value": 7}], "title", "description", "id": "<media>/insights/likes/lifetime"},
...]}`. A post that no longer exists answers 400 code 100, subcode 33 ("Object with ID ...
does not exist"): Deleted. Rate limits (codes 4, 17, 32, 613 or HTTP 429) raise RateLimited
(networks/threads/errors.py), so the collector delays only this account; any other error
stops the account's run (asked again after the collector's backoff).
"""

from __future__ import annotations

from networks.base import Rejected
from networks.contract import Counts, Deleted, PostMetrics
from networks.threads import api

METRICS = "likes,replies,reposts,quotes,views"
# Meta's "does not exist, cannot be loaded due to missing permissions" (code 100/33).
MISSING = (100, 33)


def _values(answer: dict) -> dict[str, int]:
    found: dict[str, int] = {}
    for row in answer.get("data") if isinstance(answer.get("data"), list) else []:
        if not isinstance(row, dict) or not isinstance(row.get("name"), str):
            continue
        values = row.get("values")
        value = values[0].get("value") if values and isinstance(values[0], dict) else None
        if value is None and isinstance(row.get("total_value"), dict):
            value = row["total_value"].get("value")
        if isinstance(value, int) and not isinstance(value, bool):
            found[row["name"]] = value
    return found


def read(external_ids: list[str], *, token: str) -> dict[str, PostMetrics]:
    found: dict[str, PostMetrics] = {}
    for media_id in external_ids:
        try:
            answer = api.graph(
                "GET", f"{media_id}/insights", token=token, what="the post's counts", metric=METRICS
            )
        except Rejected as exc:
            if getattr(exc, "meta_code", None) == MISSING:
                found[media_id] = Deleted("Threads says the post does not exist")
                continue
            raise
        values = _values(answer)
        found[media_id] = Counts(
            likes=values.get("likes", 0),
            reposts=values.get("reposts", 0),
            replies=values.get("replies", 0),
            quotes=values.get("quotes", 0),
            impressions=values.get("views"),
        )
    return found
