"""The README's command lines, run as printed in a second shell beside `make run` (issue 11).

The launcher of `make run` (tests/ops/test_devrun.py) starts the app in the zero-setup shape;
then every `curl` line of the README (its ```sh blocks and the inline token line) runs
through bash with the launcher's port in place of 8000, and every `manage.py` command of
the "Operating it" table runs with the launcher's environment (the same var/ folder, so the
same SQLite database and embedded Redis). The `docker compose` lines need a Docker engine
and are not run here (docker-compose.yml is read against the settings instead).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from tests.ops.test_devrun import BASE_DIR, launcher, zero_setup_env  # noqa: F401 (fixture)

README = (BASE_DIR / "README.md").read_text()
PRINTED_BASES = ("http://127.0.0.1:8000/", "http://localhost:8000/")

pytestmark = pytest.mark.skipif(
    not os.path.exists("/usr/bin/curl"), reason="curl is missing (apt-get install curl)"
)


def sh_blocks() -> list[str]:
    """The commands of the README's ```sh blocks, continuation lines joined."""
    blocks = re.findall(r"```sh\n(.*?)```", README, flags=re.S)
    return [c for b in blocks for c in b.replace("\\\n", " ").splitlines() if c.strip()]


def curl_lines() -> list[str]:
    inline = re.findall(r"`(curl [^`]+)`", README.replace("\n", " "))
    return [*(c for c in sh_blocks() if c.startswith("curl ")), *inline]


def manage_commands() -> list[list[str]]:
    """`manage.py …` in the Operating table, with the options a run can take as printed."""
    rows = re.findall(r"^\| `manage\.py ([a-z_]+)([^`]*)` \|", README, flags=re.M)
    out = []
    for name, options in rows:
        args = [name]
        if "--dry-run" in options:
            args.append("--dry-run")
        if "--json" in options:
            args.append("--json")
        out.append(args)
    return out


def run(command: str, url: str, env: dict, cwd=None) -> subprocess.CompletedProcess:
    for base in PRINTED_BASES:
        command = command.replace(base, url)
    return subprocess.run(
        ["bash", "-c", command], env=env, capture_output=True, text=True, timeout=60, cwd=cwd
    )


def test_the_readmes_command_lines_work_beside_make_run(launcher, tmp_path):  # noqa: F811
    curls = curl_lines()
    commands = manage_commands()
    # What this test runs must stay in the README: it cannot pass by finding nothing.
    assert len(curls) >= 4, curls
    assert {c[0] for c in commands} >= {"plan_timeslots", "requeue_timeslots", "queue_status"}

    launcher.wait_until_running()
    env = {**os.environ, "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    token_line = next(c for c in curls if "/api/v1/auth/token/" in c)
    answer = run(token_line, launcher.url, env)
    assert answer.returncode == 0, answer.stderr
    token = json.loads(answer.stdout)["token"]
    # Only the variable the README tells the reader to set: a line using another name fails.
    assert "export TOKEN=" in README
    env["TOKEN"] = token

    for line in curls:
        if line is token_line:
            continue
        # In a folder of its own: a line that saves its answer (`curl -o FILE`) writes there.
        result = run(line, launcher.url, env, cwd=tmp_path)
        assert result.returncode == 0, (line, result.stderr)
        saved = re.search(r" -o (\S+)", line)
        body = json.loads((tmp_path / saved.group(1)).read_text() if saved else result.stdout)
        if saved:
            assert body["openapi"] and body["paths"], line
            continue
        if "/api/v1/posts/" in line:
            assert body["text"] and body["id"], (line, body)
            if "publish_at=2027-01-15 13:30:00" in line:
                [slot] = body["pinned"]
                assert slot["publish_at_local"] == "2027-01-15T13:30:00+01:00", body
                assert slot["publish_at"] == "2027-01-15T12:30:00Z", body
        elif "/healthz" in line:
            assert body["status"] == "ok", body

    # The second shell: the README's own prefix, in the project folder, with the launcher's
    # var/ folder (what `make run` uses when no QUEUELOOP_VAR_DIR is set).
    [prefix] = set(re.findall(r"`(DEBUG=true \.venv/bin/python manage\.py) …`", README))
    manage_env = zero_setup_env(launcher.var_dir, launcher.port)
    python = BASE_DIR / ".venv" / "bin" / "python"
    if not python.exists():  # a checkout whose venv lives elsewhere: the same interpreter
        prefix = prefix.replace(".venv/bin/python", sys.executable)
    for args in commands:
        line = f"{prefix} {' '.join(args)}"
        result = subprocess.run(
            ["bash", "-c", line],
            cwd=BASE_DIR,
            env=manage_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, (line, result.stdout, result.stderr)
