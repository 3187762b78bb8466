"""GET /healthz: is this installation able to publish on time? No login, JSON, cheap.

Checks (each a few milliseconds; the database ones use indexes):
- database: a `SELECT 1`;
- broker: Redis answers PING within a second;
- planner: the planner ran within HEALTH_PLANNER_MAX_AGE (it runs hourly: 2 h means a run
  was missed); a planner that never ran yet (fresh install) is reported, not failed;
- worker: a Celery worker sent a heartbeat within HEALTH_WORKER_MAX_AGE;
- overdue: no slot is still `scheduled` HEALTH_OVERDUE_AFTER past its time (the watchdog
  re-enqueues lost messages after WATCHDOG_GRACE, so an older one means no one publishes);
- results: the metrics collector's lag (how long the oldest due snapshot has waited, at
  most HEALTH_RESULTS_MAX_LAG) and its failed calls by network (results/collector.py);
- email: whether this server sends email at all. Publishing does not need it, so a server
  without EMAIL_URL passes with a warning (password-reset and unlock links cannot be sent).

200 when every check passes, 503 otherwise. `?checks=database,broker` runs only those
(compose's web healthcheck: web is up even while the workers are still starting).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache

from ground import opsrecord
from ground.mail import email_backend_name, email_can_send
from networks.registry import names as network_names
from results.selectors import collector_failures, collector_health
from scheduling.models import PlannerState, Timeslot

OVERDUE_CAP = 10_000


def broker_client(*, timeout: float = 1.0) -> redis.Redis:
    url = settings.CELERY_BROKER_URL.replace("redis+socket://", "unix://", 1)
    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)


def _age(at: dt.datetime | float | None, now: dt.datetime) -> float | None:
    if at is None:
        return None
    stamp = at.timestamp() if isinstance(at, dt.datetime) else at
    return round(max(0.0, now.timestamp() - stamp), 1)


def check_database(now: dt.datetime) -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"ok": True}


def check_broker(now: dt.datetime) -> dict:
    try:
        broker_client().ping()
    except (redis.RedisError, OSError) as exc:
        return {"ok": False, "error": f"unreachable ({exc.__class__.__name__})"}
    return {"ok": True}


def check_planner(now: dt.datetime) -> dict:
    last = PlannerState.objects.filter(key="default").values_list("last_run_at", flat=True)
    last_run_at = next(iter(last), None)
    age = _age(last_run_at, now)
    limit = settings.HEALTH_PLANNER_MAX_AGE.total_seconds()
    report = {
        "ok": age is None or age <= limit,
        "last_run_at": last_run_at.isoformat() if last_run_at else None,
        "seconds_since_last_run": age,
        "max_age_seconds": limit,
    }
    if age is None:
        report["note"] = "the planner has not run yet"
    return report


def check_worker(now: dt.datetime) -> dict:
    try:
        beat = opsrecord.last_worker_heartbeat()
    except Exception as exc:  # the cache is the broker's Redis: reported there too
        return {"ok": False, "error": f"cannot read heartbeats ({exc.__class__.__name__})"}
    age = _age(beat["at"], now) if beat else None
    limit = settings.HEALTH_WORKER_MAX_AGE.total_seconds()
    return {
        "ok": age is not None and age <= limit,
        "seconds_since_last_heartbeat": age,
        "hostname": beat.get("hostname") if beat else None,
        "max_age_seconds": limit,
    }


def check_overdue(now: dt.datetime) -> dict:
    # Served by the partial index on publish_at WHERE status = 'scheduled'.
    due = Timeslot.objects.filter(
        status=Timeslot.Status.SCHEDULED, publish_at__lt=now - settings.WATCHDOG_GRACE
    )
    # At most OVERDUE_CAP counted: a stuck installation still answers at once.
    count = due.order_by()[:OVERDUE_CAP].count()
    oldest = due.order_by("publish_at").values_list("publish_at", flat=True).first()
    late = _age(oldest, now)
    limit = settings.HEALTH_OVERDUE_AFTER.total_seconds()
    return {
        "ok": late is None or late <= limit,
        "count": count,
        "oldest_seconds_late": late,
        "max_late_seconds": limit,
    }


def check_email(now: dt.datetime) -> dict:
    report = {"ok": True, "sends": email_can_send(), "backend": email_backend_name()}
    if not report["sends"]:
        report["warning"] = "this server cannot send email: set EMAIL_URL"
    return report


def check_results(now: dt.datetime) -> dict:
    health = collector_health(now=now)
    limit = settings.HEALTH_RESULTS_MAX_LAG.total_seconds()
    failures = {name: n for name, n in collector_failures(network_names()).items() if n}
    return {
        "ok": health["lag_seconds"] <= limit,
        "due": health["due"],
        "lag_seconds": health["lag_seconds"],
        "max_lag_seconds": limit,
        "failures_by_network": {k.removeprefix("failures:"): v for k, v in failures.items()},
    }


CHECKS: dict[str, Callable[[dt.datetime], dict]] = {
    "database": check_database,
    "broker": check_broker,
    "planner": check_planner,
    "worker": check_worker,
    "overdue": check_overdue,
    "results": check_results,
    "email": check_email,
}


def run_checks(names: list[str], *, now: dt.datetime) -> dict[str, dict]:
    results: dict[str, dict] = {}
    for name in names:
        started = time.monotonic()
        try:
            result = CHECKS[name](now)
        except Exception as exc:  # a failing check is a 503 with its reason, never a 500
            result = {"ok": False, "error": exc.__class__.__name__}
        result["ms"] = round((time.monotonic() - started) * 1000, 1)
        results[name] = result
    return results


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    wanted = [n.strip() for n in request.GET.get("checks", "").split(",") if n.strip()]
    unknown = [n for n in wanted if n not in CHECKS]
    if unknown:
        return JsonResponse(
            {"error": f"Unknown check(s): {', '.join(unknown)}. Choose from {', '.join(CHECKS)}."},
            status=400,
        )
    now = timezone.now()
    checks = run_checks(wanted or list(CHECKS), now=now)
    ok = all(c["ok"] for c in checks.values())
    return JsonResponse(
        {"status": "ok" if ok else "fail", "time": now.isoformat(), "checks": checks},
        status=200 if ok else 503,
    )
