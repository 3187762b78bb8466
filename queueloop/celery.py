"""The Celery app: one worker pool for publishing, exactly one beat for the clock."""

from __future__ import annotations

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "queueloop.settings")

app = Celery("queueloop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    # Hourly at :00 plans the next PLANNER_HORIZON (75 min), so every slot is enqueued at
    # least 15 minutes ahead and one missed run is caught up by the next from the watermark.
    "plan-upcoming": {"task": "scheduling.plan_upcoming", "schedule": crontab(minute=0)},
    # The database is the truth; the watchdog repairs lost, late and stuck work.
    "watchdog": {"task": "scheduling.watchdog", "schedule": 60.0},
}
