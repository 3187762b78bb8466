"""`make run` end to end: the launcher starts everything on SQLite + the embedded Redis, serves
HTTP, and Ctrl-C (SIGINT) stops every process it started, exiting 0."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.receiver import Receiver

BASE_DIR = Path(__file__).resolve().parents[2]
START_DEADLINE = 50.0  # ~15 s on an idle machine; generous for a loaded CI box
STOP_DEADLINE = 15.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def zero_setup_env(var_dir: str, port: int) -> dict[str, str]:
    """This process's environment minus everything the test settings added or chose."""
    dropped = {
        "DATABASE_URL",
        "REDIS_URL",
        "DJANGO_SETTINGS_MODULE",
        "SECRET_KEY",
        "FIELD_ENCRYPTION_KEY",
        "DEBUG",
        "DEMO_PASSWORD",
    }
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in dropped and not k.startswith(("QUEUELOOP_", "PYTEST_"))
    }
    env.update(QUEUELOOP_VAR_DIR=var_dir, QUEUELOOP_PORT=str(port))
    return env


class Output:
    """Drains the launcher's stdout in a thread (so its children never block on a full
    pipe) and lets the test wait for a line."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream) -> None:
        for line in iter(stream.readline, ""):
            with self._lock:
                self.lines.append(line)

    def text(self) -> str:
        with self._lock:
            return "".join(self.lines)


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_until(predicate, *, deadline: float, what: str, output: Output):
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; launcher output:\n{output.text()}")


def http_status(url: str) -> int | None:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


class Launcher:
    """`python -m ops.devrun` in the zero-setup shape: no DATABASE_URL, no REDIS_URL."""

    def __init__(self, *, under_a_parent: bool = False, env: dict[str, str] | None = None):
        # A short path: Unix socket paths (the embedded Redis) are limited to ~107 bytes.
        self.var_dir = tempfile.mkdtemp(prefix="ql-devrun-")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.pids: set[int] = set()
        command = [sys.executable, "-m", "ops.devrun"]
        if under_a_parent:  # as `make run` starts it: a parent process that stays (no exec)
            command = ["sh", "-c", f"{sys.executable} -m ops.devrun; true"]
        self.process = subprocess.Popen(
            command,
            cwd=BASE_DIR,
            env={**zero_setup_env(self.var_dir, self.port), **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output = Output(self.process.stdout)

    def wait_for(self, predicate, *, timeout: float, what: str):
        return wait_until(
            predicate, deadline=time.monotonic() + timeout, what=what, output=self.output
        )

    def wait_until_running(self) -> None:
        def started() -> bool:
            self.children()  # remember every pid, so even a failed start leaves no orphan
            return "Press Ctrl-C" in self.output.text() or self.process.poll() is not None

        self.wait_for(started, timeout=START_DEADLINE, what="the URL box")
        assert self.process.poll() is None, self.output.text()

    def children(self) -> list[psutil.Process]:
        try:
            children = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        self.pids |= {child.pid for child in children}
        return children

    def wait_until_children_gone(self) -> None:
        # Reaped by the launcher or, if orphaned, by init: give that a moment, bounded.
        self.wait_for(
            lambda: not [pid for pid in self.pids if alive(pid)],
            timeout=5,
            what="every child to exit",
        )

    def cleanup(self) -> None:
        """Never leave a process behind, even when the test failed."""
        if self.process.poll() is None:
            self.children()
            self.process.terminate()  # the launcher's own clean stop first
            try:
                self.process.wait(timeout=STOP_DEADLINE)
            except subprocess.TimeoutExpired:
                self.children()
                self.process.kill()
                self.process.wait()
        for pid in self.pids:
            if alive(pid):
                psutil.Process(pid).kill()
        shutil.rmtree(self.var_dir, ignore_errors=True)


@pytest.fixture
def launcher():
    launcher = Launcher()
    yield launcher
    launcher.cleanup()


def test_make_run_starts_everything_and_ctrl_c_stops_everything(launcher):
    launcher.wait_until_running()
    text = launcher.output.text()
    assert f"URL:       {launcher.url}" in text
    assert "Login:     demo / queueloop-demo" in text
    assert "embedded Redis" in text and "sqlite3" in text
    assert " ready." in text  # the worker connected to the embedded Redis

    status = launcher.wait_for(
        lambda: http_status(launcher.url + "admin/login/"), timeout=10, what="HTTP"
    )
    assert status in (200, 301, 302), status

    commands = [" ".join(child.cmdline()) for child in launcher.children()]
    assert sum("celery" in c and " worker " in c for c in commands) == 1, commands
    assert sum("celery" in c and " beat " in c for c in commands) == 1, commands
    assert sum("runserver" in c for c in commands) == 1, commands
    assert sum("redis-server" in c for c in commands) == 1, commands

    launcher.process.send_signal(signal.SIGINT)
    assert launcher.process.wait(timeout=STOP_DEADLINE) == 0, launcher.output.text()
    launcher.wait_until_children_gone()
    assert "[queueloop] stopped" in launcher.output.text()


def test_a_child_that_dies_stops_the_rest_and_fails(launcher):
    launcher.wait_until_running()
    children = launcher.children()
    beat = next(c for c in children if " beat " in " ".join(c.cmdline()))
    beat.kill()

    assert launcher.process.wait(timeout=STOP_DEADLINE) == 1, launcher.output.text()
    assert f"beat (pid {beat.pid}) exited unexpectedly" in launcher.output.text()
    launcher.wait_until_children_gone()


def test_stopping_make_alone_stops_everything():
    """make dies on SIGTERM without passing it on to its recipe: the launcher must notice its
    parent is gone and stop every child, not keep running detached."""
    launcher = Launcher(under_a_parent=True)
    try:
        launcher.wait_until_running()
        [devrun] = [c for c in launcher.children() if "ops.devrun" in " ".join(c.cmdline())]
        assert len(launcher.pids) >= 4  # the launcher, web, worker, beat (and Redis)
        launcher.process.kill()  # the parent goes without a word, as make does
        launcher.process.wait()
        launcher.wait_for(lambda: not alive(devrun.pid), timeout=STOP_DEADLINE, what="launcher")
        launcher.wait_until_children_gone()
        assert "[queueloop] stopped" in launcher.output.text()
    finally:
        launcher.cleanup()


@pytest.mark.parametrize("port", ["eighty", "70000"])
def test_bad_port_is_a_clear_error(port, tmp_path):
    env = zero_setup_env(str(tmp_path), 0)
    env["QUEUELOOP_PORT"] = port
    result = subprocess.run(
        [sys.executable, "-m", "ops.devrun"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert f"QUEUELOOP_PORT={port!r} is not a port number" in result.stderr


def test_busy_port_is_a_clear_error_and_starts_nothing(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "ops.devrun"],
            cwd=BASE_DIR,
            env=zero_setup_env(str(tmp_path), port),
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 1
    assert f"port {port} is in use" in result.stdout
    assert not (tmp_path / "redis" / "redis.sock").exists()  # checked before Redis starts


# Run in the launcher's own setup (its SQLite file, its embedded Redis): a webhook account
# on the test's loopback receiver, a channel, a post with an image (processed by the
# launcher's worker), shared now.
SHARE_WITH_IMAGE = """
import time
from django.contrib.auth import get_user_model
from ops.management.commands.seed_demo import demo_image
from accounts.models import Workspace
from accounts.services import account_create_webhook
from channels.models import Channel
from posts.images import post_image_add
from editor.services import post_create
from scheduling.services import channel_save, post_share_now

