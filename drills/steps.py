"""What the drills share: time, the settings a drill runs with, planning now, waiting for
deliveries, and the checks every publishing drill makes."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from drills.harness import (
    Ctx,
    check,
    db_retry,
    delivery_counts,
)
from drills.infra import wait_until

SECOND = dt.timedelta(seconds=1)


def now() -> dt.datetime:
    from django.utils import timezone

    return timezone.now()


def watchdog_period(ctx: Ctx) -> float:
    return float(ctx.settings.get("DRILL_WATCHDOG_EVERY", 60))


def seconds(ctx: Ctx, name: str) -> float:
    return float(ctx.settings[name])


def recovery_timeout(ctx: Ctx) -> float:
    """Enough for two watchdog runs after WATCHDOG_GRACE and SEND_TIMEOUT, plus the work."""
    return (
        seconds(ctx, "WATCHDOG_GRACE")
        + seconds(ctx, "SEND_TIMEOUT")
        + 3 * watchdog_period(ctx)
        + (120 if ctx.quick else 240)
    )


def plan_now() -> int:
    """What the hourly planner (or `manage.py plan_timeslots`) does: plan and enqueue."""
    from scheduling import services

    result = services.planner_run()
    return result.created


def wait_sent_fraction(fraction: float, total: int, timeout: float) -> Counter:
    def enough():
        counts = delivery_counts()
        return counts if counts.get("sent", 0) >= fraction * total else None

    return wait_until(enough, timeout=timeout, interval=0.05, what=f"{fraction:.0%} sent")


def slot_counts() -> dict:
    from scheduling.models import Timeslot

    return dict(db_retry(lambda: Counter(Timeslot.objects.values_list("status", flat=True))))


def publish_checks(result: dict) -> None:
    m = result["measure"]
    check(
        result,
        "webhook deliveries all end sent",
        m["webhook"]["not_sent"] == 0,
        str(m["deliveries"]),
    )
    check(
        result,
        "each webhook key received at least once and acted on once",
        m["webhook"]["keys"] == m["webhook"]["deliveries"] and m["webhook"]["acted_twice"] == 0,
        f"keys={m['webhook']['keys']} deliveries={m['webhook']['deliveries']} "
        f"repeats absorbed={m['webhook']['repeats']}",
    )
    check(
        result,
        "X deliveries end sent or unconfirmed, never created twice",
        m["x"]["not_sent_or_unconfirmed"] == 0 and m["x"]["created_twice"] == 0,
        f"creates={m['x']['creates']} unconfirmed that did reach X={m['x']['unconfirmed_created']}",
    )
