"""Workarounds for library bugs, in one place. Each names the bug, the upstream report, the
versions it was verified against, and is pinned by tests/ground/test_library_workarounds.py, which
fails as soon as the library changes under it (a new version, or the patched method gone or
re-shaped): then check whether the bug is fixed and remove or re-verify the workaround.

Nothing else in the project reaches into these libraries' internals.
"""

from __future__ import annotations

import contextlib
import logging
import threading

import dateutil.rrule
from celery.worker.consumer import Consumer

log = logging.getLogger(__name__)

# The versions each workaround was verified against (requirements.txt pins them).
VERIFIED = {"celery": "5.7.0", "kombu": "5.7.0", "python-dateutil": "2.9.0.post0"}


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


# --- dateutil: a bound on how far one rule expansion scans ---------------------------------
#
# The bug (python-dateutil 2.9.0.post0, `rrule._iter`): UNTIL (and the caller's own cut-off)
# is only checked when a candidate matches every BY* part, so a rule that never matches
# (FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=30) or matches only years apart walks day by day to
# datetime.MAXYEAR: 41 s on save, on preview and in every planner run, whatever `until`,
# `between`, `xafter` or an islice say. No documented rrule API bounds that scan; upstream:
# dateutil/dateutil#1393 ("ruleset infinite loop": asks for a way to stop after a number of
# iterations; open) and dateutil/dateutil#1441 (the `while True` in `_iter`; open).
#
# Every period `_iter` visits rebuilds its month tables through `_iterinfo.rebuild(year,
# month)` (a module global it looks up on each call), so counting those calls bounds the
# months (hence days) one expansion scans. The subclass is installed once, process-wide; it
# counts only inside `dateutil_month_budget` and only in the calling thread (the worker's
# delivery threads and the web's threads may expand rules at the same time), so every
# other use of dateutil is unchanged.


class MonthBudgetSpent(Exception):
    """The expansion reached the end of its month budget without (another) occurrence."""


_budget = threading.local()


class _BudgetedIterInfo(dateutil.rrule._iterinfo):
    def rebuild(self, year, month):
        left = getattr(_budget, "months", None)
        if left is not None:
            if left <= 0:
                raise MonthBudgetSpent
            _budget.months = left - 1
        return super().rebuild(year, month)


dateutil.rrule._iterinfo = _BudgetedIterInfo


@contextlib.contextmanager
def dateutil_month_budget(months: int):
    """Inside, an rrule iterated in this thread raises MonthBudgetSpent when it would scan
    more than `months` months (the two partial ones at the ends count)."""
    outer = getattr(_budget, "months", None)
    _budget.months = months
    try:
        yield
    finally:
        _budget.months = outer
