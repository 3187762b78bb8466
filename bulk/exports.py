"""A channel's queue and history as CSV rows, produced lazily for a streaming response.

The queue comes out in the import's columns (bulk.import_rows.COLUMNS) followed by its
counts, so an exported queue imports back as it was. A cell a spreadsheet would run as a
formula gets a leading apostrophe (the import takes it off again).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from django.db.models import Q
from django.utils import timezone

from bulk.import_rows import COLUMNS, FORMULA_GUARD, VARIATION_SEPARATOR, needs_formula_guard
from channels.models import Channel, QueueEntry
from publishing.models import Delivery
from scheduling.models import Timeslot

QUEUE_EXTRA = ("position", "active", "times_published", "last_published_at")
HISTORY_COLUMNS = (
    "publish_at",
    "publish_at_local",
    "status",
    "reason",
    "pinned",
    "text",
    "account",
    "network",
    "delivery_status",
    "url",
    "error",
    "sent_at",
)
BATCH = 500


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return FORMULA_GUARD + text if needs_formula_guard(text) else text


def queue_rows(*, channel: Channel) -> Iterator[list[str]]:
    yield [*COLUMNS, *QUEUE_EXTRA]
    entries = (
        QueueEntry.objects.filter(channel=channel)
        .select_related("post")
        .prefetch_related("post__variations")
        .order_by("-is_active", "position", "id")
    )
    for entry in entries.iterator(chunk_size=BATCH):
        post = entry.post
        row = {
            "text": post.text,
            "variations": f" {VARIATION_SEPARATOR} ".join(v.text for v in post.variations.all()),
            "channels": channel.name,
            "max_publications": entry.max_publications,
            "position": entry.position,
            "active": entry.is_active,
            "times_published": entry.times_published,
            "last_published_at": entry.last_published_at,
        }
        yield [_cell(row.get(name)) for name in (*COLUMNS, *QUEUE_EXTRA)]


def history_rows(*, channel: Channel, now=None) -> Iterator[list[str]]:
    """Every slot that is past or finished, newest first, one line per delivery (a slot
    that reached no account, e.g. missed, has one line without account).

    Read in keyset chunks of BATCH slots (`(publish_at, id)` below the last one sent, on
    `timeslot_channel_time_idx`), each with its deliveries in one more query, as plain
    rows: a year of history costs its chunks one after the other, and the first line
    leaves after one chunk whatever the year holds (no cursor held open meanwhile)."""
    now = now or timezone.now()
    yield list(HISTORY_COLUMNS)
    tz = channel.tz
    finished = Timeslot.objects.filter(channel=channel).filter(
        Q(publish_at__lte=now) | Q(status__in=Timeslot.TERMINAL)
    )
    last = None
    while True:
        chunk = finished
        if last is not None:
            at, pk = last
            # The redundant `<=` gives the index a range; the OR breaks ties at one instant.
            chunk = chunk.filter(
                Q(publish_at__lte=at), Q(publish_at__lt=at) | Q(publish_at=at, id__lt=pk)
            )
        slots = list(
            chunk.order_by("-publish_at", "-id").values_list(
                "id", "publish_at", "status", "reason", "post_id", "published_text", "post__text"
            )[:BATCH]
        )
        if not slots:
            return
        deliveries = defaultdict(list)
        for delivery in (
            Delivery.objects.filter(timeslot_id__in=[s[0] for s in slots])
            .order_by("id")
            .values_list(
                "timeslot_id",
                "text",
                "account__handle",
                "account__provider",
                "status",
                "url",
                "last_error",
                "sent_at",
            )
        ):
            deliveries[delivery[0]].append(delivery)
        for slot_id, publish_at, status, reason, post_id, published_text, post_text in slots:
            base = {
                "publish_at": publish_at,
                "publish_at_local": publish_at.astimezone(tz),
                "status": status,
                "reason": reason,
                "pinned": post_id is not None,
                "text": published_text or post_text or "",
            }
            for delivery in deliveries.get(slot_id) or [None]:
                row = dict(base)
                if delivery is not None:
                    _, text, handle, provider, d_status, url, error, sent_at = delivery
                    row |= {
                        "text": text or base["text"],
                        "account": handle,
                        "network": provider,
                        "delivery_status": d_status,
                        "url": url,
                        "error": error,
                        "sent_at": sent_at,
                    }
                yield [_cell(row.get(name)) for name in HISTORY_COLUMNS]
        if len(slots) < BATCH:
            return
        last = (slots[-1][1], slots[-1][0])
