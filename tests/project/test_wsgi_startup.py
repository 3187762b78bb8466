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


def test_the_urlconf_is_loaded_before_the_freeze():
    """The URLconf brings every view and the libraries the views import: loaded by the
    first request instead, they would stay outside the freeze and each full collection
    would walk them again in the middle of a page."""
    from django.conf import settings

    kept = sys.modules.pop(settings.ROOT_URLCONF)
    gc.unfreeze()
    try:
        sys.modules.pop("queueloop.wsgi", None)
        importlib.import_module("queueloop.wsgi")
        urlconf = sys.modules.get(settings.ROOT_URLCONF)
        assert urlconf is not None
        # Frozen objects are in no generation the collector walks.
        walked = {id(o) for o in gc.get_objects(generation=2)}
        assert id(urlconf.urlpatterns) not in walked
    finally:
        gc.unfreeze()
        sys.modules[settings.ROOT_URLCONF] = kept
