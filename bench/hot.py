"""Scenarios 2-6: the hot minute, bare Celery ETA tasks, django-celery-beat, the minute
poller, and a worker's memory with many ETA tasks held."""

from __future__ import annotations

import datetime as dt
import json
import signal
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from bench import networks_mix
from bench.data import make_channels, make_publishable, make_schedules, make_workspace
from bench.harness import (
    ONE_WORKER,
    PEER_QUEUE,
    POOL,
    PY,
    QUEUE,
    UTC,
    Proc,
    Receiver,
    cpu_seconds,
    db_sessions,
    lateness_stats,
    log,
    queue_len,
    redis_client,
    redis_reset,
    rss_mb,
    sleep_until,
    truncate_all,
    wait_until,
    workers_start,
    workers_stop,
)

# --- Scenarios 2-5: hot minute, raw ETA, django-celery-beat, minute poller ----------------


@dataclass
class HotResult:
    name: str
    setup: str
    items: int
    arrived: int = 0
    duplicates: int = 0
    lost: int = 0
    stats: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "setup": self.setup,
            "items": self.items,
            "arrived": self.arrived,
            "duplicates": self.duplicates,
            "lost": self.lost,
            **self.stats,
            **self.extra,
        }


def _arrivals(receiver: Receiver, items: set) -> tuple[dict, int]:
    """First arrival per item, and the duplicate count (requests beyond one per key)."""
    records = receiver.records()
    first: dict = {}
    seen_keys: set = set()
    duplicates = 0
    for key, arrived, item in records:
        if key in seen_keys:
            duplicates += 1
            continue
        seen_keys.add(key)
        if item in items and (item not in first or arrived < first[item]):
            first[item] = arrived
    return first, duplicates


def _lead(m: int, quick: bool) -> float:
    # Time to plan (or send) and for the messages to reach the worker(s) before the hot
    # second: m / 250 s for the planning on a loaded machine (M = 10,000: 75 s in all).
    return (3 if quick else 10) + m / 400 + m / 250


def scenario_hot_minute(
    m: int, workers: tuple[int, int], receiver, pool, quick, mix=None
) -> HotResult:
    from django.conf import settings
    from django.db.models import Count

    from scheduling import enqueue
    from scheduling.models import PlannerState, Timeslot
    from scheduling.services import planner_run

    count, conc = workers
    setup = f"{count} worker{'s' if count > 1 else ''} x {POOL} {conc}"
    log(f"hot minute: {m} slots, {setup}")
    truncate_all()
    redis_reset()
    receiver.reset()
    procs = pool.get(workers)
    ws = make_workspace("hot")
    channels = make_channels(ws, m)
    make_publishable(ws, channels, receiver.url)
    if mix is not None:
        mixed = networks_mix.add_accounts(mix, ws, channels)
        mix_before = networks_mix.held_before(mix)
    now = dt.datetime.now(UTC)
    t0 = (now + dt.timedelta(seconds=_lead(m, quick))).replace(microsecond=0)
    make_schedules(channels, lambda i: [t0])
    PlannerState.objects.all().delete()
    started = time.perf_counter()
    result = planner_run(now=now, until=t0 + dt.timedelta(seconds=1))
    plan_seconds = time.perf_counter() - started
    publish_messages = len(
        enqueue.batches(
            [
                enqueue.Message(*row)
                for row in Timeslot.objects.values_list("id", "token", "publish_at")
            ],
            size=settings.PUBLISH_BATCH_SIZE,
        )
    )
    sleep_until(t0.timestamp() - 0.3)
    held = queue_len() == 0
    cpu_before = cpu_seconds(procs)
    sessions_before = db_sessions()
    ids = set(Timeslot.objects.values_list("id", flat=True))
    live = (Timeslot.Status.SCHEDULED, Timeslot.Status.PUBLISHING)

    def done():
        first, _ = _arrivals(receiver, ids)
        return len(first) >= len(ids) and not Timeslot.objects.filter(status__in=live).exists()

    wait_until(done, timeout=120 + m / 20)
    worker_cpu = cpu_seconds(procs) - cpu_before
    rss = max(rss_mb(p.pid) for p in procs)
    time.sleep(0.6)  # PostgreSQL flushes session counts at most every 500 ms
    sessions_after = db_sessions()
    first, duplicates = _arrivals(receiver, ids)
    due = dict(Timeslot.objects.values_list("id", "publish_at"))
    late = [first[i] - due[i].timestamp() for i in first]
    terminal_with_reason = set(
        Timeslot.objects.filter(status__in=Timeslot.TERMINAL)
        .exclude(reason="")
        .values_list("id", flat=True)
    )
    lost = len([i for i in ids if i not in first and i not in terminal_with_reason])
    statuses = dict(
        Timeslot.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n")
    )
    out = HotResult(
        "hot minute (Queue Loop)", setup, m, len(first), duplicates, lost, lateness_stats(late)
    )
    out.extra = {
        "planned": result.created,
        "enqueued": result.enqueued,
        "publish_messages": publish_messages,
        "plan_seconds": round(plan_seconds, 2),
        "all_held_before_due": held,
        "worker_cpu_ms_per_item": round(worker_cpu * 1000 / m, 2),
        # New PostgreSQL sessions from T0 to the end (workers, plus the orchestrator's
        # polling connection, which it keeps): ~0 if the workers keep their connections.
        "db_sessions_per_slot": (
            round((sessions_after - sessions_before) / m, 2)
            if sessions_before is not None and sessions_after is not None
            else None
        ),
        "statuses": statuses,
        "worker_rss_mb": round(rss, 1),
    }
    if mix is not None:
        out.extra["networks_mix"] = networks_mix.readings(mix, mixed, mix_before)
    log(f"  -> {out.as_dict()}")
    return out


