from django.apps import AppConfig


class BulkConfig(AppConfig):
    """Bulk import (CSV), export (CSV) of a channel's queue and history, and RSS/Atom feeds
    that fill a channel's queue. It sits above `publishing`: it creates posts through
    editor.services, the one place that checks a text against every network."""

    name = "bulk"
    verbose_name = "Import, export and feeds"
