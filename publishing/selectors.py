"""Publishing reads for the web UI: slot history with deliveries, problems, recent sends.

They read deliveries, so they live here, above `scheduling` (DESIGN §1).
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Prefetch, Q

from channels.models import Channel
from publishing.models import Delivery
from scheduling.models import Timeslot


def history_for_channel(
    *, channel: Channel, limit: int = 30, before: tuple[dt.datetime, int] | None = None
) -> list[Timeslot]:
    """The channel's latest finished (or running) slots, newest first, with deliveries;
    with `before` (publish_at, id), the page after that slot: a keyset, so page 300 costs
    what page 1 costs (timeslot_channel_time_idx)."""
    rows = Timeslot.objects.filter(channel=channel).exclude(status=Timeslot.Status.SCHEDULED)
    if before is not None:
        at, pk = before
        rows = rows.filter(Q(publish_at__lt=at) | Q(publish_at=at, id__lt=pk))
    rows = list(
        rows.select_related("post", "published_post")
        .prefetch_related(
            Prefetch(
                "deliveries",
                queryset=Delivery.objects.select_related("account").order_by("account__handle"),
            )
        )
        .order_by("-publish_at", "-id")[:limit]
    )
    for row in rows:
        row.channel = channel
    return rows


PROBLEM_STATUSES = (Timeslot.Status.FAILED, Timeslot.Status.PARTIAL, Timeslot.Status.MISSED)


def problem_slots(*, workspace, since: dt.datetime, limit: int = 20) -> list[Timeslot]:
    """Recent slots that did not publish fully: failed, partial, missed, or unconfirmed."""
    unconfirmed = Delivery.objects.filter(
        status=Delivery.Status.UNCONFIRMED,
        timeslot__channel__workspace=workspace,
        created_at__gte=since,
    ).values("timeslot_id")
    return list(
        Timeslot.objects.filter(channel__workspace=workspace, publish_at__gte=since)
        .filter(Q(status__in=PROBLEM_STATUSES) | Q(id__in=unconfirmed))
        .select_related("channel", "published_post", "post")
        .order_by("-publish_at", "-id")[:limit]
    )


def recent_deliveries(*, workspace, limit: int = 10):
    return list(
        Delivery.objects.filter(timeslot__channel__workspace=workspace)
        .select_related("account", "timeslot__channel", "post")
        .order_by("-created_at", "-id")[:limit]
    )
