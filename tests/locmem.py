"""No email is sent inside a request (issue 27): the tests' email backend.

Installed by tests/conftest.py for the whole run, over the locmem backend Django's test
set-up picks (the module is named locmem so /healthz still reports "locmem").

Django's locmem backend (mail.outbox), refusing any message sent while a request is being
handled on the sending thread. Request start and end are Django's own signals, which the
test client and the live server both send; a Celery worker thread (start_worker) or a
task run after the request is outside any request, as in production. Refusing raises, so
the view fails (the test client re-raises; a browser test sees a 500).
"""

from __future__ import annotations

import threading

from django.core.mail.backends import locmem
from django.core.signals import request_finished, request_started

_state = threading.local()


def _started(**kwargs) -> None:
    _state.depth = getattr(_state, "depth", 0) + 1


def _finished(**kwargs) -> None:
    _state.depth = max(0, getattr(_state, "depth", 0) - 1)


request_started.connect(_started, dispatch_uid="tests.locmem.started")
request_finished.connect(_finished, dispatch_uid="tests.locmem.finished")


def reset() -> None:
    """Forget requests that never finished on this thread (a streaming response nobody
    read to the end sends no request_finished); tests/conftest.py calls it per test."""
    _state.depth = 0


def in_request() -> bool:
    return getattr(_state, "depth", 0) > 0


class EmailSentInsideRequest(AssertionError):
    pass


class EmailBackend(locmem.EmailBackend):
    """Django's locmem backend, refusing to send inside a request."""

    def send_messages(self, messages):
        if in_request():
            subjects = [m.subject for m in messages or []]
            raise EmailSentInsideRequest(
                f"email sent inside a request: {subjects} (queue it after commit instead)"
            )
        return super().send_messages(messages)
