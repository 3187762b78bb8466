"""Reading the activity log: filters and keyset pages, shared by the pages, the CSV export
and the API (one query per page whatever its depth: `id < cursor`, newest first, on the
(workspace, -id) / (post_id, -id) / (channel_id, -id) indexes)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from accounts.models import ActivityAction, ActivityEntry, ActivitySource

PAGE_SIZE = 50
# The query-string names of the filters (the API adds post and channel).
FILTER_NAMES = ("actor", "action", "source", "from", "to")
EXPORT_CHUNK = 1000


@dataclass(frozen=True)
class ActivityFilters:
    actor_id: int | None = None
    action: ActivityAction | None = None
    source: ActivitySource | None = None
    since: dt.date | None = None  # from this day (inclusive)
    until: dt.date | None = None  # to this day (inclusive)
    before: int | None = None  # the keyset cursor: entries older than this id

    def query(self, **extra) -> dict[str, str]:
        """The filters as query-string parameters (for links to the next page)."""
        out = {
            "actor": self.actor_id,
            "action": self.action,
            "source": self.source,
            "from": self.since and self.since.isoformat(),
            "to": self.until and self.until.isoformat(),
            **extra,
        }
        return {k: str(v) for k, v in out.items() if v not in (None, "")}


def _int(params: Mapping[str, str], name: str) -> int | None:
    raw = (params.get(name) or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise ValidationError({name: f"{name} must be a positive whole number."})
    return int(raw)


def _date(params: Mapping[str, str], name: str) -> dt.date | None:
    raw = (params.get(name) or "").strip()
    if not raw:
        return None
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        raise ValidationError({name: f"{name} must be a date as YYYY-MM-DD."}) from None
    # Bounded, so "the day after" and a zone's offset never leave datetime's range.
    if not 1970 <= day.year <= 9000:
        raise ValidationError({name: f"{name} must be a date between 1970 and 9000."})
    return day


def _choice(params: Mapping[str, str], name: str, enum):
    raw = (params.get(name) or "").strip()
    if not raw:
        return None
    if raw not in enum.values:
        raise ValidationError({name: f"Unknown {name} {raw!r}; one of: {', '.join(enum.values)}."})
    return enum(raw)


def parse_filters(params: Mapping[str, str]) -> ActivityFilters:
    """The filters of a query string; a bad value is a ValidationError naming its field."""
    filters = ActivityFilters(
        actor_id=_int(params, "actor"),
        action=_choice(params, "action", ActivityAction),
        source=_choice(params, "source", ActivitySource),
        since=_date(params, "from"),
        until=_date(params, "to"),
        before=_int(params, "before"),
    )
    if filters.since and filters.until and filters.since > filters.until:
        raise ValidationError({"to": "The end date is before the start date."})
    return filters


def _day_start(day: dt.date, tz) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=tz)


def entries(
    *,
    workspace_ids,
    filters: ActivityFilters,
    tz=dt.UTC,
    post_id: int | None = None,
    channel_id: int | None = None,
) -> QuerySet[ActivityEntry]:
    """The entries of these workspaces matching the filters, newest first (no cursor)."""
    qs = ActivityEntry.objects.filter(workspace_id__in=list(workspace_ids))
    if post_id is not None:
        qs = qs.filter(post_id=post_id)
    if channel_id is not None:
        qs = qs.filter(channel_id=channel_id)
    return apply_filters(qs, filters, tz=tz).order_by("-id")


def apply_filters(
    qs: QuerySet[ActivityEntry], filters: ActivityFilters, *, tz=dt.UTC
) -> QuerySet[ActivityEntry]:
    """The filters (not the cursor) on any query of entries."""
    if filters.actor_id is not None:
        qs = qs.filter(actor_id=filters.actor_id)
    if filters.action:
        qs = qs.filter(action=filters.action)
    if filters.source:
        qs = qs.filter(source=filters.source)
    # Days in the reader's zone: "from 3 March" means their 3 March.
    if filters.since:
        qs = qs.filter(at__gte=_day_start(filters.since, tz))
    if filters.until:
        qs = qs.filter(at__lt=_day_start(filters.until + dt.timedelta(days=1), tz))
    return qs


@dataclass(frozen=True)
class Page:
    rows: list[ActivityEntry]
    next_before: int | None  # the cursor of the next (older) page, None at the end


def page(qs: QuerySet[ActivityEntry], *, before: int | None, size: int = PAGE_SIZE) -> Page:
    """One keyset page (one query: one row more than shown tells whether there is more)."""
    if before is not None:
        qs = qs.filter(id__lt=before)
    rows = list(qs[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return Page(rows, rows[-1].id if more and rows else None)


def export_rows(qs: QuerySet[ActivityEntry]) -> Iterator[ActivityEntry]:
    """Every entry, in keyset chunks (memory and each query stay bounded however long)."""
    before = None
    while True:
        chunk = list((qs.filter(id__lt=before) if before else qs)[:EXPORT_CHUNK])
        yield from chunk
        if len(chunk) < EXPORT_CHUNK:
            return
        before = chunk[-1].id
