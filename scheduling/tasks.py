"""Thin Celery tasks for the clock: beat calls these; scheduling/services.py does the work."""

from __future__ import annotations

from celery import shared_task

from scheduling import services


@shared_task(name="scheduling.plan_upcoming", soft_time_limit=600, time_limit=660)
def plan_upcoming() -> dict:
    result = services.plan_upcoming()
    return {"created": result.created, "enqueued": result.enqueued}


@shared_task(name="scheduling.watchdog", soft_time_limit=50, time_limit=58)
def watchdog() -> dict:
    result = services.watchdog_run()
    return vars(result)
