"""The Celery app for bench beat processes: Queue Loop's app with a bench beat schedule.

BENCH_BEAT=poller: the minute poller peer (`bench.poll_due` at second 0 of every minute,
as cron does). Anything else: no entries at all, so django-celery-beat's DatabaseScheduler
holds only the peer's one-off clocked tasks (not the app's planner and watchdog).
"""

from __future__ import annotations

import os

from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

from queueloop.celery import app

if os.environ.get("BENCH_BEAT") == "poller":
    app.conf.beat_schedule = {
        "poll-due": {"task": "bench.poll_due", "schedule": crontab(minute="*")},
    }
else:
    app.conf.beat_schedule = {}

__all__ = ["app"]