def scenario_raw_eta(m: int, workers: tuple[int, int], receiver, pool, quick) -> HotResult:
    from bench.tasks import post_hook

    count, conc = workers
    setup = f"{count} worker{'s' if count > 1 else ''} x {POOL} {conc}"
    log(f"raw Celery ETA floor: {m} bare tasks, {setup}")
    redis_reset()
    receiver.reset()
    procs = pool.get(workers)
    # apply_async one by one can be slower than the lead allows on a loaded machine (100/s
    # at load 9): time 20 sends to a queue nobody reads, and leave room for 1.5x that rate.
    calibrate = f"{QUEUE}-calibrate"
    started = time.perf_counter()
    for i in range(20):
        post_hook.apply_async((f"calibrate-{i}", -1, receiver.url), queue=calibrate)
    per_send = (time.perf_counter() - started) / 20
    redis_client().delete(calibrate)
    lead = max(_lead(m, quick), 3 + 1.5 * m * per_send)
    t0 = (dt.datetime.now(UTC) + dt.timedelta(seconds=lead)).replace(microsecond=0)
    started = time.perf_counter()
    for i in range(m):
        post_hook.apply_async((f"raw-{i}", i, receiver.url), eta=t0)
    enqueue_seconds = time.perf_counter() - started
    sleep_until(t0.timestamp() - 0.3)
    held = queue_len() == 0
    cpu_before = cpu_seconds(procs)
    items = set(range(m))
    wait_until(lambda: len(_arrivals(receiver, items)[0]) >= m, timeout=60 + m / 20)
    worker_cpu = cpu_seconds(procs) - cpu_before
    rss = max(rss_mb(p.pid) for p in procs)
    first, duplicates = _arrivals(receiver, items)
    late = [first[i] - t0.timestamp() for i in first]
    out = HotResult("floor: raw Celery ETA", setup, m, len(first), duplicates, m - len(first))
    out.stats = lateness_stats(late)
    out.extra = {
        "apply_async_per_second": round(m / enqueue_seconds),
        "all_held_before_due": held,
        "worker_cpu_ms_per_item": round(worker_cpu * 1000 / m, 2),
        "worker_rss_mb": round(rss, 1),
    }
    log(f"  -> {out.as_dict()}")
    return out


