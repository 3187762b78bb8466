"""Settings come from the environment and fail loudly, naming the variable, on bad values.

Each case imports queueloop.settings in a fresh interpreter with a controlled environment
(this process's settings are already loaded, and an import error must be seen as it is).
"""

from __future__ import annotations

import ast
import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
ENV_READERS = {"env_str", "env_bool", "env_int", "env_list", "env_seconds"}
SKIP_DIRS = {".venv", "tests", "migrations", "var", "node_modules", "staticfiles", ".git"}

# Prints what the checks below look at; any exception ends the process with its traceback.
PROBE = """
import json
import queueloop.settings as s
db = s.DATABASES["default"]
print(json.dumps({
    "DEBUG": s.DEBUG,
    "ENGINE": db["ENGINE"],
    "NAME": str(db["NAME"]),
    "HOST": db.get("HOST", ""),
    "OPTIONS": db.get("OPTIONS", {}),
    "REDIS_URL": s.REDIS_URL,
    "ALLOWED_HOSTS": s.ALLOWED_HOSTS,
    "SECRET_KEY_SET": bool(s.SECRET_KEY),
    "SESSION_COOKIE_SECURE": s.SESSION_COOKIE_SECURE,
    "SECURE_SSL_REDIRECT": s.SECURE_SSL_REDIRECT,
    "KEYS": len(s.FIELD_ENCRYPTION_KEYS),
}))
"""

A_FERNET_KEY = "pAqN2lVbX3M0f3kq2Kq8c0oWc2Cq2b2cS9oVh2Vx1aQ="


def _project_modules() -> list[Path]:
    files = []
    for root, dirs, names in os.walk(BASE_DIR):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith(".")]
        files += [Path(root) / name for name in names if name.endswith(".py")]
    return files


def env_names_read(path: Path) -> set[str]:
    """Names passed as a literal to env_str/env_bool/env_int/env_list/env_seconds in a file."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        first = node.args[0]
        if name in ENV_READERS and isinstance(first, ast.Constant):
            names.add(first.value)
    return names


@functools.cache
def settings_env_names() -> frozenset[str]:
    """Every environment variable the settings (and any other queueloop.env caller) read."""
    names = env_names_read(BASE_DIR / "queueloop" / "settings.py")
    for path in _project_modules():
        if "queueloop.env" in path.read_text() and path.name != "env.py":
            names |= env_names_read(path)
    return frozenset(names)


def clean_env(var_dir: Path, **overrides: str) -> dict[str, str]:
    """This process's environment without anything the settings read, plus `overrides`."""
    read = settings_env_names()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in read and key != "DJANGO_SETTINGS_MODULE"
    }
    env["QUEUELOOP_VAR_DIR"] = str(var_dir)
    env["STATIC_ROOT"] = str(var_dir / "static")
    env.update(overrides)
    return env


def import_settings(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def loaded(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def refused(result: subprocess.CompletedProcess) -> str:
    """The ImproperlyConfigured line of a failed import (fails if the import worked)."""
    assert result.returncode != 0, f"settings imported, expected a refusal: {result.stdout}"
    lines = [ln for ln in result.stderr.splitlines() if "ImproperlyConfigured" in ln]
    assert lines, result.stderr
    return lines[-1]


def test_the_parser_finds_the_settings_variables():
    names = settings_env_names()
    assert {
        "DEBUG",
        "SECRET_KEY",
        "FIELD_ENCRYPTION_KEY",
        "DATABASE_URL",
        "REDIS_URL",
        "PLANNER_HORIZON",
        "ALLOWED_HOSTS",
        "EMAIL_URL",
    } <= names
    assert "NOT_A_SETTING" not in names


@pytest.mark.parametrize(
    "overrides, name",
    [
        ({"DEBUG": "maybe"}, "DEBUG"),
        ({"DEBUG": "true", "PLANNER_HORIZON": "abc"}, "PLANNER_HORIZON"),
        ({"DEBUG": "true", "PLANNER_HORIZON": "5"}, "PLANNER_HORIZON"),  # below the minimum
        ({"DEBUG": "true", "DATABASE_URL": "nonsense://what"}, "DATABASE_URL"),
        ({"DEBUG": "true", "DB_CONN_MAX_AGE": "soon"}, "DB_CONN_MAX_AGE"),
        ({"DEBUG": "true", "REDIS_URL": "http://localhost:6379"}, "REDIS_URL"),
        ({"DEBUG": "true", "EMAIL_URL": "mail.example.com"}, "EMAIL_URL"),
        ({"DEBUG": "true", "FIELD_ENCRYPTION_KEY": "not-a-fernet-key"}, "FIELD_ENCRYPTION_KEY"),
        ({"DEBUG": "true", "MISSED_AFTER": "60", "WATCHDOG_GRACE": "120"}, "MISSED_AFTER"),
        ({"DEBUG": "true", "PUBLIC_BASE_URL": "queueloop.example.com"}, "PUBLIC_BASE_URL"),
        ({"DEBUG": "true", "LINKEDIN_VERSION": "2026-09"}, "LINKEDIN_VERSION"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_a_bad_value_stops_start_up_naming_the_variable(tmp_path, overrides, name):
    line = refused(import_settings(clean_env(tmp_path, **overrides)))
    assert name in line


def test_production_without_a_secret_key_is_refused(tmp_path):
    line = refused(import_settings(clean_env(tmp_path, FIELD_ENCRYPTION_KEY=A_FERNET_KEY)))
    assert "SECRET_KEY" in line


def test_production_without_an_encryption_key_is_refused(tmp_path):
    line = refused(import_settings(clean_env(tmp_path, SECRET_KEY="x" * 50)))
    assert "FIELD_ENCRYPTION_KEY" in line


def test_production_with_its_secrets_is_secure_by_default(tmp_path):
    settings = loaded(
        import_settings(
            clean_env(
                tmp_path,
                SECRET_KEY="x" * 50,
                FIELD_ENCRYPTION_KEY=A_FERNET_KEY,
                DATABASE_URL="postgres://u:p@db.example:5432/queueloop",
                REDIS_URL="redis://cache.example:6379/0",
            )
        )
    )
    assert settings["DEBUG"] is False
    assert settings["ENGINE"] == "django.db.backends.postgresql"
    assert settings["HOST"] == "db.example"
    assert settings["REDIS_URL"] == "redis://cache.example:6379/0"
    assert settings["SESSION_COOKIE_SECURE"] is True
    assert settings["SECURE_SSL_REDIRECT"] is True
    assert settings["ALLOWED_HOSTS"] == []


def test_debug_alone_gives_the_zero_setup_sqlite_default(tmp_path):
    var_dir = tmp_path / "var"
    settings = loaded(import_settings(clean_env(var_dir, DEBUG="true")))
    assert settings["DEBUG"] is True
    assert settings["ENGINE"] == "django.db.backends.sqlite3"
    assert Path(settings["NAME"]).parent == var_dir
    options = settings["OPTIONS"]
    assert "journal_mode=WAL" in options["init_command"]
    assert options["transaction_mode"] == "IMMEDIATE"
    assert options["timeout"] >= 5
    assert settings["REDIS_URL"] == f"redis+socket://{var_dir / 'redis' / 'redis.sock'}"
    assert settings["KEYS"] == 1  # a development key derived from the dev secret
    # The development secret key is generated once, kept private, and reused.
    key_file = var_dir / "dev-secret-key"
    assert key_file.stat().st_mode & 0o077 == 0
    first = key_file.read_text()
    loaded(import_settings(clean_env(var_dir, DEBUG="true")))
    assert key_file.read_text() == first
