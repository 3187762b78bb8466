"""The project's own app config: connects the Celery hooks that feed /healthz and /metrics
(ground/opsrecord.py) in every process that loads Django, workers included."""

from __future__ import annotations

from django.apps import AppConfig


class QueueLoopConfig(AppConfig):
    name = "queueloop"
    verbose_name = "Queue Loop"

    def ready(self) -> None:
        from celery import signals

        from ground import opsrecord
        from queueloop.celery import app

        # Read when a worker builds its consumer, which happens after Django is set up.
        app.steps["consumer"].add(opsrecord.WorkerHeartbeatStep)
        signals.task_prerun.connect(opsrecord.on_task_prerun, weak=False)
        signals.task_postrun.connect(opsrecord.on_task_postrun, weak=False)
