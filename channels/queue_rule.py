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
import heapq
import itertools
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from django.db.models import F, Q

from channels import sql
from channels.models import Channel, QueueEntry

if TYPE_CHECKING:
    from posts.models import Post

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# Post.Status.READY, spelled out so this module needs no import from `posts` at run time.
_READY = "ready"
# Post.ReviewState.APPROVED: a post that needs approval is usable only once approved.
_APPROVED = "approved"


def usable(entry: QueueEntry, *, at: dt.datetime) -> bool:
    """Can this entry still publish at `at`? Active, post ready, unexpired and approved
    (when it needs approval), not spent."""
    post = entry.post
    cap = entry.max_publications
    return (
        entry.is_active
        and post.status == _READY
        and (post.expires_at is None or post.expires_at > at)
        and (cap is None or entry.times_published < cap)
        and (not post.needs_approval or post.review_state == _APPROVED)
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
        & (Q(**{f"{p}post__needs_approval": False}) | Q(**{f"{p}post__review_state": _APPROVED}))
    )


# The queue order, in one place: (column, NULLs first), least recently published first
# (never published before anything), then position, then id. The SQL (channels/sql.py) and
# the ORM's ORDER BY (`ORDER_BY`) are built from it; `order_key` says the same for rows in
# memory (spelt out: it runs on every heap step), and tests/channels/test_sql.py checks that
# the database's order and order_key's agree over random entries.
ORDER = (("last_published_at", True), ("position", False), ("id", False))
ORDER_BY = [
    F(column).asc(nulls_first=True) if nulls else F(column).asc() for column, nulls in ORDER
]


def order_key(entry: QueueEntry) -> tuple:
    last = entry.last_published_at
    return (last is not None, last or _EPOCH, entry.position, entry.id)


def next_entry(entries: Iterable[QueueEntry], *, at: dt.datetime) -> QueueEntry | None:
    """The entry a queue slot at `at` takes, or None when the queue has nothing usable."""
    return min((e for e in entries if usable(e, at=at)), key=order_key, default=None)


def _after_q(key: tuple) -> Q:
    """Entries whose `order_key` is greater than `key`: the order, spelt as a filter."""
    has_last, last, position, pk = key
    tail = Q(position__gt=position) | Q(position=position, id__gt=pk)
    if not has_last:
        return Q(last_published_at__isnull=False) | (Q(last_published_at__isnull=True) & tail)
    return Q(last_published_at__gt=last) | (Q(last_published_at=last) & tail)


def _in_order(qs):
    return qs.order_by(*ORDER_BY)


class Replay:
    """One channel's queue replayed in memory, slot after slot, reading from the database
    only the entries the replay reaches: `heads` reads each queue's first entries in the
    rule's order, and `next` reads further (a rare extra query) only when the replay gets
    past them — the head of a 10,000-post queue is all that a week of slots can use.

    Kept in a heap by `order_key`; an entry used again is pushed with its new key and its
    old heap item is dropped when it comes up (lazy deletion). "Usable" only ever turns
    false as the slots' time grows (expired, spent, deactivated), so an entry found
    unusable at the top is dropped for good.
    """

    READ_MORE = 200

    def __init__(self, *, channel: Channel, usable_at: dt.datetime):
        self.channel = channel
        self._usable_at = usable_at
        self._heap: list[tuple[tuple, int, QueueEntry]] = []
        self._seq = itertools.count()
        self._by_id: dict[int, QueueEntry] = {}
        self._by_post: dict[int, QueueEntry] = {}
        self._published: dict[int, int] = {}
        # Entries not read yet all sort after this key; None: every usable entry is read.
        self._bound: tuple | None = None

    def _push(self, entry: QueueEntry) -> None:
        heapq.heappush(self._heap, (order_key(entry), next(self._seq), entry))

    def add(self, entries: Iterable[QueueEntry]) -> None:
        for entry in entries:
            if entry.id in self._by_id:
                continue
            self._by_id[entry.id] = entry
            self._by_post[entry.post_id] = entry
            self._published[entry.post_id] = entry.times_published
            self._push(entry)

    def entry_for(self, post_id: int) -> QueueEntry | None:
        return self._by_post.get(post_id)

    def published_before(self, post_id: int) -> int:
        """How often the post really went out in this channel (before the replay)."""
        return self._published.get(post_id, 0)

    def next(self, *, at: dt.datetime) -> QueueEntry | None:
        """The entry a queue slot at `at` takes (what `next_entry` would pick over the
        whole queue), or None."""
        heap = self._heap
        while True:
            while heap and (order_key(heap[0][2]) != heap[0][0] or not usable(heap[0][2], at=at)):
                heapq.heappop(heap)
            if self._bound is not None and (not heap or heap[0][0] > self._bound):
                self._read_more()
                continue
            return heap[0][2] if heap else None

    def use(self, entry: QueueEntry, *, at: dt.datetime) -> None:
        record_use(entry, mode=self.channel.mode, at=at)
        self._push(entry)

    def _read_more(self) -> None:
        rows = list(
            _in_order(
                QueueEntry.objects.filter(channel_id=self.channel.id)
                .filter(usable_q(at=self._usable_at), _after_q(self._bound))
                .exclude(id__in=list(self._by_id))
                .select_related("post")
            )[: self.READ_MORE]
        )
        self.add(rows)
        self._bound = order_key(rows[-1]) if len(rows) == self.READ_MORE else None


def heads(
    channels: Iterable[Channel], counts: Mapping[int, int], *, usable_at: dt.datetime
) -> dict[int, Replay]:
    """A Replay per channel holding the first `counts[channel id]` entries of its queue
    usable at `usable_at`, in the rule's order: one query for all channels.

    Each channel's head is read as two index range scans of `queueentry_next_idx` (the
    never-published entries by position, then the rest by last publication), each limited
    and merged, so reading costs the head, not the queue (channels/sql.py)."""
    replays = {c.id: Replay(channel=c, usable_at=usable_at) for c in channels}
    counts = {k: n for k, n in counts.items() if n > 0 and k in replays}
    if not counts:
        return replays
    found = sql.queue_heads(counts, at=usable_at, order=ORDER)
    # As model instances with their posts (the replay may save or show them): one query.
    rows = list(QueueEntry.objects.filter(id__any=[e.id for e in found]).select_related("post"))
    by_channel: dict[int, list[QueueEntry]] = defaultdict(list)
    for entry in rows:
        by_channel[entry.channel_id].append(entry)
    for channel_id, n in counts.items():
        # The first n in the rule's order: everything up to the last of them is read.
        mine = sorted(by_channel.get(channel_id, []), key=order_key)
        head = mine[:n]
        replay = replays[channel_id]
        replay.add(head)
        replay._bound = order_key(head[-1]) if len(mine) >= n else None
    return replays


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
