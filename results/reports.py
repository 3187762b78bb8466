"""The results of a workspace or one channel (issue 31, item 3): engagement over time, posts
ranked by engagement, the texts of an evergreen post compared, and each network's share.

Every figure is an aggregate over the *latest* snapshot of each sent delivery (a delivery
read at +1 h, +24 h and +7 d counts once, with its newest counts), computed in SQL: the
number of queries is the same for 20 deliveries or 10,000 (tests/results/test_reports.py).
"Engagement" is likes + reposts + replies + quotes; a count a network does not report
(null) adds nothing.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, TruncDate, TruncMonth, TruncWeek

from channels.models import Channel
from links.models import ClickDay
from networks import registry
from posts.models import Label, Variation
from publishing.models import Delivery
from results.models import Snapshot

COUNTS = ("likes", "reposts", "replies", "quotes")
# The ranked table shows (and the CSV exports) this many posts: a page, not a dump.
RANK_LIMIT = 50
# The default range: the last 30 days in the page's zone.
DEFAULT_DAYS = 30
# A range longer than this is refused (a clear 400): ten years of buckets is no chart.
MAX_DAYS = 3 * 366


class Bucket(enum.StrEnum):
    """The chart's step, chosen by the range's length so it keeps a readable number of points."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"

    @classmethod
    def for_span(cls, days: int) -> Bucket:
        if days <= 62:
            return cls.DAY
        if days <= 366:
            return cls.WEEK
        return cls.MONTH


class FilterError(ValueError):
    """A filter the page cannot use; its message is shown with a 400."""


@dataclass(frozen=True)
class Filters:
    start: dt.date
    end: dt.date  # inclusive
    zone: ZoneInfo
    channel: Channel | None = None
    label: Label | None = None
    network: str = ""

    @property
    def bucket(self) -> Bucket:
        return Bucket.for_span((self.end - self.start).days + 1)

    def query(self) -> dict[str, str]:
        """The filters as GET parameters (the CSV link repeats them)."""
        params = {"from": self.start.isoformat(), "to": self.end.isoformat()}
        if self.channel is not None:
            params["channel"] = str(self.channel.id)
        if self.label is not None:
            params["label"] = str(self.label.id)
        if self.network:
            params["network"] = self.network
        return params


def _date(raw: str, name: str) -> dt.date | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise FilterError(
            f"“{raw[:40]}” is not a date: give the {name} date as YYYY-MM-DD."
        ) from None


def _pick(raw: str, options: dict[int, object], what: str):
    raw = raw.strip()
    if not raw:
        return None
    try:
        return options[int(raw)]
    except (ValueError, KeyError):
        raise FilterError(f"There is no such {what} in this workspace.") from None


def parse_filters(
    params,
    *,
    zone: ZoneInfo,
    today: dt.date,
    channels: list[Channel],
    labels: list[Label],
    channel: Channel | None = None,
) -> Filters:
    """The page's GET filters, checked: dates are days in `zone` (the page's), the channel
    and label ids must be the workspace's (`channels`, `labels`, already fetched for the
    form), the network a registered one. `channel` fixes the channel (its own page)."""
    end = _date(params.get("to", ""), "end") or today
    start = _date(params.get("from", ""), "start") or end - dt.timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise FilterError("The start date is after the end date.")
    if (end - start).days + 1 > MAX_DAYS:
        raise FilterError(f"Choose a range of at most {MAX_DAYS} days.")
    if channel is None:
        channel = _pick(params.get("channel", ""), {c.id: c for c in channels}, "channel")
    network = params.get("network", "").strip()
    if network and network not in registry.NETWORKS:
        raise FilterError("There is no such network.")
    return Filters(
        start=start,
        end=end,
        zone=zone,
        channel=channel,
        label=_pick(params.get("label", ""), {lb.id: lb for lb in labels}, "label"),
        network=network,
    )


def _local_midnight(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=zone)


def deliveries(*, workspace_id: int, filters: Filters) -> QuerySet[Delivery]:
    """The workspace's sent deliveries the filters keep (sent within the days, in the zone)."""
    found = Delivery.objects.filter(
        timeslot__channel__workspace_id=workspace_id,
        status=Delivery.Status.SENT,
        sent_at__gte=_local_midnight(filters.start, filters.zone),
        sent_at__lt=_local_midnight(filters.end + dt.timedelta(days=1), filters.zone),
    )
    if filters.channel is not None:
        found = found.filter(timeslot__channel_id=filters.channel.id)
    if filters.label is not None:
        found = found.filter(post__labels=filters.label.id)
    if filters.network:
        found = found.filter(account__provider=filters.network)
    return found


def latest_snapshots(*, workspace_id: int, filters: Filters) -> QuerySet[Snapshot]:
    """Each kept delivery's newest snapshot (none newer for it: the (delivery, taken_at)
    index answers the NOT EXISTS), with its `engagement`."""
    newer = Snapshot.objects.filter(delivery_id=OuterRef("delivery_id")).filter(
        Q(taken_at__gt=OuterRef("taken_at"))
        | Q(taken_at=OuterRef("taken_at"), id__gt=OuterRef("id"))
    )
    zero = Value(0, output_field=IntegerField())
    return (
        Snapshot.objects.filter(
            delivery__in=deliveries(workspace_id=workspace_id, filters=filters).values("id")
        )
        .filter(~Exists(newer))
        .annotate(
            engagement=sum(
                (Coalesce(F(name), zero) for name in COUNTS[1:]), Coalesce(F(COUNTS[0]), zero)
            )
        )
    )