workspace = Workspace.objects.get(slug="demo")
account = account_create_webhook(
    workspace=workspace, handle="receiver", url=RECEIVER_URL, secret="whsec-" + "x" * 24
)
channel = channel_save(
    channel=Channel(workspace=workspace, slug="hooks", name="#hooks", timezone="UTC")
)
channel.accounts.set([account])
post = post_create(
    workspace=workspace,
    text="A card for the receiver",
    channels=[channel],
    author=get_user_model().objects.get(username="demo"),
)
image = post_image_add(post=post, data=demo_image(), filename="card.png", alt_text="A card")
deadline = time.monotonic() + 40
while image.status != "ready":
    assert time.monotonic() < deadline, f"image still {image.status}"
    time.sleep(0.2)
    image.refresh_from_db()
post_share_now(post=post, channel=channel)
print("shared")
"""


def test_a_post_with_an_image_reaches_a_webhook_with_a_url_that_fetches():
    """`make run` gives PUBLIC_BASE_URL its own URL: a webhook on a loopback receiver (an
    allowed host) gets the image as an absolute URL, and that URL serves the image."""
    receiver = Receiver().start()
    launcher = Launcher(env={"WEBHOOK_ALLOWED_HOSTS": "127.0.0.1"})
    try:
        launcher.wait_until_running()
        env = {**zero_setup_env(launcher.var_dir, launcher.port), "DEBUG": "true"}
        script = f"RECEIVER_URL = {receiver.url!r}\n{SHARE_WITH_IMAGE}"
        result = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", script],
            cwd=BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert "shared" in result.stdout, result.stdout + result.stderr
        launcher.wait_for(lambda: receiver.requests, timeout=40, what="the webhook call")
        payload = receiver.requests[0].payload
        assert payload["text"] == "A card for the receiver"
        [image] = payload["images"]
        assert image["alt_text"] == "A card" and image["content_type"] == "image/png"
        assert image["url"].startswith(f"{launcher.url}media/"), image["url"]
        with urllib.request.urlopen(image["url"], timeout=5) as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "image/png"
            assert response.read().startswith(b"\x89PNG\r\n\x1a\n")
    finally:
        launcher.cleanup()
        receiver.stop()