def scenario_celery_beat(m: int, receiver, pool, logdir, quick) -> HotResult:
    from django_celery_beat.models import ClockedSchedule, PeriodicTask

    conc = ONE_WORKER[1]
    setup = f"DatabaseScheduler + 1 worker x {POOL} {conc}"
    log(f"django-celery-beat: {m} one-off clocked tasks, {setup}")
    truncate_all()
    redis_reset()
    receiver.reset()
    # How fast entries can be created here, to put the due time just after the last one.
    started = time.perf_counter()
    for i in range(20):
        clocked = ClockedSchedule.objects.create(clocked_time=dt.datetime.now(UTC))
        PeriodicTask.objects.create(
            name=f"calibrate-{i}", task="bench.post_hook", clocked=clocked, one_off=True
        )
    per_entry = (time.perf_counter() - started) / 20
    PeriodicTask.objects.all().delete()
    ClockedSchedule.objects.all().delete()
    pool.get(ONE_WORKER)
    beat = Proc(
        "beat-dbscheduler",
        [
            PY,
            "-m",
            "celery",
            "-A",
            "bench.celery_app",
            "beat",
            "-l",
            "WARNING",
            "-S",
            "django_celery_beat.schedulers:DatabaseScheduler",
        ],
        env={"BENCH_BEAT": "dbscheduler"},
        logdir=logdir,
    )
    try:
        # Entries are created one by one, as an app does when users schedule posts.
        t0 = (
            dt.datetime.now(UTC) + dt.timedelta(seconds=_lead(m, quick) + m * per_entry * 1.5)
        ).replace(microsecond=0)
        started = time.perf_counter()
        for i in range(m):
            clocked = ClockedSchedule.objects.create(clocked_time=t0)
            PeriodicTask.objects.create(
                name=f"post-{i}",
                task="bench.post_hook",
                clocked=clocked,
                one_off=True,
                args=json.dumps([f"beat-{i}", i, receiver.url]),
            )
        create_seconds = time.perf_counter() - started
        ready_before_due = time.time() < t0.timestamp() - 1
        items = set(range(m))
        sleep_until(t0.timestamp())
        wait_until(lambda: len(_arrivals(receiver, items)[0]) >= m, timeout=120 + m / 10)
    finally:
        beat.stop()
    first, duplicates = _arrivals(receiver, items)
    late = [first[i] - t0.timestamp() for i in first]
    out = HotResult("peer: django-celery-beat", setup, m, len(first), duplicates, m - len(first))
    out.stats = lateness_stats(late)
    out.extra = {
        "create_seconds": round(create_seconds, 2),
        "created_per_second": round(m / create_seconds),
        "created_before_due": ready_before_due,
    }
    log(f"  -> {out.as_dict()}")
    return out


@dataclass
class Poller:
    t0: dt.datetime
    setup: str
    items: set
    procs: list
    beat: Proc

    @property
    def fires_at(self) -> float:
        return self.t0.timestamp() + 30  # the next second 0 after the due second 30


