"""Settings for the benchmark processes (orchestrator, workers, beat).

The app's own settings plus: its own PostgreSQL database and Redis database number (so a
run never touches anyone else's data), its own Celery queue, the bench tasks, and
django-celery-beat, which only the peer scenario needs and the app never installs.
Everything else (acks_late, prefetch 1, visibility timeout, time limits, connection
handling) is exactly what production runs.
"""

from __future__ import annotations

import os
import tempfile

# Always the bench's own database and Redis db, whatever DATABASE_URL/REDIS_URL the shell
# has (the orchestrator drops and recreates this database): override with BENCH_*.
os.environ["DATABASE_URL"] = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/queueloop_bench"
)
os.environ["REDIS_URL"] = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-used-anywhere-else-0123456789")
# A fixed key for benchmark data only: webhook secrets are encrypted for real.
os.environ.setdefault("FIELD_ENCRYPTION_KEY", "pAqN2lVbX3M0f3kq2Kq8c0oWc2Cq2b2cS9oVh2Vx1aQ=")
os.environ.setdefault("QUEUELOOP_VAR_DIR", tempfile.mkdtemp(prefix="ql-bench-var-"))
os.environ.setdefault("LOG_LEVEL", "WARNING")
# The bench's webhook receiver listens on 127.0.0.1, which the SSRF guard refuses unless the
# operator allows it (ground/http_transport/curl.py).
os.environ.setdefault("WEBHOOK_ALLOWED_HOSTS", "127.0.0.1")

from queueloop.settings import *  # noqa: F403
from queueloop.settings import INSTALLED_APPS

DEBUG = False
INSTALLED_APPS = [*INSTALLED_APPS, "django_celery_beat"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

CELERY_TASK_DEFAULT_QUEUE = os.environ.get("BENCH_QUEUE", "queueloop-bench")
# The minute poller peer has a queue (and worker) of its own, so that its long wait for the
# next minute can overlap scenarios that use the default queue.
BENCH_PEER_QUEUE = f"{CELERY_TASK_DEFAULT_QUEUE}-peer"
# The planner scenario's fan-out: the real `scheduling.plan_chunk` and (the fan-in's)
# `scheduling.enqueue_range` tasks go to the planner workers' queue, so that the publish
# messages they enqueue stay on the default queue (nobody consumes it then) and can be
# counted there.
BENCH_PLAN_QUEUE = f"{CELERY_TASK_DEFAULT_QUEUE}-plan"
CELERY_TASK_ROUTES = {
    "bench.poll_due": {"queue": BENCH_PEER_QUEUE},
    "scheduling.plan_chunk": {"queue": BENCH_PLAN_QUEUE},
    "scheduling.enqueue_range": {"queue": BENCH_PLAN_QUEUE},
}
CELERY_IMPORTS = ["bench.tasks"]
# django-celery-beat stores its clocked times in UTC like everything else here.
DJANGO_CELERY_BEAT_TZ_AWARE = True

# Diagnostic only (bench/README.md, "Where the hot minute's time goes"): keep the worker's
# database connections across tasks instead of Celery's default of closing them before and
# after every task. Off unless BENCH_DB_REUSE_MAX is set; the bench's figures use the app's
# own configuration. Engine v2 sets DB_CONN_MAX_AGE=60, which was meant to make this
# pointless, but Celery 5.7's Django fixup calls `conn.close()` (not
# `close_if_unusable_or_obsolete()`) before and after every task unless CELERY_DB_REUSE_MAX
# is set, so CONN_MAX_AGE does not keep worker connections: the hot minute reports
# `db_sessions_per_slot` to show it.
if os.environ.get("BENCH_DB_REUSE_MAX"):
    CELERY_DB_REUSE_MAX = int(os.environ["BENCH_DB_REUSE_MAX"])

# The networks mix (bench/networks_mix.py): tweepy calls X's real host whatever X_API_BASE
# says, so the workers send X's calls to the fake X the way the drills do, through the X
# provider's transport hook (drills/celeryapp.py), once the worker has started.
if os.environ.get("DRILL_FAKE_X_URL"):
    from celery.signals import worker_init

    @worker_init.connect
    def _route_x_to_its_fake(**kwargs) -> None:
        import drills.celeryapp  # noqa: F401 (mounts the fake X when imported)
