"""Tasks only the benchmark workers load (CELERY_IMPORTS in bench/settings.py).

- `bench.post_hook`: the floor and the peers' unit of work: one POST to the receiver, none
  of Queue Loop's bookkeeping (no token, no claim, no delivery row).
- planner fan-out timing: the planner scenario runs the app's own `scheduling.plan_chunk`
  and `scheduling.enqueue_range` tasks; the task_prerun/task_postrun handlers below record
  when each ran, in which process, and what it returned (`bench:plan:done`), for the
  orchestrator's wall time.
- `bench.poll_due`: the minute poller peer, as cron-based schedulers work: every minute,
  take whatever is due from a table and send it.
"""

from __future__ import annotations

import json
import os
import time

import redis
import requests
from celery import shared_task
from celery.signals import task_postrun, task_prerun, worker_ready
from django.conf import settings
from django.db import connection, transaction

POLLER_TABLE = "bench_due"


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


@worker_ready.connect
def _announce_ready(sender=None, **kwargs):
    # The orchestrator waits for this key instead of a slow `celery inspect ping`.
    _redis().set(f"bench:ready:{sender.hostname}", os.getpid(), ex=3600)


@shared_task(name="bench.post_hook", soft_time_limit=30, time_limit=60)
def post_hook(key: str, item: int, url: str) -> int:
    response = requests.post(
        url,
        data=json.dumps({"item": item}),
        headers={"Content-Type": "application/json", "Idempotency-Key": key},
        timeout=settings.WEBHOOK_HTTP_TIMEOUT,
    )
    response.raise_for_status()
    return response.status_code


PLAN_CHUNK_TASK = "scheduling.plan_chunk"
ENQUEUE_RANGE_TASK = "scheduling.enqueue_range"
PLAN_TASKS = (PLAN_CHUNK_TASK, ENQUEUE_RANGE_TASK)
_chunk_started: dict[str, float] = {}


@task_prerun.connect
def _plan_chunk_started(sender=None, task_id=None, **kwargs):
    if getattr(sender, "name", None) in PLAN_TASKS:
        _chunk_started[task_id] = time.time()


@task_postrun.connect
def _plan_chunk_finished(sender=None, task_id=None, retval=None, **kwargs):
    if getattr(sender, "name", None) not in PLAN_TASKS:
        return
    done = {
        "task": sender.name,
        "started": _chunk_started.pop(task_id, None),
        "finished": time.time(),
        "pid": os.getpid(),
        **(retval if isinstance(retval, dict) else {"error": repr(retval)}),
    }
    _redis().rpush("bench:plan:done", json.dumps(done))


@shared_task(name="bench.poll_due", soft_time_limit=50, time_limit=58)
def poll_due() -> int:
    """Send every due, unsent row once: claim them in one UPDATE, send after commit."""
    from queueloop.celery import app

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {POLLER_TABLE} SET sent_at = now() "  # noqa: S608 - a constant
                "WHERE sent_at IS NULL AND due <= now() RETURNING key, item, url"
            )
            rows = cursor.fetchall()

        def send():
            with app.producer_or_acquire() as producer, producer.batch(max_size=500):
                for key, item, url in rows:
                    post_hook.apply_async(
                        (key, item, url), producer=producer, queue=settings.BENCH_PEER_QUEUE
                    )

        transaction.on_commit(send)
    return len(rows)
