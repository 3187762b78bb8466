"""Scenario 1: the hourly planner, in one process and fanned out to two workers; and the
planner's profile."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from bench.data import make_channels, make_queues, make_schedules, make_workspace
from bench.harness import (
    PLAN_CHUNK,
    PLAN_QUEUE,
    PY,
    QUEUE,
    ROOT,
    UTC,
    broker_publish_counts,
    cpu_seconds,
    database_create,
    database_drop,
    log,
    redis_cleanup,
    redis_client,
    redis_reset,
    rss_mb,
    truncate_all,
    wait_until,
    workers_start,
    workers_stop,
)

# --- Scenario 1: planner -----------------------------------------------------------------


def plan_once(args) -> None:
    """Child process: one planner_run, measured; prints one JSON line."""
    import django

    django.setup()
    from django.db import connection

    from scheduling import enqueue
    from scheduling.services import planner_run

    queries = [0]
    broker = [0.0]

    def count(execute, sql, params, many, context):
        queries[0] += 1
        return execute(sql, params, many, context)

    real_send_now = enqueue.send_now

    def timed_send_now(messages):
        t = time.perf_counter()
        try:
            return real_send_now(messages)
        finally:
            broker[0] += time.perf_counter() - t

    enqueue.send_now = timed_send_now
    connection.ensure_connection()
    # Warm the broker connection pool outside the timing, as a running worker has it.
    from queueloop.celery import app

    with app.producer_or_acquire():
        pass
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    now = dt.datetime.fromisoformat(args.now)
    until = dt.datetime.fromisoformat(args.until)
    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.001)
        profiler.start()
    with connection.execute_wrapper(count):
        started, cpu = time.perf_counter(), time.process_time()
        result = planner_run(now=now, until=until)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    if profiler:
        profiler.stop()
        print(profiler.output_text(unicode=False, color=False), file=sys.stderr)
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {
        "created": result.created,
        "enqueued": result.enqueued,
        "seconds": round(elapsed, 3),
        "cpu_seconds": round(cpu, 3),
        "cpu_ms_per_slot": round(cpu * 1000 / max(result.enqueued, 1), 3),
        "broker_seconds": round(broker[0], 3),
        "queries": queries[0],
        "rss_before_mb": round(base_rss, 1),
        "peak_rss_mb": round(peak_rss, 1),
    }
    print(json.dumps(out), flush=True)


def planner_data(n: int):
    """N channels x 2 daily schedules, each firing once in [now, now + 75 min).

    Each channel has a ready post in its queue, as channels in use do: the fan-out's last
    chunk warns the owners of channels whose queue is empty, which would otherwise add one
    notice (and one email task) per channel to the two-worker run only.
    """
    from django.db import connection

    truncate_all()
    redis_reset()
    ws = make_workspace("planner")
    channels = make_channels(ws, n)
    make_queues(ws, channels)
    now = dt.datetime.now(UTC).replace(microsecond=0)
    until = now + dt.timedelta(minutes=75)

    # Times spread over minutes 16..73 of the window (the hourly run plans 15+ min ahead).
    def times_for(i: int):
        a = now + dt.timedelta(minutes=16 + i % 29, seconds=(i * 7) % 60)
        return [a, a + dt.timedelta(minutes=29)]

    make_schedules(channels, times_for)
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    return channels, now, until


def plan_in_child(now, until, *, profile: bool = False) -> dict:
    cmd = [PY, "-m", "bench.run", "plan-once", "--now", now.isoformat()]
    cmd += ["--until", until.isoformat()] + (["--profile"] if profile else [])
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if out.returncode:
        raise RuntimeError(f"plan-once failed:\n{out.stderr[-3000:]}")
    if profile:
        print(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def profile_planner(args) -> None:
    """One planner_run over N channels x 2 schedules in a child process, profiled."""
    import django

    database_create()
    django.setup()
    from django.core.management import call_command

    try:
        call_command("migrate", verbosity=0)
        _, now, until = planner_data(args.n)
        print(json.dumps(plan_in_child(now, until, profile=not args.no_profiler)))
    finally:
        redis_cleanup()
        database_drop()


def _planner_reset() -> None:
    """Forget the slots and messages of a planner run (keeps queue bindings and workers)."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "TRUNCATE scheduling_timeslot, scheduling_plannerstate, scheduling_plannerchunk CASCADE"
        )
        cur.execute("VACUUM ANALYZE scheduling_timeslot")
    redis_client().delete(QUEUE, PLAN_QUEUE, "bench:plan:done")


def planner_chunk_size(schedules: int) -> int:
    """PLANNER_CHUNK_SIZE for the fan-out: the environment's if set, else the app's default
    (2,000) capped so that the run has at least 10 chunks (5 per worker process)."""
    from django.conf import settings

    if os.environ.get("PLANNER_CHUNK_SIZE"):
        return settings.PLANNER_CHUNK_SIZE
    return max(1, min(settings.PLANNER_CHUNK_SIZE, math.ceil(schedules / 10)))


