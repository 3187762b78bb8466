"""Queue writes: add, move, remove, re-activate a channel's entries, cap their publications.

Channel writes themselves (settings, pause) live in scheduling.services.channel_save, because
they re-plan slots. The web UI, the API and the seed command call these.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Max
from django.utils.text import slugify

from channels.models import Channel, QueueEntry
from posts.images import post_check_images_ready

if TYPE_CHECKING:
    from posts.models import Post

DIRECTIONS = ("up", "down")


def channel_unique_slug(*, workspace_id: int, name: str) -> str:
    """A new channel's slug: its name slugified, with -2, -3... when taken in the workspace
    (the web form and the API name channels alike)."""
    base = slugify(name) or "channel"
    taken = set(
        Channel.objects.filter(workspace_id=workspace_id, slug__startswith=base).values_list(
            "slug", flat=True
        )
    )
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    return slug


@transaction.atomic
def queue_entry_add(*, channel: Channel, post: Post) -> QueueEntry:
    """Append a post to the end of a channel's queue (or re-activate its existing entry).

    The channel row is locked first: two adds at once would otherwise read the same last
    position and both append at it (an empty queue has no entry rows to lock)."""
    Channel.objects.select_for_update().filter(pk=channel.pk).first()
    entry = QueueEntry.objects.filter(channel=channel, post=post).first()
    if entry is None or not entry.is_active:
        post_check_images_ready(post=post)  # already in rotation: nothing is scheduled anew
    if entry is not None:
        return queue_entry_reactivate(entry=entry)
    last = QueueEntry.objects.filter(channel=channel).aggregate(m=Max("position"))["m"]
    return QueueEntry.objects.create(channel=channel, post=post, position=(last or 0) + 1)


def queue_entry_reactivate(*, entry: QueueEntry) -> QueueEntry:
    """Put an inactive entry (used up, or spent in `once` mode) back in rotation, keeping its
    place and its history. Its max_publications is left as it is: the user chose to requeue."""
    if not entry.is_active:
        QueueEntry.objects.filter(pk=entry.pk).update(is_active=True)
        entry.is_active = True
    return entry


def queue_entry_stop(*, entry: QueueEntry) -> QueueEntry:
    """Stop looping a post: it leaves the rotation but keeps its place and history, listed
    with the finished posts (queue_entry_reactivate puts it back)."""
    if entry.is_active:
        QueueEntry.objects.filter(pk=entry.pk).update(is_active=False)
        entry.is_active = False
    return entry


def queue_entry_remove(*, entry: QueueEntry) -> None:
    """Take a post out of a channel's queue; its publication count there goes with it."""
    entry.delete()


@transaction.atomic
def queue_entry_move(*, entry: QueueEntry, direction: str) -> None:
    """Swap the entry with its neighbour ("up" or "down"), renumbering the queue 1..n.

    The whole queue is locked first: two concurrent moves would otherwise read the same
    positions and write back a queue with duplicates (ties are broken by id, so old data
    with equal positions still has a defined order before the renumbering).
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, not {direction!r}")
    entries = list(
        QueueEntry.objects.select_for_update()
        .filter(channel_id=entry.channel_id)
        .order_by("position", "id")
    )
    index = next(i for i, e in enumerate(entries) if e.pk == entry.pk)
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(entries):
        entries[index], entries[other] = entries[other], entries[index]
    changed = []
    for position, row in enumerate(entries, start=1):
        if row.position != position:
            row.position = position
            changed.append(row)
    QueueEntry.objects.bulk_update(changed, ["position"])


def queue_entry_set_max(*, entry: QueueEntry, max_publications: int | None) -> QueueEntry:
    """Cap (or uncap, with None) how many times the entry publishes in its channel."""
    entry.max_publications = max_publications
    # Raising the limit above what was already published brings a spent entry back;
    # `once` mode deactivates by use, so leave those alone.
    reactivate = entry.channel.mode == Channel.Mode.LOOP and (
        max_publications is None or entry.times_published < max_publications
    )
    QueueEntry.objects.filter(pk=entry.pk).update(
        max_publications=max_publications,
        is_active=True if reactivate else F("is_active"),
    )
    entry.refresh_from_db()
    return entry


@transaction.atomic
def post_queues_set(*, post: Post, channels: Iterable[Channel]) -> None:
    """Queue the post in exactly these channels: join (or re-activate in) each of them and
    leave the queue of every other channel it is active in (its history there goes too).

    Inactive entries elsewhere (used up in `once` mode) are left alone: the edit form does
    not show them ticked, so an untouched box must not delete their history.
    """
    channels = list(channels)
    for channel in channels:
        queue_entry_add(channel=channel, post=post)
    QueueEntry.objects.filter(post=post, is_active=True).exclude(
        channel_id__in=[c.id for c in channels]
    ).delete()


@transaction.atomic
def queue_order_set(*, channel: Channel, post_ids: list[int]) -> list[QueueEntry]:
    """Put these posts first in the channel's active queue, in this order; the other
    entries keep their order after them (inactive ones last). Renumbers the queue 1..n.

    Refused (ValidationError, nothing changed) when a post is listed twice or is not
    active in this queue. The queue is locked first, as for a move."""
    if len(set(post_ids)) != len(post_ids):
        raise ValidationError({"posts": "A post is listed more than once."})
    entries = list(
        QueueEntry.objects.select_for_update().filter(channel=channel).order_by("position", "id")
    )
    active = {e.post_id: e for e in entries if e.is_active}
    unknown = [str(i) for i in post_ids if i not in active]
    if unknown:
        raise ValidationError(
            {"posts": f"Not in this channel's active queue: post(s) {', '.join(unknown)}."}
        )
    first = [active[i] for i in post_ids]
    chosen = set(post_ids)
    rest = [e for e in entries if e.is_active and e.post_id not in chosen]
    spent = [e for e in entries if not e.is_active]
    changed = []
    ordered = first + rest + spent
    for position, row in enumerate(ordered, start=1):
        if row.position != position:
            row.position = position
            changed.append(row)
    QueueEntry.objects.bulk_update(changed, ["position"])
    return ordered
