"""What the workers and beat's jobs did, recorded where /healthz and /metrics can read it.

Web, worker and beat are separate processes, so nothing is counted in process memory: each
fact is written to the shared cache (Redis) and read back at scrape time.

- the last worker heartbeat: every worker writes one every HEARTBEAT_SECONDS (a timer in
  its consumer, started by a consumer bootstep once it consumes tasks);
- the last run of the planner and of the watchdog: duration and result, from Celery's
  task signals around `scheduling.plan_upcoming` and `scheduling.watchdog`;
- running totals (Prometheus counters): planner runs, slots planned, watchdog actions.

These are hints for operators, not the truth of the schedule (the database is): a Redis
that restarted empty resets the totals, which Prometheus counters tolerate, and the next
heartbeat or run writes the rest again. The hooks below only call these functions.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from celery import bootsteps
from django.core.cache import cache

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 15
PLANNER_TASK = "scheduling.plan_upcoming"
PLAN_CHUNK_TASK = "scheduling.plan_chunk"  # a part of a planner run fanned out over workers
ENQUEUE_RANGE_TASK = "scheduling.enqueue_range"  # the fan-in's enqueue, also fanned out
WATCHDOG_TASK = "scheduling.watchdog"
RECORDED_TASKS = (PLANNER_TASK, PLAN_CHUNK_TASK, ENQUEUE_RANGE_TASK, WATCHDOG_TASK)

_KEY = "ops:{}"
_started: dict[str, float] = {}  # task id -> monotonic start, in the process running it
_started_lock = threading.Lock()


def _key(name: str) -> str:
    return _KEY.format(name)


def worker_heartbeat(*, hostname: str, now: float | None = None) -> None:
    cache.set(_key("worker"), {"at": now or time.time(), "hostname": hostname}, timeout=None)


def last_worker_heartbeat() -> dict | None:
    return cache.get(_key("worker"))


def _counts(result: Any) -> dict[str, int]:
    """The integer fields of a task's result ({"created": 3, "enqueued": 3})."""
    if not isinstance(result, dict):
        return {}
    return {
        str(k): int(v)
        for k, v in result.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


def _record_last(task: str, *, duration_s: float, counts: dict[str, int], now: float | None):
    cache.set(
        _key(f"run:{task}"),
        {"at": now or time.time(), "duration_s": duration_s, "counts": counts},
        timeout=None,
    )


def _add_totals(task: str, counts: dict[str, int]) -> None:
    for name, value in counts.items():
        if value:
            counter_add(f"{task}:{name}", value)


def planner_run_record(
    *, duration_s: float, created: int, enqueued: int = 0, now: float | None = None
) -> None:
    """A whole planner run finished (for a run fanned out over chunk tasks: called once the
    last chunk is done, with the run's duration). Sets the "last run" gauges only: the
    totals come from the tasks' results (plan_upcoming or plan_chunk)."""
    counts = {"created": created, "enqueued": enqueued}
    _record_last(PLANNER_TASK, duration_s=duration_s, counts=counts, now=now)


def task_run(*, task: str, duration_s: float, result: Any, now: float | None = None) -> None:
    """One finished planner, planner-chunk or watchdog task: last run and running totals.

    A planner task whose result counts what it created did the whole run itself; one
    that only fanned out ({"chunks": n}) leaves the last run to planner_run_record()
    and the totals to its chunk tasks.
    """
    counts = _counts(result)
    if task == ENQUEUE_RANGE_TASK:
        _add_totals(PLANNER_TASK, counts)
        return
    if task == PLAN_CHUNK_TASK:
        counter_add(f"{PLANNER_TASK}:chunks", 1)
        _add_totals(PLANNER_TASK, {k: v for k, v in counts.items() if k != "chunk"})
        return
    counter_add(f"{task}:runs", 1)
    if task == PLANNER_TASK and "created" not in counts:
        return
    _record_last(task, duration_s=duration_s, counts=counts, now=now)
    _add_totals(task, counts)


def last_run(task: str) -> dict | None:
    return cache.get(_key(f"run:{task}"))


def counter_add(name: str, value: int) -> None:
    key = _key(f"total:{name}")
    # add() is a SET NX: the first writer creates the key, everyone then INCRs atomically.
    cache.add(key, 0, timeout=None)
    try:
        cache.incr(key, value)
    except ValueError:  # the key vanished between add and incr (Redis flushed): start over
        cache.set(key, value, timeout=None)


def counters(task: str, names: list[str]) -> dict[str, int]:
    keys = {_key(f"total:{task}:{name}"): name for name in names}
    found = cache.get_many(list(keys))
    return {name: int(found.get(key) or 0) for key, name in keys.items()}


# --- Celery hooks (connected in queueloop.apps) --------------------------------------------


def _beat(hostname: str) -> None:
    try:
        worker_heartbeat(hostname=hostname)
    except Exception:  # Redis down: /healthz reports the broker; keep the worker going
        log.warning("could not record the worker heartbeat", exc_info=True)


class WorkerHeartbeatStep(bootsteps.StartStopStep):
    """A consumer bootstep: beat once consuming starts, then every HEARTBEAT_SECONDS on the
    consumer's own timer (no thread of ours). Added to every worker in queueloop.apps."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, c, **kwargs):
        self.tref = None
        super().__init__(c, **kwargs)

    def start(self, c) -> None:
        hostname = getattr(c, "hostname", None) or "worker"
        _beat(hostname)
        self.tref = c.timer.call_repeatedly(HEARTBEAT_SECONDS, _beat, (hostname,))

    def stop(self, c) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None


def on_task_prerun(sender=None, task_id=None, **kwargs) -> None:
    if getattr(sender, "name", None) in RECORDED_TASKS and task_id:
        with _started_lock:
            _started[task_id] = time.monotonic()


def on_task_postrun(sender=None, task_id=None, retval=None, state=None, **kwargs) -> None:
    with _started_lock:
        started = _started.pop(task_id, None) if task_id else None
    if started is None or state != "SUCCESS":
        return
    try:
        task_run(task=sender.name, duration_s=time.monotonic() - started, result=retval)
    except Exception:
        log.warning("could not record the %s run", sender.name, exc_info=True)
