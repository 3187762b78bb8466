import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "queueloop.settings")
application = get_wsgi_application()
# Every object alive after start-up lives as long as the process: out of the garbage
# collector's full passes, which walked them all in the middle of pages that build
# thousands of objects (the calendar: bench/README.md, "The agency"), as the
# Celery worker does (queueloop/celery.py). Objects made later are collected as before.
gc.freeze()
