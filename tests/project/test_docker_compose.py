"""docker-compose.yml runs the production shape, and its environment is one settings reads.

No Docker needed: the file is parsed with PyYAML, compose's ${VAR} interpolation is
applied with the values of .env.example, and the resulting web environment is used to
import the real settings in a fresh interpreter.
"""

from __future__ import annotations

import re

import pytest
import yaml

from tests.project.test_settings import (
    A_FERNET_KEY,
    BASE_DIR,
    clean_env,
    import_settings,
    loaded,
    settings_env_names,
)

COMPOSE = BASE_DIR / "docker-compose.yml"
ENV_EXAMPLE = BASE_DIR / ".env.example"
DOCKERFILE = BASE_DIR / "Dockerfile"
APP_SERVICES = ("web", "worker", "beat")
REQUIRED = ("SECRET_KEY", "FIELD_ENCRYPTION_KEY", "DATABASE_URL", "REDIS_URL")
SECRETS = ("SECRET_KEY", "FIELD_ENCRYPTION_KEY")

_VAR = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


class MissingVariable(Exception):
    pass


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's interpolation: ${X}, ${X:-default}, ${X-default}, ${X:?error}, ${X?error}."""

    def sub(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name", "op", "arg")
        current = env.get(name)
        if op == ":-":
            return current or arg
        if op == "-":
            return arg if current is None else current
        if op in (":?", "?") and (current is None or (op == ":?" and current == "")):
            raise MissingVariable(f"{name}: {arg}")
        return current or ""

    return _VAR.sub(sub, value)


def read_env_file(path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # the "- NAME=value" form
        env = dict(item.partition("=")[::2] for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def command(service: dict) -> str:
    cmd = service.get("command", "")
    return " ".join(cmd) if isinstance(cmd, list) else cmd


def test_the_five_services(services):
    assert set(services) == {"postgres", "redis", "web", "worker", "beat"}
    assert services["postgres"]["image"] == "postgres:16"
    assert services["redis"]["image"].split(":")[0] == "redis"
    assert services["redis"]["image"].split(":")[1].startswith("7")
    for name in APP_SERVICES:
        assert services[name].get("build") or services[name].get("image") == "queueloop:latest"


def test_exactly_one_beat(services):
    beat = services["beat"]
    assert "celery -A queueloop beat" in command(beat)
    assert beat.get("deploy", {}).get("replicas", 1) == 1
    assert beat.get("scale", 1) == 1
    # Nothing else runs a beat: not a second service, not a worker with -B.
    for name, service in services.items():
        if name != "beat":
            assert not re.search(r"\bbeat\b|\s-B\b|--beat\b", command(service)), name
    assert re.search(r"#.*(one|single) beat", COMPOSE.read_text(), re.IGNORECASE)


def test_redis_keeps_messages(compose, services):
    redis = services["redis"]
    cmd = command(redis)
    assert re.search(r"--maxmemory-policy[ =]noeviction", cmd)
    assert re.search(r"--appendonly[ =]yes", cmd)
    [volume] = [v for v in redis["volumes"] if v.endswith(":/data")]
    assert volume.split(":")[0] in compose["volumes"]  # a named volume, kept across restarts
    assert redis["healthcheck"]["test"]


def test_postgres_has_a_named_volume_and_a_healthcheck(compose, services):
    postgres = services["postgres"]
    [volume] = [v for v in postgres["volumes"] if v.endswith(":/var/lib/postgresql/data")]
    assert volume.split(":")[0] in compose["volumes"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    for name in APP_SERVICES:
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"


def test_web_and_worker_share_the_post_images_volume(compose, services):
    """Web stores uploads, the worker reads them to publish: one named volume at the
    media root (var/media under QUEUELOOP_VAR_DIR), served only by the signed view."""
    for name in ("web", "worker"):
        [volume] = [v for v in services[name]["volumes"] if v.endswith(":/app/var/media")]
        assert volume.split(":")[0] in compose["volumes"]
        assert environment(services[name])["QUEUELOOP_VAR_DIR"] == "/app/var"


def test_web_migrates_then_serves_with_gunicorn(services):
    cmd = command(services["web"])
    migrate = cmd.index("manage.py migrate --noinput")
    collect = cmd.index("manage.py collectstatic --noinput")
    gunicorn = cmd.index("gunicorn queueloop.wsgi:application")
    assert migrate < collect < gunicorn
    assert "&&" in cmd[migrate:gunicorn]  # a failed migration stops the start
    assert "--bind 0.0.0.0:8000" in cmd[gunicorn:]
    assert "--workers 3" in cmd[gunicorn:]
    assert any(p.endswith(":8000") for p in services["web"]["ports"])


def test_worker_command(services):
    cmd = command(services["worker"])
    assert "celery -A queueloop worker" in cmd
    assert "--concurrency=4" in cmd


def test_every_app_variable_is_one_settings_reads(services):
    read = settings_env_names()
    for name in APP_SERVICES:
        unknown = set(environment(services[name])) - read
        assert not unknown, f"{name} sets {sorted(unknown)}, which settings never read"


def test_required_settings_are_set_for_web_worker_and_beat(services):
    for name in APP_SERVICES:
        env = environment(services[name])
        for key in REQUIRED:
            assert env.get(key), f"{name} does not set {key}"
        # Secrets come from .env and are required there: never a default in this file.
        for key in SECRETS:
            assert re.fullmatch(rf"\$\{{{key}:\?[^}}]+\}}", env[key]), (name, env[key])
        assert env["DEBUG"].lower() == "false"
    envs = [environment(services[name]) for name in APP_SERVICES]
    assert envs[0] == envs[1] == envs[2]  # one shared block: the processes must agree


def test_compose_refuses_to_start_without_the_secrets(services):
    env = environment(services["web"])
    with pytest.raises(MissingVariable, match="SECRET_KEY"):
        interpolate(env["SECRET_KEY"], read_env_file(ENV_EXAMPLE))  # empty in the example
    with pytest.raises(MissingVariable, match="POSTGRES_PASSWORD"):
        interpolate(env["DATABASE_URL"], {})


def _strings(node):
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)
    elif isinstance(node, str):
        yield node


def test_every_compose_variable_is_documented_in_env_example(compose):
    # Compose interpolates values, not comments: walk the parsed file.
    used = {
        m.group("name")
        for text in _strings(compose)
        for m in _VAR.finditer(text)
        if m.group("name")
    }
    assert {"SECRET_KEY", "FIELD_ENCRYPTION_KEY", "POSTGRES_PASSWORD"} <= used
    documented = set(read_env_file(ENV_EXAMPLE))
    assert used - documented == set()
    assert documented - used == set(), "documented in .env.example but never used"


def test_the_web_environment_imports_the_real_settings(services, tmp_path):
    dotenv = {
        **read_env_file(ENV_EXAMPLE),
        "POSTGRES_PASSWORD": "s3cretpassw0rd",
        "SECRET_KEY": "compose-test-secret-key-" + "x" * 30,
        "FIELD_ENCRYPTION_KEY": A_FERNET_KEY,
    }
    resolved = {k: interpolate(v, dotenv) for k, v in environment(services["web"]).items()}
    # Paths inside the image do not exist here; everything else is exactly compose's value.
    resolved.pop("QUEUELOOP_VAR_DIR")
    resolved.pop("STATIC_ROOT")
    settings = loaded(import_settings(clean_env(tmp_path, **resolved)))
    assert settings["DEBUG"] is False
    assert settings["ENGINE"] == "django.db.backends.postgresql"
    assert settings["HOST"] == "postgres"
    assert settings["NAME"] == "queueloop"
    assert settings["REDIS_URL"] == "redis://redis:6379/0"
    assert settings["SESSION_COOKIE_SECURE"] is True


def test_dockerfile(tmp_path):
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.MULTILINE)
    assert re.search(r"pip install .*-r requirements\.txt", text)
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users and users[-1] not in {"root", "0", "0:0"}
    ignored = (BASE_DIR / ".dockerignore").read_text().split()
    assert {".env", ".venv", ".git", "var"} <= set(ignored)


def test_healthchecks_use_healthz_with_checks_it_knows(services):
    from ops.health_views import CHECKS

    wanted = {"web": {"database", "broker"}, "worker": {"worker"}, "beat": {"planner"}}
    for name, checks in wanted.items():
        probe = " ".join(services[name]["healthcheck"]["test"])
        match = re.search(r"http://(?:127\.0\.0\.1|web):8000/healthz\?checks=([\w,]+)", probe)
        assert match, f"{name}'s healthcheck does not call /healthz: {probe}"
        assert set(match.group(1).split(",")) == checks
        assert checks <= set(CHECKS)
    # Worker and beat start once web answers /healthz (migrations done, broker up).
    for name in ("worker", "beat"):
        assert services[name]["depends_on"]["web"]["condition"] == "service_healthy"
