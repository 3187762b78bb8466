"""GET /metrics: Prometheus text format, computed at scrape time.

Web, worker and beat are separate processes, so there is no in-memory registry to export:
a custom collector reads the database (the truth about slots and deliveries), the shared
cache (what the planner and watchdog jobs and the workers recorded, ground/opsrecord.py)
and the broker (queue length). About ten queries per scrape, each over a bounded window
(METRICS_WINDOW, served by an index), so a scrape costs the same after a year of history.

Protected: a scraper sends `Authorization: Bearer <METRICS_TOKEN>`, or connects from an
address in METRICS_ALLOWED_IPS. With neither set, /metrics answers 403.
"""

from __future__ import annotations

import datetime as dt
import hmac
import ipaddress
from collections.abc import Iterator

import redis
from django.conf import settings
from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from accounts.models import SocialAccount
from ground import opsrecord
from networks.registry import names as network_names
from ops.health_views import broker_client
from publishing.models import Delivery
from queueloop.celery import app as celery_app
from results.selectors import collector_failures, collector_health
from scheduling.models import PlannerState, Timeslot

# Seconds from a slot's publish_at to the provider's answer. We aim for "on the second".
LATENESS_BUCKETS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
OVERDUE_CAP = 10_000
WATCHDOG_ACTIONS = (
    "missed",
    "requeued",
    "enqueued",
    "deliveries_redispatched",
    "deliveries_unconfirmed",
    "settled",
)


