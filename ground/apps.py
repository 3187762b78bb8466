"""The ground: shared pieces that import no app (SQL helpers, fields, events, time bounds,
zones, middleware, the address policy and the guarded HTTP transport).

A Django app only because it carries the `{% load clock %}` template tags and registers the
`__any` lookup (ground.db) when Django starts."""

from __future__ import annotations

from django.apps import AppConfig


class GroundConfig(AppConfig):
    name = "ground"
    verbose_name = "Queue Loop ground"

    def ready(self) -> None:
        # Registers the `__any` lookup (one array parameter for a list of keys).
        from ground import db  # noqa: F401