def poller_start(m: int, receiver, logdir) -> Poller:
    """Rows due at second 30 of a minute; its own worker (on its own queue) and beat.

    Due at second 30: the expected phase (a poller's wait is anywhere in 0-60 s). The wait
    until the beat fires may be used by scenarios that neither use the receiver nor the
    default queue's consumers (run_all: the planner, worker memory).
    """
    from django.db import connection

    count, conc = ONE_WORKER
    setup = f"beat every 60 s + 1 worker x {POOL} {conc}"
    log(f"minute poller: {m} rows, {setup}")
    receiver.reset()
    now = dt.datetime.now(UTC)
    t0 = now.replace(second=30, microsecond=0)
    while t0 < now + dt.timedelta(seconds=8):
        t0 += dt.timedelta(minutes=1)
    with connection.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_due")
        cur.execute(
            "CREATE TABLE bench_due (key text PRIMARY KEY, item integer, url text, "
            "due timestamptz NOT NULL, sent_at timestamptz)"
        )
        cur.execute("CREATE INDEX bench_due_unsent ON bench_due (due) WHERE sent_at IS NULL")
        cur.executemany(
            "INSERT INTO bench_due (key, item, url, due) VALUES (%s, %s, %s, %s)",
            [(f"poll-{i}", i, receiver.url, t0) for i in range(m)],
        )
    procs = workers_start(count, conc, logdir, "poller", queue=PEER_QUEUE)
    beat = Proc(
        "beat-poller",
        [
            PY,
            "-m",
            "celery",
            "-A",
            "bench.celery_app",
            "beat",
            "-l",
            "WARNING",
            "-s",
            str(logdir / "celerybeat-poller"),
        ],
        env={"BENCH_BEAT": "poller"},
        logdir=logdir,
    )
    return Poller(t0, setup, set(range(m)), procs, beat)


def poller_finish(poller: Poller, receiver) -> HotResult:
    from django.db import connection

    m = len(poller.items)
    try:
        sleep_until(poller.t0.timestamp())
        wait_until(lambda: len(_arrivals(receiver, poller.items)[0]) >= m, timeout=90 + m / 20)
    finally:
        poller.beat.stop()
        workers_stop(poller.procs)
    first, duplicates = _arrivals(receiver, poller.items)
    late = [first[i] - poller.t0.timestamp() for i in first]
    out = HotResult("peer: minute poller", poller.setup, m, len(first), duplicates, m - len(first))
    out.stats = lateness_stats(late)
    out.extra = {"due_second_of_minute": 30}
    with connection.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_due")
    redis_client().delete(PEER_QUEUE)
    log(f"  -> {out.as_dict()}")
    return out


# --- Scenario 6: worker memory -----------------------------------------------------------


def scenario_worker_rss(held: int, logdir: Path) -> dict:
    from scheduling import enqueue

    count, conc = ONE_WORKER
    log(f"worker RSS: {held} ETA tasks held, 1 worker x {POOL} {conc}")
    redis_reset()
    procs = workers_start(count, conc, logdir, "rss")
    try:
        idle = rss_mb(procs[0].pid)
        eta = dt.datetime.now(UTC).replace(microsecond=0) + dt.timedelta(minutes=60)
        # One slot per ETA second: engine v2 sends one message per second and chunk, so
        # distinct seconds make K messages of one slot each (what pins, moves and sparse
        # schedules send), the most memory per held slot.
        messages = [
            enqueue.Message(10**9 + i, uuid.uuid4(), eta + dt.timedelta(seconds=i))
            for i in range(held)
        ]
        started = time.perf_counter()
        for i in range(0, held, 2000):
            enqueue.send_now(messages[i : i + 2000])
        enqueue_seconds = time.perf_counter() - started
        r = redis_client()
        t = time.perf_counter()
        ok = wait_until(
            lambda: r.llen(QUEUE) == 0 and r.hlen("unacked") >= held, timeout=300, interval=0.5
        )
        fetch_seconds = time.perf_counter() - t
        time.sleep(1)
        loaded = rss_mb(procs[0].pid)
        out = {
            "held": held,
            "slots_per_message": 1,
            "all_held": ok,
            "unacked_in_redis": r.hlen("unacked"),
            "rss_idle_mb": round(idle, 1),
            "rss_mb": round(loaded, 1),
            "kb_per_task": round((loaded - idle) * 1024 / held, 2),
            "batch_enqueue_per_second": round(held / enqueue_seconds),
            "worker_fetch_seconds": round(fetch_seconds, 1),
        }
    finally:
        for p in procs:
            p.stop(signal.SIGKILL)
        redis_reset()
    log(f"  -> {out}")
    return out
