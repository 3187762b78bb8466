"""A channel's queue and history as CSV rows, produced lazily for a streaming response.

The queue comes out in the import's columns (bulk.import_rows.COLUMNS) followed by its
counts, so an exported queue imports back as it was. A cell a spreadsheet would run as a
formula gets a leading apostrophe (the import takes it off again).
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Prefetch, Q
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
    that reached no account, e.g. missed, has one line without account)."""
    now = now or timezone.now()
    yield list(HISTORY_COLUMNS)
    tz = channel.tz
    slots = (
        Timeslot.objects.filter(channel=channel)
        .filter(Q(publish_at__lte=now) | Q(status__in=Timeslot.TERMINAL))
        .select_related("post")
        .prefetch_related(
            Prefetch("deliveries", queryset=Delivery.objects.select_related("account"))
        )
        .order_by("-publish_at", "-id")
    )
    for slot in slots.iterator(chunk_size=BATCH):
        base = {
            "publish_at": slot.publish_at,
            "publish_at_local": slot.publish_at.astimezone(tz),
            "status": slot.status,
            "reason": slot.reason,
            "pinned": slot.post_id is not None,
            "text": slot.published_text or (slot.post.text if slot.post else ""),
        }
        deliveries = sorted(slot.deliveries.all(), key=lambda d: d.id) or [None]
        for delivery in deliveries:
            row = dict(base)
            if delivery is not None:
                row |= {
                    "text": delivery.text or base["text"],
                    "account": delivery.account.handle,
                    "network": delivery.account.provider,
                    "delivery_status": delivery.status,
                    "url": delivery.url,
                    "error": delivery.last_error,
                    "sent_at": delivery.sent_at,
                }
            yield [_cell(row.get(name)) for name in HISTORY_COLUMNS]