def _planner_fan_out(now, until, procs, chunk_size: int) -> dict:
    """The real fan-out: `planner_fan_out` here (as `scheduling.plan_upcoming` does), the
    `scheduling.plan_chunk` tasks in the planner workers; done when the last chunk's fan-in
    has moved PlannerState.last_run_at to this run."""
    from django.test.utils import override_settings

    from scheduling.models import PlannerChunk, PlannerState, Timeslot
    from scheduling.planner import planner_fan_out

    r = redis_client()
    cpu_before = cpu_seconds(procs)
    started, own_cpu = time.time(), time.process_time()
    with override_settings(PLANNER_CHUNK_SIZE=chunk_size):
        chunks = planner_fan_out(now=now, until=until)
    own_cpu = time.process_time() - own_cpu
    fan_out_seconds = time.time() - started

    def parts() -> list[dict]:
        return [json.loads(x) for x in r.lrange("bench:plan:done", 0, -1)]

    def fanned_in() -> bool:
        # Every chunk done, the watermark moved, and the fan-in's enqueue_range tasks done:
        # no planned slot is left without its publish message.
        return (
            sum(p["task"] == PLAN_CHUNK for p in parts()) >= chunks
            and PlannerState.objects.filter(key="default", last_run_at=now).exists()
            and not Timeslot.objects.filter(status="scheduled", enqueued_at=None).exists()
        )

    finished_in_time = wait_until(fanned_in, timeout=600, interval=0.05)
    worker_cpu = cpu_seconds(procs) - cpu_before
    done = parts()
    if not finished_in_time or any("error" in p for p in done):
        raise RuntimeError(f"planner fan-out did not finish: {done}\n{procs[0].tail()}")
    elapsed = max(p["finished"] for p in done) - started
    chunk_parts = [p for p in done if p["task"] == PLAN_CHUNK]
    enqueue_parts = [p for p in done if p["task"] != PLAN_CHUNK]
    enqueued = Timeslot.objects.exclude(enqueued_at=None).count()
    broker = broker_publish_counts()
    state = PlannerState.objects.get(key="default")
    return {
        "workers": 2,
        "tasks": chunks,
        "chunk_size": chunk_size,
        "created": sum(p.get("created", 0) for p in chunk_parts),
        "enqueue_tasks": len(enqueue_parts),
        "enqueued": enqueued,
        "seconds": round(elapsed, 3),
        "fan_out_seconds": round(fan_out_seconds, 3),
        "per_second": round(enqueued / elapsed, 1),
        "worker_cpu_seconds": round(worker_cpu, 3),
        "cpu_ms_per_slot": round((worker_cpu + own_cpu) * 1000 / max(enqueued, 1), 3),
        "processes_used": len({p["pid"] for p in done}),
        "task_seconds_sum": round(sum(p["finished"] - p["started"] for p in done), 2),
        "chunks_done": PlannerChunk.objects.filter(done_at__isnull=False).count(),
        "fanned_in": state.last_run_at == now,
        "last_run_created": state.last_run_created,
        "messages_on_broker": broker["publish_messages"],
        "slots_on_broker": broker["slots"],
        "other_messages_on_broker": broker["other_messages"],
        "timeslots_in_db": Timeslot.objects.count(),
        "worker_rss_mb": round(rss_mb(procs[0].pid), 1),
    }


def scenario_planner(n: int, logdir: Path, reps: int) -> dict:
    """One process, then 2 workers; `reps` times, alternating, reporting the medians.

    On a shared machine the load changes from minute to minute: pairs of runs next to each
    other and the median of several are what make the two comparable.
    """
    chunk_size = planner_chunk_size(2 * n)
    log(f"planner: {n} channels x 2 schedules, {reps} round(s); fan-out chunks of {chunk_size}")
    _, now, until = planner_data(n)
    procs = workers_start(
        1,
        2,
        logdir,
        "plan",
        pool="prefork",
        queue=PLAN_QUEUE,
        env={"PLANNER_CHUNK_SIZE": str(chunk_size)},
    )
    singles, splits = [], []
    try:
        for _ in range(reps):
            _planner_reset()
            single = plan_in_child(now, until)
            broker = broker_publish_counts()
            single["messages_on_broker"] = broker["publish_messages"]
            single["slots_on_broker"] = broker["slots"]
            single["slots_per_message"] = round(
                broker["slots"] / max(broker["publish_messages"], 1), 2
            )
            single["per_second"] = round(single["enqueued"] / single["seconds"], 1)
            single["broker_per_second"] = round(
                single["enqueued"] / max(single["broker_seconds"], 1e-9)
            )
            log(f"planner, one process: {single}")
            _planner_reset()
            split = _planner_fan_out(now, until, procs, chunk_size)
            split["speedup"] = round(split["per_second"] / single["per_second"], 2)
            log(f"planner, fan-out over 2 worker processes: {split}")
            singles.append(single)
            splits.append(split)
    finally:
        workers_stop(procs)
        redis_reset()

    def median_of(runs, key="per_second"):
        return sorted(runs, key=lambda r: r[key])[len(runs) // 2]

    single, split = dict(median_of(singles)), dict(median_of(splits))
    single["all_per_second"] = [r["per_second"] for r in singles]
    single["all_cpu_ms_per_slot"] = [r["cpu_ms_per_slot"] for r in singles]
    split["all_per_second"] = [r["per_second"] for r in splits]
    split["all_speedups"] = [r["speedup"] for r in splits]
    split["speedup"] = round(split["per_second"] / single["per_second"], 2)
    return {
        "channels": n,
        "schedules": 2 * n,
        # The acceptance figures: CPU per slot of one planner_run (broker writes included;
        # median of the rounds), and the two-worker rate through the real fan-out over the
        # one-process rate (ratio of the medians).
        "cpu_ms_per_slot": median_of(singles, "cpu_ms_per_slot")["cpu_ms_per_slot"],
        "two_worker_ratio": split["speedup"],
        "one_process": single,
        "two_workers": split,
    }
