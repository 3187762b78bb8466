"""Workarounds for library bugs, in one place. Each names the bug, the upstream report, the
versions it was verified against, and is pinned by tests/test_library_workarounds.py, which
fails as soon as the library changes under it (a new version, or the patched method gone or
re-shaped): then check whether the bug is fixed and remove or re-verify the workaround.

Nothing else in the project reaches into these libraries' internals.
"""

from __future__ import annotations

import logging

from celery.worker.consumer import Consumer

log = logging.getLogger(__name__)

# The versions each workaround was verified against (requirements.txt pins them).
VERIFIED = {"celery": "5.7.0", "kombu": "5.7.0"}


class QueueLoopConsumer(Consumer):
    """Celery's consumer, surviving a Redis restart while it holds ETA messages.

    The bug (celery/kombu 5.7.0, Redis transport): when the broker goes away, the consumer
    collect()s the broken connection (detaching its transport) and then close()s it, and
    close() restores the unacked messages through the detached transport: AttributeError
    ('NoneType' has no 'hostname'), which is not a connection error, so the whole worker
    stops (found by drills/ scenario 2). Upstream: the same AttributeError on close through
    a connection whose conninfo is gone is celery/kombu#582, and restoring unacked messages
    on close failing is celery/kombu#970; this exact 5.7 path (collect, then close) had no
    report of its own in the tracker when this was written — file one with drills/ scenario
    2 as the reproduction.

    Our workers always hold unacknowledged ETA messages (every slot of the next 75 min); the
    messages are gone with the old Redis anyway, and the watchdog re-enqueues their slots
    from the database. So that one error is logged and the consumer reconnects as usual.

    Installed by the documented `worker_consumer` setting (queueloop/celery.py); it
    overrides `Consumer.on_connection_error_after_connected(exc)` and wraps the kombu
    `Connection.close` of the broken connection only.
    """

    def on_connection_error_after_connected(self, exc):
        connection = self.connection
        if connection is not None:
            close = connection.close

            def close_tolerating_detached_transport():
                try:
                    close()
                except AttributeError:
                    log.warning("broker connection lost with unacked messages; reconnecting")

            connection.close = close_tolerating_detached_transport
        super().on_connection_error_after_connected(exc)
