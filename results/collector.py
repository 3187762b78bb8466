"""The metrics collector: sent deliveries' public counts at +1 h, +24 h and +7 days.

Each run (results.collect_metrics, every minute on its own queue, DESIGN §4 "Results"):

1. enrols the deliveries sent since the newest enrolled one (a `Tracking` row each, due
   an hour after sending): one SELECT (anti-joined, so a burst of sends never stalls it)
   and one INSERT;
2. claims up to RESULTS_BATCH due rows (tracking_due_idx, SKIP LOCKED) and pushes their
   due_at a lease ahead, so a second run never collects them too and a run that died is
   retried when the lease ends;
3. asks each account's network once (`ReportsMetrics.metrics`, batched by the network:
   100 X ids a call, 25 Bluesky uris...), and writes every snapshot in one INSERT and every
   tracking row in one UPDATE — the same few queries whatever the batch holds.

A RateLimited answer moves that account's rows to the network's reset time; other
failures back off (RESULTS_RETRY, doubling, at most a day). Nothing here touches a
delivery or a publish: the task is on RESULTS_QUEUE with the lowest priority.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import Max

from ground import opsrecord
from networks import get_provider
from networks.base import ProviderError, RateLimited
from networks.contract import Counts, Deleted, ReportsMetrics
from publishing.models import Delivery
from results.models import AGE_DELAYS, AGES, Age, Snapshot, Tracking

log = logging.getLogger(__name__)

TASK = "results.collect_metrics"
# A delivery recorded as sent a little after a later one was (its chunk committed later)
# is still enrolled: each run looks this far behind the newest enrolled.
ENROLL_MARGIN = dt.timedelta(minutes=15)
ENROLL_BATCH = 5000
# How long a claimed row stays out of other runs' reach (above the task's time limit).
LEASE = dt.timedelta(minutes=5)
MAX_BACKOFF = dt.timedelta(days=1)
# When the network answered but left an id out (not read this time).
UNREAD_RETRY = dt.timedelta(minutes=30)
# At most this many of one account's posts a run (Mastodon reads one status a call), and
# no network call starts after the budget (the task's soft limit is 50 s): the rest are
# released, due again at once, for the next run.
PER_ACCOUNT = 100
TIME_BUDGET = 30.0
TRACKING_FIELDS = ["state", "next_age", "due_at", "age_due_at", "failures", "last_error"]


@dataclass
class Outcome:
    enrolled: int = 0
    claimed: int = 0
    snapshots: int = 0
    deleted: int = 0
    rate_limited: int = 0
    failed: int = 0
    released: int = 0
    failures_by_network: Counter = field(default_factory=Counter)


def trackings_enroll(*, now: dt.datetime) -> int:
    newest = Tracking.objects.aggregate(newest=Max("sent_at"))["newest"]
    since = newest - ENROLL_MARGIN if newest else now - AGE_DELAYS[Age.WEEK] - ENROLL_MARGIN
    rows = list(
        Delivery.objects.filter(
            status=Delivery.Status.SENT,
            sent_at__gte=since,
            sent_at__lte=now,
            tracking__isnull=True,
        )
        .exclude(external_id="")
        .order_by("sent_at")
        .values_list("id", "sent_at")[:ENROLL_BATCH]
    )
    first = AGES[0]
    Tracking.objects.bulk_create(
        [
            Tracking(
                delivery_id=delivery_id,
                sent_at=sent_at,
                next_age=first,
                due_at=sent_at + first.delay,
                age_due_at=sent_at + first.delay,
            )
            for delivery_id, sent_at in rows
        ],
        ignore_conflicts=True,
    )
    return len(rows)


def _claim(*, now: dt.datetime, limit: int) -> list[Tracking]:
    with transaction.atomic():
        ids = list(
            Tracking.objects.select_for_update(skip_locked=True)
            .filter(due_at__lte=now)
            .order_by("due_at")
            .values_list("pk", flat=True)[:limit]
        )
        if not ids:
            return []
        Tracking.objects.filter(pk__in=ids).update(due_at=now + LEASE)
    return list(
        Tracking.objects.filter(pk__in=ids).select_related("delivery__account").order_by("pk")
    )


def _age_reached(tracking: Tracking, now: dt.datetime) -> Age:
    """The oldest age this delivery has reached (a collector that was down for two days
    takes the +24 h snapshot, not a late +1 h one)."""
    reached = Age(tracking.next_age)
    for age in AGES[AGES.index(reached) :]:
        if tracking.sent_at + age.delay <= now:
            reached = age
    return reached


def _advance(tracking: Tracking, taken: Age) -> None:
    later = AGES[AGES.index(taken) + 1 :]
    tracking.failures = 0
    tracking.last_error = ""
    if later:
        tracking.next_age = later[0]
        tracking.due_at = tracking.age_due_at = tracking.sent_at + later[0].delay
    else:
        tracking.state = Tracking.State.DONE
        tracking.next_age = ""
        tracking.due_at = tracking.age_due_at = None


def _backoff(tracking: Tracking, *, now: dt.datetime, message: str) -> None:
    tracking.failures += 1
    delay = min(settings.RESULTS_RETRY * 2 ** (tracking.failures - 1), MAX_BACKOFF)
    tracking.due_at = now + delay
    tracking.last_error = message[:1000]


def _finish(tracking: Tracking, state: Tracking.State, message: str = "") -> None:
    tracking.state = state
    tracking.next_age = ""
    tracking.due_at = tracking.age_due_at = None
    tracking.last_error = message


def metrics_collect(*, now: dt.datetime, limit: int | None = None) -> Outcome:
    outcome = Outcome(enrolled=trackings_enroll(now=now))
    claimed = _claim(now=now, limit=limit or settings.RESULTS_BATCH)
    outcome.claimed = len(claimed)
    by_account: dict[int, list[Tracking]] = defaultdict(list)
    for tracking in claimed:
        by_account[tracking.delivery.account_id].append(tracking)
    snapshots: list[Snapshot] = []
    started = time.monotonic()
    for trackings in by_account.values():
        if time.monotonic() - started > TIME_BUDGET:
            trackings, released = [], trackings
        else:
            trackings, released = trackings[:PER_ACCOUNT], trackings[PER_ACCOUNT:]
        for tracking in released:
            tracking.due_at = now
            outcome.released += 1
        if not trackings:
            continue
        account = trackings[0].delivery.account
        try:
            network = get_provider(account.provider)
        except ValueError:  # a network no longer installed
            network = None
        if not isinstance(network, ReportsMetrics):
            for tracking in trackings:
                _finish(tracking, Tracking.State.UNSUPPORTED, "Its network reports no metrics.")
            continue
        ids = list(dict.fromkeys(t.delivery.external_id for t in trackings))
        try:
            answer = network.metrics(account, ids)
        except RateLimited as exc:
            # The whole account waits for the network's reset (never before a minute).
            until = max(exc.reset_at, now + dt.timedelta(minutes=1))
            for tracking in trackings:
                tracking.due_at = until
                tracking.last_error = exc.message[:1000]
            outcome.rate_limited += len(trackings)
            outcome.failures_by_network[account.provider] += 1
            continue
        except Exception as exc:  # a network's failure (or bug) never stops the others
            message = exc.message if isinstance(exc, ProviderError) else exc.__class__.__name__
            if not isinstance(exc, ProviderError):
                log.exception("metrics of account %s failed", account.id)
            for tracking in trackings:
                _backoff(tracking, now=now, message=message)
            outcome.failed += len(trackings)
            outcome.failures_by_network[account.provider] += 1
            continue
        for tracking in trackings:
            result = answer.get(tracking.delivery.external_id)
            age = _age_reached(tracking, now)
            if isinstance(result, Deleted):
                snapshots.append(
                    Snapshot(delivery_id=tracking.pk, taken_at=now, age=age, deleted=True)
                )
                _finish(tracking, Tracking.State.DELETED, result.reason)
                outcome.deleted += 1
            elif isinstance(result, Counts):
                snapshots.append(
                    Snapshot(
                        delivery_id=tracking.pk,
                        taken_at=now,
                        age=age,
                        likes=result.likes,
                        reposts=result.reposts,
                        replies=result.replies,
                        quotes=result.quotes,
                        impressions=result.impressions,
                    )
                )
                _advance(tracking, age)
            else:
                tracking.due_at = now + UNREAD_RETRY
    # One transaction: a snapshot is never seen without its tracking moved on (a reader, or
    # a collector killed between the two writes, would take the same age twice).
    with transaction.atomic():
        # Unique per (delivery, age): a run whose lease ran out while another wrote is harmless.
        Snapshot.objects.bulk_create(snapshots, ignore_conflicts=True)
        if claimed:
            Tracking.objects.bulk_update(claimed, TRACKING_FIELDS)
    outcome.snapshots = len(snapshots)
    for provider, n in outcome.failures_by_network.items():
        opsrecord.counter_add(f"{TASK}:failures:{provider}", n)
    if outcome.snapshots:
        opsrecord.counter_add(f"{TASK}:snapshots", outcome.snapshots)
    return outcome
