"""Test settings: real PostgreSQL and Redis when they answer, SQLite and the embedded Redis
when they do not.

QUEUELOOP_REQUIRE_SERVICES=1 (set by .ci/run) turns a missing server into an error, so CI
can never pass by quietly testing against the fallbacks.
"""

from __future__ import annotations

import atexit
import os
import socket
import tempfile
from pathlib import Path

_REQUIRE = os.environ.get("QUEUELOOP_REQUIRE_SERVICES", "").lower() in {"1", "true", "yes"}
_RUN_ID = os.environ.get("QUEUELOOP_TEST_RUN_ID") or str(os.getpid())
_PG_URL = os.environ.get("QUEUELOOP_TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/queueloop")
_REDIS_URL = os.environ.get("QUEUELOOP_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _postgres_answers(url: str) -> str | None:
    import psycopg2

    try:
        psycopg2.connect(url.rsplit("/", 1)[0] + "/postgres", connect_timeout=3).close()
    except psycopg2.OperationalError as exc:
        return str(exc).strip().splitlines()[0]
    return None


def _redis_answers(url: str) -> str | None:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except (redis.RedisError, OSError) as exc:
        return str(exc)
    return None


SERVICES: dict[str, str] = {}

if not os.environ.get("DATABASE_URL"):
    problem = _postgres_answers(_PG_URL)
    if problem is None:
        os.environ["DATABASE_URL"] = _PG_URL
    elif _REQUIRE:
        raise RuntimeError(
            f"QUEUELOOP_REQUIRE_SERVICES is set but PostgreSQL is unreachable: {problem}"
        )
    else:
        SERVICES["postgres"] = f"PostgreSQL unreachable ({problem}); testing on SQLite"

_embedded_socket: Path | None = None
if not os.environ.get("REDIS_URL"):
    problem = _redis_answers(_REDIS_URL)
    if problem is None:
        os.environ["REDIS_URL"] = _REDIS_URL
    elif _REQUIRE:
        raise RuntimeError(f"QUEUELOOP_REQUIRE_SERVICES is set but Redis is unreachable: {problem}")
    else:
        from ops import embedded_redis

        _embedded_socket = Path(tempfile.mkdtemp(prefix="ql-redis-")) / "redis.sock"
        _process = embedded_redis.start(_embedded_socket)
        atexit.register(embedded_redis.stop, _process)
        os.environ["REDIS_URL"] = f"redis+socket://{_embedded_socket}"
        SERVICES["redis"] = f"Redis unreachable ({problem}); testing on the embedded Redis"

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-used-anywhere-else-0123456789")
# A fixed test key (never a production one) so encryption is exercised for real.
os.environ.setdefault("FIELD_ENCRYPTION_KEY", "pAqN2lVbX3M0f3kq2Kq8c0oWc2Cq2b2cS9oVh2Vx1aQ=")
os.environ.setdefault("QUEUELOOP_VAR_DIR", tempfile.mkdtemp(prefix="ql-var-"))

from queueloop.settings import *  # noqa: E402, F403
from queueloop.settings import DATABASES  # noqa: E402

DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
SECURE_SSL_REDIRECT = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# The test client's own address is never locked out, so one test's failed logins cannot
# lock out the next test's: the throttle tests log in from other (documentation) addresses.
AXES_NEVER_LOCKOUT_WHITELIST = True
AXES_IP_WHITELIST = ["127.0.0.1"]
# Throttles stay on but out of the way of tests that call the API many times; the
# throttle tests set their own rates.
API_THROTTLE_RATE = API_ANON_THROTTLE_RATE = "100000/minute"
# The local receivers tests publish to (tests/receiver.py) are on loopback; tests of the
# SSRF guard itself override this with an empty list.
WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not Django's in-memory default: worker threads need their own connections.
    DATABASES["default"]["TEST"] = {
        "NAME": str(Path(tempfile.mkdtemp()) / f"test-{_RUN_ID}.sqlite3")
    }
else:
    # One database per run, so parallel runs on one machine never collide.
    DATABASES["default"]["TEST"] = {"NAME": f"test_queueloop_{_RUN_ID}"}

# Each run has its own Celery queue on the shared Redis, for the same reason.
CELERY_TASK_DEFAULT_QUEUE = f"queueloop-test-{_RUN_ID}"
RESULTS_QUEUE = f"{CELERY_TASK_DEFAULT_QUEUE}-metrics"
CELERY_TASK_ROUTES = {"results.*": {"queue": RESULTS_QUEUE}}
TEST_HOSTNAME = socket.gethostname()
# ...and its own cache keys (login throttling counters).
# A test's in-process worker (celery.contrib.testing.worker.start_worker) must not take over
# the root logger: with the test files spread over processes, later tests in the same
# process would print through Celery's handler what the project's own logging keeps quiet.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CACHES["default"]["KEY_PREFIX"] = f"queueloop-test-{_RUN_ID}"  # noqa: F405
# collectstatic's target exists (empty) so WhiteNoise does not warn on every request.
STATIC_ROOT = Path(tempfile.mkdtemp(prefix="ql-static-"))
# Worker threads started inside the test process must not keep connections to the test
# database past their task (it is dropped at the end of the run); production keeps them.
DATABASES["default"]["CONN_MAX_AGE"] = 0
DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
CELERY_DB_REUSE_MAX = None