def _sums() -> dict:
    zero = Value(0, output_field=IntegerField())
    return {
        "engagement_sum": Coalesce(Sum("engagement"), zero),
        "publications": Count("delivery_id"),
        **{f"{name}_sum": Coalesce(Sum(name), zero) for name in COUNTS},
    }


def _row(values: dict) -> dict:
    row = {name: values[f"{name}_sum"] for name in COUNTS}
    row["engagement"] = values["engagement_sum"]
    row["publications"] = values["publications"]
    row["per_publication"] = (
        round(row["engagement"] / row["publications"], 1) if row["publications"] else 0
    )
    return row


def timeline(latest: QuerySet[Snapshot], filters: Filters) -> list[dict]:
    """Sums per day (week, month) of sending, in the page's zone: one query. Every bucket of
    the range is listed, an empty one with zeros (a gap is information)."""
    trunc = {Bucket.DAY: TruncDate, Bucket.WEEK: TruncWeek, Bucket.MONTH: TruncMonth}
    bucket = filters.bucket
    found = {}
    for values in (
        latest.annotate(when=trunc[bucket]("delivery__sent_at", tzinfo=filters.zone))
        .values("when")
        .annotate(**_sums())
        .order_by("when")
    ):
        when = values["when"]
        found[when.date() if isinstance(when, dt.datetime) else when] = _row(values)
    return [{"when": when, **found.get(when, _empty())} for when in _buckets(filters)]


def _empty() -> dict:
    return {**dict.fromkeys(COUNTS, 0), "engagement": 0, "publications": 0, "per_publication": 0}


def _buckets(filters: Filters) -> list[dt.date]:
    bucket, day = filters.bucket, filters.start
    if bucket is Bucket.WEEK:
        day -= dt.timedelta(days=day.weekday())
    elif bucket is Bucket.MONTH:
        day = day.replace(day=1)
    days = []
    while day <= filters.end:
        days.append(day)
        if bucket is Bucket.DAY:
            day += dt.timedelta(days=1)
        elif bucket is Bucket.WEEK:
            day += dt.timedelta(days=7)
        else:
            day = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return days


def ranked_posts(latest: QuerySet[Snapshot], deliveries_kept: QuerySet[Delivery]) -> list[dict]:
    """The posts by engagement (their deliveries' latest counts summed), best first, with the
    clicks on their short links: two queries."""
    rows = [
        {"post_id": values["delivery__post_id"], "text": values["delivery__post__text"]}
        | _row(values)
        for values in latest.filter(delivery__post__isnull=False)
        .values("delivery__post_id", "delivery__post__text")
        .annotate(**_sums())
        .order_by("-engagement_sum", "-publications", "delivery__post_id")[:RANK_LIMIT]
    ]
    clicks = dict(
        ClickDay.objects.filter(
            link__post_id__in=[row["post_id"] for row in rows],
            link__delivery__in=deliveries_kept.values("id"),
        )
        .values("link__post_id")
        .annotate(total=Sum("count"))
        .values_list("link__post_id", "total")
    )
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
        row["clicks"] = clicks.get(row["post_id"], 0)
    return rows


def ranked_texts(latest: QuerySet[Snapshot], posts: list[dict]) -> list[dict]:
    """For the ranked posts (`ranked_posts`' rows) published with more than one text (an
    evergreen post's variations), each text's engagement per publication, best first within
    its post: two queries. A delivery keeps the text it sent, so a text is named by matching
    it to the post's own ("Original") or a variation's ("Variation 2"); a text edited since
    is "An earlier text"."""
    by_post: dict[int, list[dict]] = {}
    for values in (
        latest.filter(delivery__post_id__in=[row["post_id"] for row in posts])
        .values("delivery__post_id", "delivery__text")
        .annotate(**_sums())
    ):
        by_post.setdefault(values["delivery__post_id"], []).append(
            {"text": values["delivery__text"]} | _row(values)
        )
    several = {post_id: rows for post_id, rows in by_post.items() if len(rows) > 1}
    names = {
        (row["post_id"], row["text"]): "Original" for row in posts if row["post_id"] in several
    }
    numbers: dict[int, int] = {}
    for post_id, text in (
        Variation.objects.filter(post_id__in=list(several))
        .order_by("post_id", "position", "id")
        .values_list("post_id", "text")
    ):
        numbers[post_id] = numbers.get(post_id, 1) + 1
        names.setdefault((post_id, text), f"Variation {numbers[post_id]}")
    result = []
    for post in posts:
        rows = several.get(post["post_id"])
        if not rows:
            continue
        rows.sort(key=lambda r: (-r["per_publication"], r["text"]))
        for row in rows:
            row["name"] = names.get((post["post_id"], row["text"]), "An earlier text")
        result.append({"post_id": post["post_id"], "post_text": post["text"], "texts": rows})
    return result


def by_network(latest: QuerySet[Snapshot]) -> list[dict]:
    """Each network's sums, most engagement first: one query."""
    return [
        {"network": values["delivery__account__provider"]} | _row(values)
        for values in latest.values("delivery__account__provider")
        .annotate(**_sums())
        .order_by("-engagement_sum", "delivery__account__provider")
    ]
