"""Post reads for the web UI: the post list with its channels and pinned times."""

from __future__ import annotations

from django.db.models import Count, Prefetch, Q, QuerySet

from accounts.models import Workspace
from channels.models import QueueEntry
from posts.models import Post
from scheduling.models import Timeslot


def posts_for_list(*, workspace: Workspace, status: str = "", search: str = "") -> QuerySet[Post]:
    """Newest first; each with its queue entries (+ channel), coming pinned slots and the
    number of variations: a constant number of queries for any page size."""
    qs = (
        Post.objects.filter(workspace=workspace)
        .select_related("author")
        .annotate(variation_count=Count("variations", distinct=True))
        .prefetch_related(
            Prefetch(
                "entries",
                queryset=QueueEntry.objects.select_related("channel").order_by("channel__name"),
            ),
            Prefetch(
                "pinned_timeslots",
                queryset=Timeslot.objects.filter(status=Timeslot.Status.SCHEDULED)
                .select_related("channel")
                .order_by("publish_at"),
                to_attr="pinned_upcoming",
            ),
        )
        .order_by("-created_at", "-id")
    )
    if status:
        qs = qs.filter(status=status)
    if search:
        qs = qs.filter(Q(text__icontains=search) | Q(variations__text__icontains=search)).distinct()
    return qs


def post_for_edit(*, workspace: Workspace, post_id: int) -> Post | None:
    return (
        Post.objects.filter(workspace=workspace, id=post_id)
        .prefetch_related("variations", Prefetch("entries", queryset=_entries()))
        .first()
    )


def _entries() -> QuerySet[QueueEntry]:
    return QueueEntry.objects.select_related("channel").order_by("channel__name")
