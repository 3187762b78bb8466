"""The bench's plumbing: its own database and Redis db, worker processes, the webhook
receiver, CPU and memory readings, lateness statistics and the broker's queue."""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
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
