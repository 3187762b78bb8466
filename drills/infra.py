"""The real servers and processes a drill runs: its own PostgreSQL cluster and Redis on spare
ports (never the machine's shared ones), Celery workers and beats, each logging to a file.

Every process is started in its own session (process group), so a drill can SIGKILL a
worker together with its prefork children, and stops exactly the processes it started.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def _pg_bin() -> Path:
    """Where initdb/pg_ctl live: DRILL_PG_BIN, else beside pg_ctl on PATH, else Debian's."""
    if os.environ.get("DRILL_PG_BIN"):
        return Path(os.environ["DRILL_PG_BIN"])
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: float(p.parent.name) if p.parent.name.replace(".", "").isdigit() else 0,
    )
    return versions[-1] if versions else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _pg_bin()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, *, timeout: float, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def port_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


# --- PostgreSQL ---------------------------------------------------------------------------


def pg_available() -> str | None:
    """None when a private cluster can be made here, else why not."""
    for tool in ("initdb", "pg_ctl", "postgres"):
        if not (PG_BIN / tool).exists():
            return f"{PG_BIN / tool} not found (set DRILL_PG_BIN)"
    if os.geteuid() == 0 and not shutil.which("runuser"):
        return "running as root without runuser: initdb refuses root"
    return None


@dataclass
class PgCluster:
    """A throwaway PostgreSQL cluster: initdb into a temp dir, pg_ctl on a spare port."""

    base: Path
    port: int = 0
    datadir: Path = field(init=False)
    logfile: Path = field(init=False)

    def __post_init__(self) -> None:
        self.datadir = self.base / "pgdata"
        self.logfile = self.base / "postgres.log"

    def _as_owner(self, args: list[str]) -> list[str]:
        # initdb and postgres refuse to run as root: run them as the postgres user.
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *args]
        return args

    def init(self) -> PgCluster:
        self.base.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres", "postgres")
            self.logfile.touch()
            shutil.chown(self.logfile, "postgres", "postgres")
        done = subprocess.run(  # noqa: S603 - our own fixed arguments
            self._as_owner(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(self.datadir),
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "--no-sync",
                    "-E",
                    "UTF8",
                ]
            ),
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        if done.returncode:
            raise RuntimeError(f"initdb failed: {done.stderr.decode(errors='replace')}")
        conf = self.datadir / "postgresql.conf"
        with conf.open("a") as f:
            f.write(
                f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.base}'\nmax_connections = 200\n"
                "fsync = off\nfull_page_writes = off\n"
                "log_min_messages = warning\nlog_connections = off\n"
                # Notice a client that died mid-statement (a SIGKILLed worker) and abort its
                # statement, as a production server with this setting does.
                "client_connection_check_interval = 200ms\n"
            )
        return self

    def start(self) -> None:
        subprocess.run(  # noqa: S603 - our own fixed arguments
            self._as_owner(
                [
                    str(PG_BIN / "pg_ctl"),
                    "-D",
                    str(self.datadir),
                    "-l",
                    str(self.logfile),
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(  # noqa: S603 - our own fixed arguments
            self._as_owner(
                [str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop"]
            ),
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def running(self) -> bool:
        return (self.datadir / "postmaster.pid").exists() and port_answers(self.port)

    def url(self, dbname: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{dbname}"

    def sql(self, statement: str, *, dbname: str = "postgres") -> None:
        import psycopg2

        conn = psycopg2.connect(self.url(dbname), connect_timeout=5)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(statement)
        finally:
            conn.close()


# --- Redis --------------------------------------------------------------------------------


@dataclass
class RedisServer:
    """A private redis-server with no persistence: a restart comes back empty."""

    base: Path
    port: int = 0
    process: subprocess.Popen | None = None
    starts: int = 0

    def start(self) -> RedisServer:
        self.base.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        binary = shutil.which("redis-server")
        if binary is None:
            from ops import embedded_redis

            binary = embedded_redis.server_binary()
        self.starts += 1
        log = (self.base / "redis.log").open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - our own fixed arguments
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--maxmemory-policy",
                "noeviction",
                "--dir",
                str(self.base),
                "--loglevel",
                "warning",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        wait_until(lambda: self._ping(), timeout=10, what=f"redis on {self.port}")
        return self

    def _ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=0.5).ping())
        except (redis.RedisError, OSError):
            return False

    def kill(self) -> None:
        """SIGKILL: everything in memory (every queued message) is gone."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


# --- Celery processes ---------------------------------------------------------------------


@dataclass
class Proc:
    """A Celery worker or beat process, in its own process group, logging to a file."""

    name: str
    args: list[str]
    env: dict[str, str]
    logfile: Path
    process: subprocess.Popen | None = None
    # Set when the drill itself stops or kills the process: any other exit is a crash.
    intentional_exit: bool = False
    ready_marker: tuple[str, int] = ("", 0)

    def start(self) -> Proc:
        self.intentional_exit = False
        self.logfile.parent.mkdir(parents=True, exist_ok=True)
        with self.logfile.open("ab") as log:
            log.write(f"\n=== {time.strftime('%H:%M:%S')} start {self.name}\n".encode())
            log.flush()
            self.process = subprocess.Popen(  # noqa: S603 - fixed arguments
                self.args,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        return self

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_text(self) -> str:
        try:
            return self.logfile.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for_log(self, needle: str, *, timeout: float, after: int = 0) -> None:
        def seen():
            if not self.alive:
                raise RuntimeError(f"{self.name} exited: see {self.logfile}")
            return needle in self.log_text()[after:]

        wait_until(seen, timeout=timeout, interval=0.2, what=f"{self.name}: {needle!r}")

    def _signal_group(self, sig: int) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, sig)  # the group we created: worker + its children
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        """SIGKILL the process and its children at once, as an OOM kill or a host crash."""
        self.intentional_exit = True
        if not self.alive:
            return
        self._signal_group(signal.SIGKILL)
        self.process.wait(10)
        with self.logfile.open("ab") as log:
            log.write(f"\n=== {time.strftime('%H:%M:%S')} SIGKILL {self.name}\n".encode())

    def stop(self, timeout: float = 20) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL if it takes too long."""
        self.intentional_exit = True
        if not self.alive:
            return
        self._signal_group(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()


def celery(*args: str) -> list[str]:
    return [str(VENV_BIN / "celery"), "-A", "drills.celeryapp", *args]


def worker_args(name: str, *, concurrency: int = 2, loglevel: str = "INFO") -> list[str]:
    return celery(
        "worker",
        "--pool",
        "prefork",
        "-c",
        str(concurrency),
        "-n",
        f"{name}@%h",
        "-l",
        loglevel,
        "--without-mingle",
        "--without-gossip",
    )


def beat_args(schedule_file: Path, *, loglevel: str = "INFO") -> list[str]:
    return celery("beat", "-s", str(schedule_file), "-l", loglevel, "--pidfile=")
