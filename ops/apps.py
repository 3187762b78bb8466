"""Operations, on top of every app: /healthz and /metrics (served by ops.middleware before
host validation), the dev launcher behind `make run` (ops.devrun) and its embedded Redis,
and the demo data (`manage.py seed_demo`)."""

from __future__ import annotations

from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "ops"
    verbose_name = "Operations"