class QueueLoopCollector(Collector):
    def __init__(self, *, now: dt.datetime):
        self.now = now

    def collect(self) -> Iterator:
        yield from self._lateness()
        yield from self._timeslots()
        yield from self._deliveries()
        yield from self._planner()
        yield from self._watchdog()
        yield from self._broker()
        yield from self._results()

    def _lateness(self) -> Iterator:
        window = settings.METRICS_WINDOW
        family = HistogramMetricFamily(
            "queueloop_publish_lateness_seconds",
            "Seconds from a slot's publish_at to the provider's answer, for the deliveries "
            f"sent in the last {int(window.total_seconds())} s (METRICS_WINDOW), by provider.",
            labels=["provider"],
        )
        lateness = ExpressionWrapper(
            F("sent_at") - F("timeslot__publish_at"), output_field=DurationField()
        )
        buckets = {
            f"le_{i}": Count("id", filter=Q(lateness__lte=dt.timedelta(seconds=bound)))
            for i, bound in enumerate(LATENESS_BUCKETS)
        }
        rows = (
            Delivery.objects.filter(status=Delivery.Status.SENT, sent_at__gte=self.now - window)
            .annotate(lateness=lateness)
            .values("account__provider")
            .annotate(n=Count("id"), total=Sum("lateness"), **buckets)
            .order_by("account__provider")
        )
        for row in rows:
            total = row["total"]
            seconds = total.total_seconds() if isinstance(total, dt.timedelta) else 0.0
            family.add_metric(
                [row["account__provider"]],
                [(str(b), row[f"le_{i}"]) for i, b in enumerate(LATENESS_BUCKETS)]
                + [("+Inf", row["n"])],
                sum_value=seconds,
            )
        yield family

    def _timeslots(self) -> Iterator:
        # Over a window, never the whole history: a year of slots is a full-table GROUP BY
        # (800k rows at agency size). A range of timeslot_recent_idx instead.
        window = settings.METRICS_WINDOW
        counts = dict(
            Timeslot.objects.filter(
                publish_at__gte=self.now - window,
                publish_at__lt=self.now + settings.PLANNER_HORIZON,
            )
            .order_by()
            .values_list("status")
            .annotate(n=Count("id"))
        )
        family = GaugeMetricFamily(
            "queueloop_timeslots",
            f"Timeslots by status whose publish_at is in the last {int(window.total_seconds())} "
            "s (METRICS_WINDOW) or the planned window ahead (PLANNER_HORIZON).",
            labels=["status"],
        )
        for status in Timeslot.Status.values:
            family.add_metric([status], counts.get(status, 0))
        yield family
        # The partial index on scheduled slots; LIMIT: a stuck installation with a million
        # overdue slots still answers at once (the count then reads OVERDUE_CAP).
        overdue = (
            Timeslot.objects.filter(
                status=Timeslot.Status.SCHEDULED, publish_at__lt=self.now - settings.WATCHDOG_GRACE
            )
            .order_by()[:OVERDUE_CAP]
            .count()
        )
        yield GaugeMetricFamily(
            "queueloop_timeslots_overdue",
            f"Timeslots still scheduled WATCHDOG_GRACE past their time (at most {OVERDUE_CAP}).",
            value=overdue,
        )

    def _deliveries(self) -> Iterator:
        window = settings.METRICS_WINDOW
        rows = (
            Delivery.objects.filter(created_at__gte=self.now - window)
            .order_by()
            .values_list("account__provider", "status")
            .annotate(n=Count("id"))
        )
        counts = {(provider, status): n for provider, status, n in rows}
        family = GaugeMetricFamily(
            "queueloop_deliveries",
            "Deliveries by provider and status, of those created in the last "
            f"{int(window.total_seconds())} s (METRICS_WINDOW).",
            labels=["provider", "status"],
        )
        providers = {p for p, _ in counts} | {SocialAccount.Provider.SANDBOX}
        for provider in sorted(providers):
            for status in Delivery.Status.values:
                family.add_metric([provider, status], counts.get((provider, status), 0))
        yield family

    def _planner(self) -> Iterator:
        last_run_at = (
            PlannerState.objects.filter(key="default").values_list("last_run_at", flat=True).first()
        )
        if last_run_at is not None:
            yield GaugeMetricFamily(
                "queueloop_planner_last_run_timestamp_seconds",
                "When the planner last finished a run (Unix time).",
                value=last_run_at.timestamp(),
            )
        run = opsrecord.last_run(opsrecord.PLANNER_TASK)
        if run is not None:
            yield GaugeMetricFamily(
                "queueloop_planner_last_duration_seconds",
                "How long the last planner task (plan_upcoming) took.",
                value=run["duration_s"],
            )
            yield GaugeMetricFamily(
                "queueloop_planner_last_slots_planned",
                "Slots the last planner task created.",
                value=run["counts"].get("created", 0),
            )
        totals = opsrecord.counters(
            opsrecord.PLANNER_TASK, ["runs", "chunks", "created", "enqueued"]
        )
        for name, doc in (
            ("runs", "Planner task runs."),
            ("chunks", "Planner chunk tasks run (a run fans out over the workers)."),
            ("created", "Slots created by the planner task."),
            ("enqueued", "Publish messages the planner task enqueued."),
        ):
            yield CounterMetricFamily(f"queueloop_planner_{name}", doc, value=totals[name])

    def _watchdog(self) -> Iterator:
        run = opsrecord.last_run(opsrecord.WATCHDOG_TASK)
        names = sorted(set(WATCHDOG_ACTIONS) | set((run or {}).get("counts", {})))
        totals = opsrecord.counters(opsrecord.WATCHDOG_TASK, [*names, "runs"])
        yield CounterMetricFamily(
            "queueloop_watchdog_runs", "Watchdog task runs.", value=totals["runs"]
        )
        family = CounterMetricFamily(
            "queueloop_watchdog_actions",
            "What the watchdog repaired: slots marked missed, re-enqueued, deliveries "
            "re-dispatched or turned unconfirmed, slots settled.",
            labels=["action"],
        )
        for name in names:
            family.add_metric([name], totals[name])
        yield family

    def _broker(self) -> Iterator:
        up = GaugeMetricFamily("queueloop_broker_up", "1 if the broker answered.")
        try:
            client = broker_client()
            queue = celery_app.conf.task_default_queue  # "celery" unless configured
            with client.pipeline(transaction=False) as pipe:
                pipe.llen(queue)
                pipe.hlen("unacked")
                waiting, unacked = pipe.execute()
        except (redis.RedisError, OSError):
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        depth = GaugeMetricFamily(
            "queueloop_broker_queue_length",
            "Messages waiting in the broker queue (not yet taken by a worker).",
            labels=["queue"],
        )
        depth.add_metric([queue], waiting)
        yield depth
        yield GaugeMetricFamily(
            "queueloop_broker_unacked_messages",
            "Messages workers hold unacknowledged: mostly publish messages waiting for their ETA.",
            value=unacked,
        )

    def _results(self) -> Iterator:
        """The metrics collector (results/collector.py): two indexed queries."""
        health = collector_health(now=self.now)
        yield GaugeMetricFamily(
            "queueloop_results_lag_seconds",
            "How long the oldest due metrics snapshot has waited (0 when none is due).",
            value=health["lag_seconds"],
        )
        yield GaugeMetricFamily(
            "queueloop_results_due",
            "Metrics snapshots due and not yet taken (at most 10000 counted).",
            value=health["due"],
        )
        names = network_names()
        failures = collector_failures(names)
        family = CounterMetricFamily(
            "queueloop_results_failures",
            "Metrics calls that failed (rate limits included), by network.",
            labels=["network"],
        )
        for name in names:
            family.add_metric([name], failures[f"failures:{name}"])
        yield family


def _remote_allowed(request: HttpRequest) -> bool:
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in settings.METRICS_ALLOWED_NETWORKS)


def _token_ok(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return (
        bool(token)
        and scheme.lower() == "bearer"
        and hmac.compare_digest(given.strip().encode(), token.encode())
    )


@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    if not settings.METRICS_TOKEN and not settings.METRICS_ALLOWED_NETWORKS:
        return HttpResponse(
            "Metrics are off: set METRICS_TOKEN or METRICS_ALLOWED_IPS.\n",
            status=403,
            content_type="text/plain",
        )
    if not (_token_ok(request) or _remote_allowed(request)):
        response = HttpResponse("Unauthorized.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    registry = CollectorRegistry(auto_describe=False)
    registry.register(QueueLoopCollector(now=timezone.now()))
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
