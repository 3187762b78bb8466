"""Reads of the results: the collector's health, a post's and a delivery's counts."""

from __future__ import annotations

import datetime as dt

from django.db.models import Prefetch

from ground import opsrecord
from publishing.models import Delivery
from results.collector import TASK
from results.models import Snapshot, Tracking

DUE_CAP = 10_000


def collector_health(*, now: dt.datetime) -> dict:
    """How far behind the collector is: the oldest due collection's wait (the partial index
    on due_at, LIMIT 1) and how many are due (at most DUE_CAP counted)."""
    due = Tracking.objects.filter(due_at__lte=now)
    oldest = due.order_by("due_at").values_list("due_at", flat=True).first()
    return {
        "due": due.order_by()[:DUE_CAP].count(),
        "lag_seconds": round((now - oldest).total_seconds(), 1) if oldest else 0.0,
    }


def collector_failures(networks: list[str]) -> dict[str, int]:
    """Failed metrics calls since the cache began, by network (ground.opsrecord counters)."""
    return opsrecord.counters(TASK, [f"failures:{n}" for n in networks])


def snapshots_prefetch() -> Prefetch:
    return Prefetch("snapshots", queryset=Snapshot.objects.order_by("taken_at", "id"))


def deliveries_with_results(deliveries):
    """Deliveries with their snapshots: two queries whatever their number."""
    return deliveries.select_related("account").prefetch_related(snapshots_prefetch())


def post_deliveries(post_id: int):
    """A post's sent-or-finished deliveries, newest first, with their snapshots."""
    return deliveries_with_results(
        Delivery.objects.filter(post_id=post_id).order_by("-created_at", "-id")
    )


def latest(delivery) -> Snapshot | None:
    """The newest snapshot of a delivery fetched with deliveries_with_results()."""
    snapshots = list(delivery.snapshots.all())
    return snapshots[-1] if snapshots else None
