"""The queue rule, in one place: which entry a channel publishes next, which text it uses,
and what publishing it does to the entry.

The publisher (publishing/claim.py) applies it to the locked QueueEntry rows of a batch;
the UI's predictor (scheduling/selectors.py) applies it to in-memory copies, replaying the
coming slots. Both call the functions below, so "next post" on a page and the post that
actually goes out cannot drift. `usable_q` is the same `usable` test as a database filter,
for queries that only need to know whether a channel has anything left.

Order: least recently published first (never published before anything), then queue
position, then id. A used entry is deactivated in `once` mode or when it reaches its
`max_publications`. Text: the post's main text then its variations, in rotation by how often
the entry was published.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.db.models import F, Q

from channels.models import Channel, QueueEntry

if TYPE_CHECKING:
    from posts.models import Post

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# Post.Status.READY, spelled out so this module needs no import from `posts` at run time.
_READY = "ready"


def usable(entry: QueueEntry, *, at: dt.datetime) -> bool:
    """Can this entry still publish at `at`? Active, post ready and unexpired, not spent."""
    post = entry.post
    cap = entry.max_publications
    return (
        entry.is_active
        and post.status == _READY
        and (post.expires_at is None or post.expires_at > at)
        and (cap is None or entry.times_published < cap)
    )


def usable_q(*, at: dt.datetime, prefix: str = "") -> Q:
    """`usable` as a filter on QueueEntry (or, with prefix="entries__", through a relation)."""
    p = prefix
    return (
        Q(**{f"{p}is_active": True, f"{p}post__status": _READY})
        & (Q(**{f"{p}post__expires_at__isnull": True}) | Q(**{f"{p}post__expires_at__gt": at}))
        & (
            Q(**{f"{p}max_publications__isnull": True})
            | Q(**{f"{p}times_published__lt": F(f"{p}max_publications")})
        )
    )


def order_key(entry: QueueEntry) -> tuple:
    last = entry.last_published_at
    return (last is not None, last or _EPOCH, entry.position, entry.id)


def next_entry(entries: Iterable[QueueEntry], *, at: dt.datetime) -> QueueEntry | None:
    """The entry a queue slot at `at` takes, or None when the queue has nothing usable."""
    return min((e for e in entries if usable(e, at=at)), key=order_key, default=None)


def text_for(post: Post, *, times_published: int) -> str:
    texts = post.texts()
    return texts[times_published % len(texts)]


def record_use(entry: QueueEntry, *, mode: str, at: dt.datetime) -> None:
    """Count one publication on the entry (in memory; the caller saves it)."""
    entry.times_published += 1
    entry.last_published_at = at
    spent = entry.max_publications is not None and entry.times_published >= entry.max_publications
    if mode == Channel.Mode.ONCE or spent:
        entry.is_active = False


def use_record(entry: QueueEntry, *, at: dt.datetime) -> dict:
    """What `record_use` is about to change, kept on the slot (Timeslot.entry_use) so the
    use can be given back if the slot publishes nothing. Call it before record_use."""
    last = entry.last_published_at
    return {
        "entry": entry.id,
        "at": at.isoformat(),
        "last": last.isoformat() if last else None,
        "active": entry.is_active,
    }


def give_back(entry: QueueEntry, use: dict) -> None:
    """Undo one recorded use (in memory; the caller saves): a slot that failed to publish
    anything must not spend its post (a `once` queue keeps it, a loop does not move it
    to the back). A later use of the entry keeps its own `last_published_at`."""
    entry.times_published = max(0, entry.times_published - 1)
    if entry.last_published_at and entry.last_published_at.isoformat() == use["at"]:
        last = use["last"]
        entry.last_published_at = dt.datetime.fromisoformat(last) if last else None
    if use["active"]:
        entry.is_active = True


RECORDED_FIELDS = ["times_published", "last_published_at", "is_active"]
