"""The web server's start-up (queueloop/wsgi.py) puts the objects alive after it out of
the garbage collector's full passes, as the Celery worker does."""

from __future__ import annotations

import gc
import importlib
import sys


def test_loading_the_wsgi_application_freezes_the_startup_objects():
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    try:
        sys.modules.pop("queueloop.wsgi", None)
        module = importlib.import_module("queueloop.wsgi")
        assert callable(module.application)
        assert gc.get_freeze_count() > 1000
    finally:
        gc.unfreeze()
