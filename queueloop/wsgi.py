import gc
import importlib
import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "queueloop.settings")
application = get_wsgi_application()
# The URLconf, and with it every view and what the views import (the providers' client
# libraries, pydantic, DRF: over a hundred thousand objects), is otherwise loaded by the first
# request, after the freeze below: each full collection then walked them all again inside a page
# (the calendar's p95 tail: bench/README.md, "Calendar follow-up").
importlib.import_module(settings.ROOT_URLCONF)
# Every object alive after start-up lives as long as the process: out of the garbage
# collector's full passes, which walked them all in the middle of pages that build
# thousands of objects (the calendar: bench/README.md, "The agency"), as the
# Celery worker does (queueloop/celery.py). Objects made later are collected as before.
gc.freeze()
