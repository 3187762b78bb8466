"""The Celery app: one worker pool for publishing, exactly one beat for the clock."""

from __future__ import annotations

import gc
import os

from celery import Celery
from celery.schedules import crontab
from celery.signals import (
    beat_init,
    task_postrun,
    task_prerun,
    worker_process_init,
    worker_ready,
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "queueloop.settings")


@task_prerun.connect
@task_postrun.connect
def _recycle_database_connections(**kwargs) -> None:
    """Django's per-request rule, per task: close a connection that broke (a database
    restart) or outlived DB_CONN_MAX_AGE; keep a healthy one (CELERY_DB_REUSE_MAX keeps
    Celery's fixup from closing it every time)."""
    from django.db import close_old_connections

    close_old_connections()


@worker_ready.connect
@worker_process_init.connect
def _freeze_startup_objects(**kwargs) -> None:
    """Load the URLconf, then put every object alive after start-up (Django, Celery, the
    networks' SDKs, the URLconf's views) out of the garbage collector's reach.

    The URLconf: links made in tasks come from reverse() (a sandbox post's, an email's),
    and the first reverse() in a process imports every view and builds the whole table:
    inside the first hot second after each worker start. (A renamed URL name fails here at
    once: tests/project/test_celery_config.py sends this signal.)
    The freeze: a full collection walked them all in the middle of a hot second, with every
    thread stopped (bench/README.md, "Engine v2, third follow-up"); objects made later are
    collected as before. (A prefork child freezes its own, after the fork.)"""
    from django.urls import reverse

    reverse("dashboard")
    gc.freeze()


@beat_init.connect
def _check_wall_times_at_start(sender=None, **kwargs) -> None:
    """At start-up (a deploy, often with a new tzdata), pinned and moved slots are checked
    against the running zone rules at once rather than at the next hourly planner run."""
    try:
        app.send_task("scheduling.check_wall_times")
    except Exception:  # broker down: the hourly planner run checks them anyway
        import logging

        logging.getLogger(__name__).warning("wall-time check not queued at start-up")


app = Celery("queueloop")
app.config_from_object("django.conf:settings", namespace="CELERY")
# A library-bug workaround (a Redis restart with unacked messages stopped the worker):
# ground/library_workarounds.py says which bug and how it is pinned.
app.conf.worker_consumer = "ground.library_workarounds:QueueLoopConsumer"
app.autodiscover_tasks()

app.conf.beat_schedule = {
    # Hourly at :00 plans the next PLANNER_HORIZON (75 min), so every slot is enqueued at
    # least 15 minutes ahead and one missed run is caught up by the next from the watermark.
    "plan-upcoming": {"task": "scheduling.plan_upcoming", "schedule": crontab(minute=0)},
    # The database is the truth; the watchdog repairs lost, late and stuck work.
    "watchdog": {"task": "scheduling.watchdog", "schedule": 60.0},
    # Problems in the next 24 hours' slots (scheduling/lint.py): a notice, emailed daily.
    "lint-upcoming": {"task": "scheduling.lint_upcoming", "schedule": crontab(minute=7)},
    "recover-deliveries": {"task": "publishing.recover_deliveries", "schedule": 60.0},
    # Unconfirmed deliveries are looked for on their networks (publishing/read_back.py).
    # Low priority: a run is bounded (30 s of checks) and its messages expire unrun rather
    # than pile up behind publishing work.
    "read-back": {
        "task": "publishing.read_back_unconfirmed",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
    # Notice emails SMTP refused (or whose task never ran) are sent again, with backoff.
    "retry-notice-emails": {"task": "accounts.retry_notice_emails", "schedule": 60.0},
    # Invitation emails likewise (accounts.members).
    "retry-invitation-emails": {"task": "accounts.retry_invitation_emails", "schedule": 60.0},
    # Approvers told of posts in review due within REVIEW_LEAD_TIME (editor.review_mail).
    "notify-reviews-due": {"task": "editor.notify_reviews_due", "schedule": 300.0},
    # RSS/Atom feeds: every 5 minutes, the feeds not read for 15 (bulk.feeds) are read.
    "poll-feeds": {"task": "bulk.poll_feeds", "schedule": 300.0},
    # Post images whose processing message was lost are sent again (posts.images).
    "requeue-stale-images": {"task": "posts.requeue_stale_images", "schedule": 300.0},
    # API Idempotency-Keys live 24 hours (accounts.idempotency); an expired one is also
    # deleted when next sent, this keeps the table from growing with keys never sent again.
    "purge-idempotency-keys": {
        "task": "accounts.purge_idempotency_keys",
        "schedule": crontab(minute=17),
    },
    # Outbound events whose fan-out or send message was lost, and sends whose worker died.
    "sweep-events": {"task": "integrations.sweep_events", "schedule": 60.0},
    # Sent deliveries' public counts at +1 h, +24 h, +7 days (results/collector.py): on its
    # own queue (task_routes), lowest priority, and expiring unrun rather than piling up.
    "collect-metrics": {
        "task": "results.collect_metrics",
        "schedule": 60.0,
        "options": {"expires": 60.0, "priority": 9},
    },
}


def send_many(task: str, messages, *, what: str) -> None:
    """Send tasks by name — [(args, eta), ...] — through one pooled producer, pipelined.

    By name, so a lower app can start work in a higher one without importing it (DESIGN
    §1). Raises what the broker raised: the caller knows what to mark as not sent.
    """
    with app.producer_or_acquire() as producer, producer.batch(max_size=500):
        for i, (args, eta) in enumerate(messages):
            app.send_task(
                task,
                args=args,
                eta=eta,
                producer=producer,
                # Celery declares the queue on every publish; once per batch is enough (on
                # Redis a declare only records the binding).
                declare=None if i == 0 else [],
                # Celery would saferepr the arguments for the log: a batch's size is enough.
                argsrepr=f"({len(args[0]) if args and isinstance(args[0], list) else 1} {what})",
            )
