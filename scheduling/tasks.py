"""Thin Celery tasks for the clock: beat calls these; scheduling's services do the work."""

from __future__ import annotations

from celery import shared_task

from scheduling import planner, services


@shared_task(name="scheduling.plan_upcoming", soft_time_limit=600, time_limit=660)
def plan_upcoming() -> dict:
    """Beat's hourly run: fan the planning out as one plan_chunk task per range of
    schedules, so every worker plans (the last chunk moves the watermark). First, pinned
    and moved slots keep their local time if the running tzdata changed a zone's rules."""
    from scheduling import wall_times

    kept = wall_times.wall_times_check()
    return {"chunks": planner.planner_fan_out(), "wall_times_kept": kept}


@shared_task(name="scheduling.plan_chunk", soft_time_limit=600, time_limit=660)
def plan_chunk(chunk_id: int, gap: list[str] | None = None) -> dict:
    result = planner.planner_chunk_run(chunk_id=chunk_id, gap=gap)
    if result is None:
        return {"chunk": chunk_id, "gone": True}
    return {"chunk": chunk_id, "created": result.created, "enqueued": result.enqueued}


@shared_task(name="scheduling.enqueue_range", soft_time_limit=600, time_limit=660)
def enqueue_range(since: str | None, until: str) -> dict:
    return {"enqueued": planner.enqueue_range(since=since, until=until)}


@shared_task(name="scheduling.watchdog", soft_time_limit=50, time_limit=58)
def watchdog() -> dict:
    result = services.watchdog_run()
    return vars(result)


@shared_task(name="scheduling.lint_upcoming", soft_time_limit=600, time_limit=660)
def lint_upcoming() -> dict:
    """Beat, hourly: the next 24 hours' problems, one notice (and email) per workspace."""
    from scheduling import lint

    return {"workspaces": lint.lint_notify()}


@shared_task(name="scheduling.check_wall_times", soft_time_limit=600, time_limit=660)
def check_wall_times() -> dict:
    """At beat's start-up (queueloop/celery.py): pins keep their local time if the
    running tzdata changed a zone's rules (also checked at every planner run)."""
    from scheduling import wall_times

    return {"kept": wall_times.wall_times_check()}
