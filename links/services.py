"""Making short links (for the publish claim) and counting their clicks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.db import IntegrityError, transaction
from django.db.models import F, IntegerField, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from links import agents
from links.models import ClickDay, ShortLink
from links.rewrite import UtmTemplates, base_url, rewrite, utm_values


@dataclass
class DeliveryLinks:
    """A delivery's texts with their links rewritten, and the links to store."""

    post_id: int
    text: str
    thread_parts: list[str]
    comment: str = ""
    links: list[tuple[str, str]] = field(default_factory=list)  # (code, target)


def utm_for(
    templates: Sequence[str], *, network: str, channel: str, post_id: int
) -> dict[str, str]:
    """The UTM values of one delivery from a channel's four templates."""
    return utm_values(UtmTemplates(*templates), network=network, channel=channel, post_id=post_id)


def rewrite_delivery(
    *, post_id: int, text: str, thread_parts: list[str], comment: str = "", utm: dict[str, str]
) -> DeliveryLinks:
    """Every link of the delivery's text, thread parts and first comment as a new short
    link. Without a PUBLIC_BASE_URL there is no address to send people to: the texts stay
    as they are."""
    if not base_url():
        return DeliveryLinks(post_id, text, thread_parts, comment)
    first = rewrite(text, utm=utm)
    made = DeliveryLinks(post_id, first.text, [], links=list(first.links))
    for part in thread_parts:
        done = rewrite(part, utm=utm)
        made.thread_parts.append(done.text)
        made.links += done.links
    if comment:
        done = rewrite(comment, utm=utm)
        made.comment = done.text
        made.links += done.links
    return made


def short_links_create(
    *, delivery_ids: Sequence[int], per_row: Sequence[DeliveryLinks | None]
) -> None:
    """Store the short links of a batch of new deliveries: one INSERT (none if no link)."""
    rows = [
        ShortLink(code=code, target=target, delivery_id=delivery_id, post_id=made.post_id)
        for delivery_id, made in zip(delivery_ids, per_row, strict=True)
        if made is not None
        for code, target in made.links
    ]
    if rows:
        ShortLink.objects.bulk_create(rows)


def _referrer_host(referrer: str) -> str:
    try:
        host = urlsplit(referrer).hostname or ""
    except ValueError:
        return ""
    return host.lower()[:255]


def click_record(
    *, link_id: int, referrer: str, user_agent: str, now: dt.datetime | None = None
) -> bool:
    """Count one click on the link for today (UTC) unless a bot made it; whether it counted.
    Only the day, the referrer's host and the browser family are kept: no address."""
    if agents.is_bot(user_agent):
        return False
    day = (now or timezone.now()).astimezone(dt.UTC).date()
    key = {
        "link_id": link_id,
        "day": day,
        "referrer_host": _referrer_host(referrer),
        "agent": agents.family(user_agent),
    }
    # An atomic UPDATE first (the common case: the day's row exists); else insert it, and
    # if a concurrent click inserted it first, the UPDATE again.
    if ClickDay.objects.filter(**key).update(count=F("count") + 1):
        return True
    try:
        with transaction.atomic():
            ClickDay.objects.create(**key, count=1)
    except IntegrityError:
        ClickDay.objects.filter(**key).update(count=F("count") + 1)
    return True


def clicks_by_delivery(delivery_ids: Iterable[int]) -> dict[int, int]:
    """Total clicks per delivery (deliveries without any are absent): one query."""
    rows = (
        ClickDay.objects.filter(link__delivery_id__in=list(delivery_ids))
        .values("link__delivery_id")
        .annotate(total=Sum("count"))
    )
    return {r["link__delivery_id"]: r["total"] for r in rows}


def clicks_annotation():
    """For a Delivery queryset's .annotate(clicks=...): its counted clicks (0 without)."""
    total = (
        ClickDay.objects.filter(link__delivery_id=OuterRef("pk"))
        .values("link__delivery_id")
        .annotate(total=Sum("count"))
        .values("total")
    )
    return Coalesce(Subquery(total, output_field=IntegerField()), 0)
