"""The Celery app drills run: `celery -A drills.celeryapp worker|beat`.

It is the application's own app (queueloop.celery, same tasks, same configuration, same
beat schedule) with two drill-only adjustments, both driven by the environment and both
inert when their variable is unset:

- DRILL_FAKE_X_URL: every request our X provider makes to api.twitter.com / api.x.com is
  sent to this local fake X server instead, through the provider's own test hook
  (networks.x.adapter.transport_hook, a requests transport adapter). tweepy, our
  error classification and the at-most-once logic all run unchanged; only the host moves.
- DRILL_WATCHDOG_EVERY: seconds between watchdog runs (the app hard-codes 60 s). Only the
  quick subset (`make test`) sets it, to stay within its time budget; `make drills` runs
  the real 60 s period. It also runs read-back (publishing.read_back_unconfirmed) that often.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import django
import requests
from requests.adapters import HTTPAdapter

from queueloop.celery import app

X_HOSTS = ("https://api.twitter.com", "https://api.x.com")

__all__ = ["app"]


class RedirectAdapter(HTTPAdapter):
    """Sends a request to `base` with the same path and query (X's API on a local port)."""

    def __init__(self, base: str):
        super().__init__()
        self.base = base.rstrip("/")

    def send(self, request, **kwargs):
        parts = urlsplit(request.url)
        request.url = self.base + parts.path + (f"?{parts.query}" if parts.query else "")
        return super().send(request, **kwargs)


def _install_fake_x(base: str) -> None:
    django.setup()
    from networks.x import adapter as x

    def mount(session: requests.Session) -> None:
        adapter = RedirectAdapter(base)
        for host in X_HOSTS:
            session.mount(host, adapter)

    if hasattr(x, "transport_hook"):
        x.transport_hook = mount
        return
    # Without the provider's hook, mount on every new requests session instead.
    original_init = requests.Session.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        mount(self)

    requests.Session.__init__ = init


if os.environ.get("DRILL_FAKE_X_URL"):
    _install_fake_x(os.environ["DRILL_FAKE_X_URL"])

if os.environ.get("DRILL_WATCHDOG_EVERY"):
    # The slots' and the deliveries' halves, and the read-back of unconfirmed deliveries.
    for entry in ("watchdog", "recover-deliveries", "read-back"):
        app.conf.beat_schedule[entry]["schedule"] = float(os.environ["DRILL_WATCHDOG_EVERY"])
