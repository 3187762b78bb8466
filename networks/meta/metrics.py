"""Reading many Graph objects' fields in one call: `GET /?ids=a,b,c&fields=...`, at most 50
ids a call (Meta's multiple-ID read, developers.facebook.com/docs/graph-api/overview: "Multiple
ID read requests"), answered as `{"a": {...}, "b": {...}}`. Facebook Pages and Instagram
both read their posts' counts this way (their adapters give the fields and the parsing).

One id that no longer exists spoils the whole call: Meta answers 400 `(#100) ... Some of the
aliases you requested do not exist: b` (code 100 or 803) naming it, or, for an id alone,
`Object with ID 'b' does not exist` (code 100, subcode 33). Those ids are Deleted and the rest
are asked again (one more call). Rate limits (codes 4, 17, 32, 613 or HTTP 429) raise
RateLimited from networks/meta/graph.py, so the collector delays only this account.

Meta gives the same answer for an object the token may no longer read ("does not exist,
cannot be loaded due to missing permissions"): a Page whose app access was taken away would
see every post it made marked deleted, for good. So, unless some post of this account was
read in the same run, the token first lists the owner's posts (`owner_posts`: a Page's
`/posts`, an Instagram account's `/media`, one post): if Meta refuses that, its refusal is
raised (the collector retries later, with Meta's reason), and only if it answers are the
named posts Deleted.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from networks.base import Rejected
from networks.contract import Counts, Deleted, PostMetrics
from networks.meta import graph

IDS_PER_CALL = 50
_ALIASES = re.compile(r"do not exist: ([\w,\s]+?)(?: \(code|$)")
_ALONE = re.compile(r"Object with ID '([\w]+)' does not exist")


def _missing(message: str, asked: list[str]) -> list[str]:
    """The asked ids Meta's refusal says do not exist ([] when it names none of them)."""
    named: set[str] = set()
    if match := _ALIASES.search(message):
        named = {part.strip() for part in match.group(1).split(",")}
    elif match := _ALONE.search(message):
        named = {match.group(1)}
    return [i for i in asked if i in named]


def _can_read_posts(owner_posts: str, *, token: str, network: str) -> None:
    """Raise Meta's refusal unless the token can list the owner's posts."""
    graph.call(
        "GET",
        owner_posts,
        token=token,
        what="the account's posts",
        params={"fields": "id", "limit": 1},
        network=network,
    )


def read(
    ids: list[str],
    *,
    token: str,
    fields: str,
    counts: Callable[[dict], Counts],
    network: str,
    owner_posts: str,
) -> dict[str, PostMetrics]:
    found: dict[str, PostMetrics] = {}
    readable = False  # the token was seen reading this account's posts in this run
    for start in range(0, len(ids), IDS_PER_CALL):
        asked = ids[start : start + IDS_PER_CALL]
        # Each round either answers or names at least one missing id: at most len(asked).
        while asked:
            try:
                answer = graph.call(
                    "GET",
                    "",
                    token=token,
                    what="the posts' counts",
                    params={"ids": ",".join(asked), "fields": fields},
                    network=network,
                )
            except Rejected as exc:
                gone = _missing(exc.message, asked)
                if not gone:
                    raise
                if not readable:
                    _can_read_posts(owner_posts, token=token, network=network)
                    readable = True
                for media_id in gone:
                    found[media_id] = Deleted(f"{network} says it does not exist")
                asked = [i for i in asked if i not in gone]
                continue
            for media_id in asked:
                entry = answer.get(media_id)
                if isinstance(entry, dict):
                    found[media_id] = counts(entry)
                    readable = True
            break
    return found
