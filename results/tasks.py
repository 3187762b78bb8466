"""Thin Celery task: the metrics collector (results/collector.py).

Routed to RESULTS_QUEUE (settings.CELERY_TASK_ROUTES: "results.*"), never the publishing
queue, and sent by beat with the lowest priority: a backlog of metrics never stands
between a publish message and a worker of its own queue.
"""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from results import collector


@shared_task(name="results.collect_metrics", soft_time_limit=50, time_limit=58)
def collect_metrics() -> dict:
    outcome = collector.metrics_collect(now=timezone.now())
    result = {k: v for k, v in vars(outcome).items() if isinstance(v, int)}
    return result
