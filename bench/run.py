"""Queue Loop benchmarks: one run, one table, one final JSON line.

    python -m bench.run            # full: N=10,000 channels, M=2,000 hot slots
    python -m bench.run --quick    # the same six scenarios, smaller, under 3 minutes
    python -m bench.run profile-publish --m 500   # where a hot slot's CPU goes (pyinstrument)

Everything runs on this machine against real PostgreSQL and Redis, in the bench's own
database (dropped and recreated; BENCH_DATABASE_URL) and Redis db (BENCH_REDIS_URL), with
real `celery -A queueloop worker` processes and a local asyncio webhook receiver that
answers after 100 ms. See bench/README.md for what each scenario measures.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import math
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
os.environ.setdefault("QUEUELOOP_VAR_DIR", tempfile.mkdtemp(prefix="ql-bench-var-"))

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
UTC = dt.UTC
QUEUE = os.environ.get("BENCH_QUEUE", "queueloop-bench")
PLAN_QUEUE = f"{QUEUE}-plan"
PLAN_CHUNK = "scheduling.plan_chunk"
PEER_QUEUE = f"{QUEUE}-peer"  # the minute poller's own (bench/settings.py)
RECEIVER_DELAY = 0.1
POOL = "threads"
# One worker: 64 threads, so 2,000 100-ms calls need >= 3.1 s of wall time. Two workers:
# 32 threads each, the same total concurrency: PostgreSQL allows 100 connections on this
# machine (shared with other users), and each running task holds one.
ONE_WORKER = (1, 64)
TWO_WORKERS = (2, 32)


# --- Plumbing ----------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _db_url() -> str:
    import django.conf

    return django.conf.settings.DATABASE_URL


def _admin_conn():
    import psycopg2

    url = urlparse(os.environ["DATABASE_URL"])
    conn = psycopg2.connect(
        host=url.hostname,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        dbname="postgres",
    )
    conn.autocommit = True
    return conn, url.path.lstrip("/")


def database_create() -> None:
    conn, name = _admin_conn()
    if "bench" not in name:
        raise SystemExit(f"refusing to recreate database {name!r}: its name must contain 'bench'")
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()


def database_drop() -> None:
    from django.db import connections

    connections.close_all()
    conn, name = _admin_conn()
    if "bench" in name:
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


def redis_client():
    import redis
    from django.conf import settings

    return redis.Redis.from_url(settings.REDIS_URL)


def redis_cleanup() -> None:
    """Delete only the bench's keys in the bench's Redis db (never FLUSHDB)."""
    r = redis_client()
    keys = [QUEUE, PLAN_QUEUE, "unacked", "unacked_index", "unacked_mutex"]
    for pattern in ("bench:*", "_kombu.binding*", f"{QUEUE}*"):
        keys += list(r.scan_iter(pattern, count=1000))
    if keys:
        r.delete(*keys)


def redis_reset() -> None:
    """Between scenarios: empty the queues, keep the bindings live workers rely on."""
    redis_client().delete(
        QUEUE, PLAN_QUEUE, "unacked", "unacked_index", "unacked_mutex", "bench:plan:done"
    )


def truncate_all() -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "TRUNCATE accounts_workspace, scheduling_plannerstate, scheduling_plannerchunk, "
            "django_celery_beat_periodictask, django_celery_beat_clockedschedule, "
            "django_celery_beat_periodictasks RESTART IDENTITY CASCADE"
        )


class Proc:
    """A child process in its own process group, stopped by its own id only."""

    def __init__(
        self, name: str, cmd: list[str], env: dict | None = None, logdir: Path | None = None
    ):
        self.name = name
        self.log_path = logdir / f"{name}.log"
        self.log = open(self.log_path, "wb")
        self.popen = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def send(self, sig) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, sig=signal.SIGQUIT, timeout: float = 10) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, sig)
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)
            except ProcessLookupError:
                pass
        self.log.close()

    def tail(self, n: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


class Receiver:
    def __init__(self, logdir: Path, delay: float = RECEIVER_DELAY):
        self.proc = subprocess.Popen(
            [PY, "-m", "bench.receiver", "--delay", str(delay)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=open(logdir / "receiver.log", "wb"),
            start_new_session=True,
            text=True,
        )
        line = self.proc.stdout.readline()
        self.port = int(line.split()[1])
        self.url = f"http://127.0.0.1:{self.port}/hook"

    def _call(self, method: str, path: str):
        import requests

        return requests.request(method, f"http://127.0.0.1:{self.port}{path}", timeout=30)

    def reset(self) -> None:
        self._call("POST", "/reset")

    def records(self) -> list[tuple[str, float, object]]:
        return self._call("GET", "/records").json()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)


def workers_start(
    count: int,
    concurrency: int,
    logdir: Path,
    tag: str,
    *,
    pool=POOL,
    queue=QUEUE,
    wait=True,
    env: dict | None = None,
):
    r = redis_client()
    for key in r.scan_iter("bench:ready:*"):
        r.delete(key)
    procs = []
    for i in range(1, count + 1):
        cmd = [
            PY,
            "-m",
            "celery",
            "-A",
            "queueloop",
            "worker",
            "-P",
            pool,
            "-c",
            str(concurrency),
            "-Q",
            queue,
            "-n",
            f"bench{i}-{tag}@%h",
            "-l",
            "WARNING",
        ]
        procs.append(Proc(f"worker-{tag}-{i}", cmd, env=env, logdir=logdir))
    if wait:
        workers_wait(procs)
    return procs


def workers_wait(procs) -> None:
    """Until every worker has sent worker_ready (bench/tasks.py)."""
    r = redis_client()
    count = len(procs)
    deadline = time.monotonic() + 90
    while sum(1 for _ in r.scan_iter("bench:ready:*")) < count:
        if time.monotonic() > deadline or any(p.popen.poll() is not None for p in procs):
            raise RuntimeError("worker did not start:\n" + "\n".join(p.tail() for p in procs))
        time.sleep(0.1)


def workers_stop(procs) -> None:
    for p in procs:  # signal them all first: each takes a moment to exit
        p.send(signal.SIGQUIT)
    for p in procs:
        p.stop()


class Workers:
    """Worker processes kept across consecutive scenarios that share a configuration."""

    def __init__(self, logdir: Path):
        self.logdir, self.key, self.procs, self.started = logdir, None, [], 0

    def get(self, config: tuple[int, int]) -> list:
        if self.key != config:
            self.stop()
            self.started += 1
            count, conc = config
            self.procs = workers_start(count, conc, self.logdir, f"{count}x{conc}-{self.started}")
            self.key = config
        return self.procs

    def stop(self) -> None:
        workers_stop(self.procs)
        self.procs, self.key = [], None


def rss_mb(pid: int) -> float:
    import psutil

    proc = psutil.Process(pid)
    total = proc.memory_info().rss
    for child in proc.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 2**20


def cpu_seconds(procs) -> float:
    """User + system CPU of the worker processes (and their pool children) so far."""
    import psutil

    total = 0.0
    for p in procs:
        proc = psutil.Process(p.pid)
        for one in [proc, *proc.children(recursive=True)]:
            try:
                times = one.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                pass
    return total


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def lateness_stats(late: list[float]) -> dict:
    return {
        "p50": round(percentile(late, 50), 3),
        "p95": round(percentile(late, 95), 3),
        "p99": round(percentile(late, 99), 3),
        "max": round(max(late), 3) if late else None,
        "min": round(min(late), 3) if late else None,
    }


def wait_until(predicate, *, timeout: float, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def sleep_until(when: float) -> None:
    delay = when - time.time()
    if delay > 0:
        time.sleep(delay)


def queue_len(queue: str = QUEUE) -> int:
    return redis_client().llen(queue)


PUBLISH_TASKS = ("publishing.publish_timeslots", "publishing.publish_timeslot")


def _message_slots(raw: bytes) -> tuple[str, int]:
    """A kombu/Redis message: (task name, how many timeslots it carries).

    Engine v2 sends `publishing.publish_timeslots([[id, token], ...])`, one per ETA second
    and chunk of PUBLISH_BATCH_SIZE; the first engine's `publishing.publish_timeslot(id,
    token)` carried one slot. Any other task carries none.
    """
    message = json.loads(raw)
    name = message.get("headers", {}).get("task", "")
    if name not in PUBLISH_TASKS:
        return name, 0
    if name == "publishing.publish_timeslot":
        return name, 1
    body = message["body"]
    if message.get("properties", {}).get("body_encoding") == "base64":
        body = base64.b64decode(body)
    args = json.loads(body)[0]
    return name, len(args[0])


def broker_publish_counts(queue: str = QUEUE) -> dict:
    """Publish messages waiting on a queue and the timeslots they carry (and other messages)."""
    messages = slots = other = 0
    for raw in redis_client().lrange(queue, 0, -1):
        _, n = _message_slots(raw)
        if n:
            messages, slots = messages + 1, slots + n
        else:
            other += 1
    return {"publish_messages": messages, "slots": slots, "other_messages": other}


def db_sessions() -> int | None:
    """Sessions PostgreSQL has opened on the bench database so far (pg_stat_database)."""
    from django.db import connection

    try:
        with connection.cursor() as cur:
            cur.execute("SELECT pg_stat_clear_snapshot()")
            cur.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
            row = cur.fetchone()
        return int(row[0]) if row and row[0] is not None else None
    except Exception:  # an older PostgreSQL (< 14) or no access: the figure is optional
        return None


# --- Data --------------------------------------------------------------------------------


def make_workspace(slug: str):
    from accounts.models import Workspace

    return Workspace.objects.create(name=slug, slug=slug)


def make_channels(workspace, n: int):
    from channels.models import Channel

    return Channel.objects.bulk_create(
        [Channel(workspace=workspace, name=f"#c{i}", slug=f"c{i}") for i in range(n)],
        batch_size=2000,
    )


def daily_rule(at: dt.datetime):
    import recurrence

    return recurrence.deserialize(
        f"RRULE:FREQ=DAILY;BYHOUR={at.hour};BYMINUTE={at.minute};BYSECOND={at.second}"
    )


def make_schedules(channels, times_for) -> None:
    """times_for(i) -> list of aware UTC instants; one daily schedule per instant."""
    from scheduling.models import Schedule

    rows = [
        Schedule(channel=ch, name=f"s{k}", recurrence=daily_rule(at))
        for i, ch in enumerate(channels)
        for k, at in enumerate(times_for(i))
    ]
    Schedule.objects.bulk_create(rows, batch_size=2000)


def make_queues(workspace, channels) -> None:
    """One ready post in each channel's queue."""
    from channels.models import QueueEntry
    from posts.models import Post

    posts = Post.objects.bulk_create(
        [Post(workspace=workspace, text=f"Evergreen post {i}") for i in range(len(channels))],
        batch_size=2000,
    )
    QueueEntry.objects.bulk_create(
        [
            QueueEntry(channel=ch, post=post, position=0)
            for ch, post in zip(channels, posts, strict=True)
        ],
        batch_size=2000,
    )


def make_publishable(workspace, channels, url: str) -> None:
    """One webhook account (to the receiver) and one ready post in each channel's queue."""
    from accounts.models import SocialAccount
    from channels.models import Channel

    accounts = SocialAccount.objects.bulk_create(
        [
            SocialAccount(
                workspace=workspace,
                provider="webhook",
                handle=f"hook{i}",
                credentials={"url": url, "secret": f"secret-{i}"},
            )
            for i in range(len(channels))
        ],
        batch_size=2000,
    )
    Channel.accounts.through.objects.bulk_create(
        [
            Channel.accounts.through(channel_id=ch.id, socialaccount_id=acc.id)
            for ch, acc in zip(channels, accounts, strict=True)
        ],
        batch_size=2000,
    )
    make_queues(workspace, channels)


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


def scenario_hot_minute(m: int, workers: tuple[int, int], receiver, pool, quick) -> HotResult:
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


# --- Profile: where a hot slot's CPU goes ------------------------------------------------


class _InlineExecutor:
    """Runs a delivery chunk's lanes one after another in the calling thread, so that the
    profilers (which follow one thread) see the provider calls too."""

    def submit(self, fn, *args, **kwargs):
        from concurrent.futures import Future

        future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed to the caller, as a pool does
            future.set_exception(exc)
        return future


def profile_publish(args) -> None:
    """In one process, no broker: M slots through the worker's path, profiled.

    As the worker runs them: one `timeslots_publish` per publish message (ETA second and
    chunk of PUBLISH_BATCH_SIZE), then `deliveries_send` per deliver_batch chunk of
    DELIVER_BATCH_SIZE (`publishing.delivery.dispatch` is replaced by a list). The receiver
    answers at once here, so the figures are our bookkeeping's cost per slot (plus one local
    HTTP round trip each), the CPU that a worker spends in a hot minute.
    """
    import django

    database_create()
    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, connections
    from django.db.backends.signals import connection_created
    from pyinstrument import Profiler

    from publishing import delivery as delivery_module
    from publishing import lanes as lanes_module
    from publishing import services
    from scheduling import enqueue
    from scheduling.models import Timeslot
    from scheduling.services import planner_run

    call_command("migrate", verbosity=0)
    receiver = Receiver(Path(tempfile.mkdtemp(prefix="ql-bench-prof-")), delay=0)
    try:
        ws = make_workspace("profile")
        channels = make_channels(ws, args.m)
        make_publishable(ws, channels, receiver.url)
        now = dt.datetime.now(UTC).replace(microsecond=0)
        make_schedules(channels, lambda i: [now + dt.timedelta(minutes=20)])
        planner_run(now=now, until=now + dt.timedelta(minutes=21))
        redis_cleanup()
        slots = list(Timeslot.objects.values_list("id", "token", "publish_at"))
        messages = enqueue.batches(
            [enqueue.Message(*row) for row in slots], size=settings.PUBLISH_BATCH_SIZE
        )
        dispatched: list[list[int]] = []
        # No broker in the profile: dispatch_on_commit calls this after each batch commits.
        delivery_module.dispatch = lambda ids, eta=None: dispatched.append(list(ids))
        if args.lanes == "inline":
            lanes_module._executor = _InlineExecutor
        queries, opened = [0], [0]

        def count(execute, sql, params, many, context):
            queries[0] += 1
            return execute(sql, params, many, context)

        def on_connect(sender, connection, **kwargs):
            opened[0] += 1

        connection_created.connect(on_connect)

        def task_boundary():
            # What Celery 5.7's Django fixup does before and after every task (with
            # CELERY_DB_REUSE_MAX unset): close the connections, whatever CONN_MAX_AGE says,
            # so each task connects anew.
            if not args.reuse_connections:
                connections.close_all()

        from publishing.providers import get_provider

        t = time.perf_counter()
        get_provider("webhook")  # imports every provider module (x: twitter_text)
        provider_import = time.perf_counter() - t
        profiler = Profiler(interval=0.001)
        cprofile = None
        if args.cprofile:
            import cProfile

            cprofile = cProfile.Profile(time.process_time)
        tasks = {"publish": 0, "deliver": 0}
        publish_cpu = deliver_cpu = 0.0
        size = settings.DELIVER_BATCH_SIZE
        with connection.execute_wrapper(count):
            if cprofile:
                cprofile.enable()
            elif not args.no_profiler:
                profiler.start()
            started, cpu = time.perf_counter(), time.process_time()
            for eta, pairs in messages:
                task_boundary()
                c = time.process_time()
                services.timeslots_publish(pairs=pairs, now=eta)
                publish_cpu += time.process_time() - c
                tasks["publish"] += 1
                task_boundary()
                while dispatched:
                    ids = dispatched.pop(0)
                    for i in range(0, len(ids), size):
                        c = time.process_time()
                        services.deliveries_send(delivery_ids=ids[i : i + size], now=eta)
                        deliver_cpu += time.process_time() - c
                        tasks["deliver"] += 1
                        task_boundary()
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            if cprofile:
                import pstats

                cprofile.disable()
                pstats.Stats(cprofile).sort_stats("cumulative").print_stats(45)
            elif not args.no_profiler:
                profiler.stop()
                print(profiler.output_text(unicode=False, color=False, show_all=False))
        connection_created.disconnect(on_connect)
        statuses: dict[str, int] = {}
        for status in Timeslot.objects.values_list("status", flat=True):
            statuses[status] = statuses.get(status, 0) + 1
        n = len(slots)
        summary = {
            "slots": n,
            "publish_tasks": tasks["publish"],
            "deliver_tasks": tasks["deliver"],
            "lanes": args.lanes,
            "seconds": round(elapsed, 3),
            "ms_per_slot": round(elapsed * 1000 / n, 2),
            "cpu_ms_per_slot": round(cpu * 1000 / n, 2),
            "publish_cpu_ms_per_slot": round(publish_cpu * 1000 / n, 2),
            "deliver_cpu_ms_per_slot": round(deliver_cpu * 1000 / n, 2),
            "first_get_provider_seconds": round(provider_import, 3),
            "queries_per_slot": round(queries[0] / n, 2),
            "queries_per_task": round(queries[0] / max(1, sum(tasks.values())), 1),
            "connections_opened": opened[0],
            "statuses": statuses,
        }
        print(json.dumps(summary))
    finally:
        receiver.stop()
        database_drop()


# --- Report ------------------------------------------------------------------------------


def machine() -> dict:
    import psutil

    return {
        "host": socket.gethostname(),
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
    }


def _fmt(x, digits=2):
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def render_table(results: dict) -> str:
    header = ["scenario", "setup", "n", "p50 s", "p95 s", "p99 s", "max s", "dup", "lost", "other"]
    rows = []
    if "planner" in results:
        p = results["planner"]
        one, two = p["one_process"], p["two_workers"]
        rows.append(
            [
                "1 planner",
                "planner_run, 1 process",
                f"{p['channels']} ch x 2",
                "",
                "",
                "",
                "",
                "",
                "",
                f"CPU {p['cpu_ms_per_slot']:.3f} ms/slot (of {one.get('all_cpu_ms_per_slot')}); "
                f"{one['per_second']:.0f} slots/s (median of {one.get('all_per_second')}; "
                f"{one['seconds']:.1f} s, broker {one['broker_seconds']:.1f} s, "
                f"{one.get('slots_per_message')} slots/message), "
                f"{one['queries']} queries, peak RSS {one['peak_rss_mb']:.0f} MB",
            ]
        )
        rows.append(
            [
                "1 planner",
                f"fan-out, 2 workers, {two['tasks']} chunks",
                f"{p['channels']} ch x 2",
                "",
                "",
                "",
                "",
                "",
                "",
                f"ratio {p['two_worker_ratio']:.2f}x the 1-process rate "
                f"(pairs: {two.get('all_speedups')}); "
                f"{two['per_second']:.0f} slots/s (median of {two.get('all_per_second')}), "
                f"CPU {two['cpu_ms_per_slot']:.3f} ms/slot",
            ]
        )
    for key, label in [
        ("hot_minute_1", "2 hot minute"),
        ("hot_minute_2", "2 hot minute"),
        ("raw_eta_1", "3 floor: raw ETA"),
        ("raw_eta_2", "3 floor: raw ETA"),
        ("celery_beat", "4 django-celery-beat"),
        ("poller", "5 minute poller"),
    ]:
        r = results.get(key)
        if not r:
            continue
        other = ""
        if "apply_async_per_second" in r:
            other = (
                f"worker CPU {r['worker_cpu_ms_per_item']} ms/task; "
                f"apply_async {r['apply_async_per_second']}/s"
            )
        if "create_seconds" in r:
            other = f"created M entries in {r['create_seconds']:.1f} s"
        if "plan_seconds" in r:
            other = (
                f"worker CPU {r['worker_cpu_ms_per_item']} ms/slot; planned+enqueued in "
                f"{r['plan_seconds']:.1f} s ({r.get('publish_messages')} messages); "
                f"DB sessions {r.get('db_sessions_per_slot')}/slot; {r['statuses']}"
            )
        rows.append(
            [
                label,
                r["setup"],
                str(r["items"]),
                _fmt(r["p50"]),
                _fmt(r["p95"]),
                _fmt(r["p99"]),
                _fmt(r["max"]),
                str(r["duplicates"]),
                str(r["lost"]),
                other,
            ]
        )
    if "worker_rss" in results:
        w = results["worker_rss"]
        rows.append(
            [
                "6 worker memory",
                f"1 worker x {POOL} {ONE_WORKER[1]}",
                f"{w['held']} ETA held",
                "",
                "",
                "",
                "",
                "",
                "",
                f"RSS {w['rss_mb']:.0f} MB (idle {w['rss_idle_mb']:.0f} MB, "
                f"{w['kb_per_task']:.1f} KB/task); "
                f"Producer.batch {w['batch_enqueue_per_second']}/s",
            ]
        )
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(str(c).ljust(widths[i]) for i, c in enumerate(r)) + " |"  # noqa: E731
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), sep, *(line(r) for r in rows)])


def targets(results: dict) -> dict:
    """Every target whose scenarios ran (all of them in a full run; a subset with --only)."""
    t = {}
    p = results.get("planner")
    if p:
        rate = p["one_process"]["per_second"]
        t["planner_one_process_ge_1500_per_s"] = {"value": rate, "met": rate >= 1500}
        cpu = p["cpu_ms_per_slot"]
        t["planner_cpu_le_0.6_ms_per_slot"] = {"value": cpu, "met": cpu <= 0.6}
        sp = p["two_worker_ratio"]
        t["planner_two_workers_ge_1.6x"] = {"value": sp, "met": sp >= 1.6}
    for n in (1, 2):
        hot, raw = results.get(f"hot_minute_{n}"), results.get(f"raw_eta_{n}")
        if not (hot and raw):
            continue
        ratio = hot["p99"] / raw["p99"] if raw["p99"] else float("inf")
        # The first target (issue 5) and engine v2's (issue 9): at most the bare floor's p99.
        for bound in (2, 1):
            t[f"hot_p99_le_{bound}x_raw_eta_{n}w"] = {
                "value": round(ratio, 2),
                "hot_p99": hot["p99"],
                "raw_p99": raw["p99"],
                "met": ratio <= bound,
            }
        cpu_ms = hot.get("worker_cpu_ms_per_item")
        if cpu_ms is not None:
            t[f"hot_worker_cpu_le_5_ms_per_slot_{n}w"] = {"value": cpu_ms, "met": cpu_ms <= 5}
    beat, hot1 = results.get("celery_beat"), results.get("hot_minute_1")
    if beat and hot1:
        adv = beat["p99"] / hot1["p99"] if hot1["p99"] else float("inf")
        t["hot_p99_5x_lower_than_celery_beat"] = {"value": round(adv, 2), "met": adv >= 5}
    keys = ["hot_minute_1", "hot_minute_2", "raw_eta_1", "raw_eta_2", "celery_beat", "poller"]
    ran = [k for k in keys if k in results]
    if ran:
        dup = sum(results[k]["duplicates"] for k in ran)
        lost = sum(results[k]["lost"] for k in ran)
        t["zero_duplicates_zero_lost"] = {"duplicates": dup, "lost": lost, "met": dup == 0 == lost}
    if "worker_rss" in results:
        rss = results["worker_rss"]["rss_mb"]
        t["worker_rss_le_400mb"] = {
            "value": rss,
            "held": results["worker_rss"]["held"],
            "met": rss <= 400,
        }
    return t


def run_all(args) -> None:
    quick = args.quick
    n = args.channels or (2_000 if quick else 10_000)
    m = args.hot or (200 if quick else 2_000)
    held = args.held or (5_000 if quick else 20_000)
    logdir = Path(tempfile.mkdtemp(prefix="ql-bench-logs-"))
    started = time.time()
    results: dict = {
        "mode": "quick" if quick else "full",
        "date": dt.datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "config": {
            "pool": POOL,
            "one_worker": f"1 x {ONE_WORKER[1]} threads",
            "two_workers": f"2 x {TWO_WORKERS[1]} threads",
            "receiver_delay_s": RECEIVER_DELAY,
        },
    }
    log(f"logs in {logdir}; database {_db_name()}; redis {os.environ['REDIS_URL']}")
    database_create()
    import django

    django.setup()
    from django.core.management import call_command

    receiver = None
    try:
        call_command("migrate", verbosity=0)
        receiver = Receiver(logdir)
        pool = Workers(logdir)
        scenarios = {
            "planner": lambda: scenario_planner(n, logdir, 1 if quick else 3),
            "hot_minute_1": lambda: scenario_hot_minute(m, ONE_WORKER, receiver, pool, quick),
            "raw_eta_1": lambda: scenario_raw_eta(m, ONE_WORKER, receiver, pool, quick),
            "celery_beat": lambda: scenario_celery_beat(m, receiver, pool, logdir, quick),
            "hot_minute_2": lambda: scenario_hot_minute(m, TWO_WORKERS, receiver, pool, quick),
            "raw_eta_2": lambda: scenario_raw_eta(m, TWO_WORKERS, receiver, pool, quick),
            "worker_rss": lambda: scenario_worker_rss(held, logdir),
        }
        # Rough durations, to fit scenarios into the minute poller's wait for its minute.
        estimate = {"planner": 25 if quick else 200, "worker_rss": 18 if quick else 100}

        def want(name: str) -> bool:
            return not args.only or name in args.only

        def run(name: str) -> None:
            if name == "worker_rss":
                pool.stop()  # a fresh worker of its own
            result = scenarios[name]()
            results[name] = result.as_dict() if isinstance(result, HotResult) else result

        done = set()
        try:
            if want("poller"):
                poller = poller_start(m, receiver, logdir)
                try:
                    for name in ("planner", "worker_rss"):
                        if want(name) and time.time() + estimate[name] + 5 < poller.fires_at:
                            log(f"(while the poller waits for its minute: {name})")
                            run(name)
                            done.add(name)
                finally:
                    results["poller"] = poller_finish(poller, receiver).as_dict()
            for name in scenarios:
                if want(name) and name not in done:
                    run(name)
        finally:
            pool.stop()
    finally:
        if receiver:
            receiver.stop()
        try:
            redis_cleanup()
        finally:
            if not args.keep_db:
                database_drop()
    results["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["targets"] = targets(results)
    results["seconds"] = round(time.time() - started, 1)
    shutil.rmtree(os.environ["QUEUELOOP_VAR_DIR"], ignore_errors=True)
    print()
    mach = results["machine"]
    print(
        f"Queue Loop bench ({results['mode']}) {results['date']} on {mach['host']}: "
        f"{mach['cores']} cores, {mach['memory_gb']} GB, load {mach['load_avg_at_start']} -> "
        f"{mach['load_avg_at_end']}; receiver answers after {RECEIVER_DELAY * 1000:.0f} ms"
    )
    print(render_table(results))
    print()
    for name, target in results["targets"].items():
        print(f"  {'MET   ' if target['met'] else 'MISSED'} {name}: {target}")
    print(json.dumps(results, separators=(",", ":")))


def _db_name() -> str:
    return urlparse(os.environ["DATABASE_URL"]).path.lstrip("/")


def main() -> None:
    import bench.settings  # noqa: F401 - pins DATABASE_URL/REDIS_URL to the bench's own

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--channels", type=int, help="planner channels N")
    parser.add_argument("--hot", type=int, help="hot-minute slots M")
    parser.add_argument("--held", type=int, help="ETA tasks held for the memory figure")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument(
        "--only", nargs="+", help="run only these scenarios (planner, hot_minute_1, ...)"
    )
    once = sub.add_parser("plan-once")
    once.add_argument("--now", required=True)
    once.add_argument("--until", required=True)
    once.add_argument("--profile", action="store_true")
    pplan = sub.add_parser("profile-planner")
    pplan.add_argument("--n", type=int, default=2000)
    pplan.add_argument("--no-profiler", action="store_true")
    prof = sub.add_parser("profile-publish")
    prof.add_argument("--m", type=int, default=300)
    prof.add_argument(
        "--reuse-connections",
        action="store_true",
        help="keep DB connections between tasks (as CELERY_DB_REUSE_MAX would)",
    )
    prof.add_argument(
        "--lanes",
        choices=["inline", "pool"],
        default="inline",
        help="delivery lanes in this thread (profilers see them; default) or in the app's pool",
    )
    prof.add_argument("--no-profiler", action="store_true")
    prof.add_argument("--cprofile", action="store_true", help="CPU-time profile (cProfile)")
    args = parser.parse_args()
    if args.command == "plan-once":
        plan_once(args)
    elif args.command == "profile-planner":
        profile_planner(args)
    elif args.command == "profile-publish":
        profile_publish(args)
    else:
        run_all(args)


if __name__ == "__main__":
    main()
