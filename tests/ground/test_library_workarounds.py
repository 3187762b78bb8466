"""ground/library_workarounds.py patches a library bug: these tests fail as soon as the
library changes under the workaround (another version, or the patched method re-shaped), so
that someone checks whether the bug is fixed and removes or re-verifies the workaround."""

from __future__ import annotations

import datetime as dt
import inspect
import logging
from importlib.metadata import version

import dateutil.rrule
import kombu
import pytest
from celery.worker.consumer import Consumer

from ground import library_workarounds
from ground.library_workarounds import QueueLoopConsumer
from queueloop.celery import app


@pytest.mark.parametrize("package", sorted(library_workarounds.VERIFIED))
def test_the_workarounds_were_verified_against_the_installed_version(package):
    assert version(package) == library_workarounds.VERIFIED[package], (
        f"{package} changed: check whether the bug in ground/library_workarounds.py is "
        "fixed (drills/ scenario 2), then remove the workaround or update VERIFIED"
    )


def test_the_consumer_method_we_override_still_closes_the_connection_it_collected():
    # The bug's shape in celery 5.7: collect() the broken connection, then close() it,
    # catching only connection errors. If this changes, the workaround may be moot or wrong.
    method = Consumer.on_connection_error_after_connected
    assert list(inspect.signature(method).parameters) == ["self", "exc"]
    source = inspect.getsource(method)
    assert "self.connection.collect(" in source
    assert "ignore_errors(connection, connection.close)" in source
    assert list(inspect.signature(kombu.Connection.close).parameters) == ["self"]


def test_the_worker_runs_the_workaround_consumer():
    assert app.conf.worker_consumer == "ground.library_workarounds:QueueLoopConsumer"
    assert issubclass(QueueLoopConsumer, Consumer)


class _Connection:
    def __init__(self):
        self.closes = 0

    def close(self):
        self.closes += 1
        raise AttributeError("'NoneType' object has no attribute 'hostname'")


def test_a_close_through_the_detached_transport_is_logged_not_raised(monkeypatch, caplog):
    def celerys_own(self, exc):  # what the overridden method does with the connection
        connection, self.connection = self.connection, None
        connection.close()

    monkeypatch.setattr(Consumer, "on_connection_error_after_connected", celerys_own)
    consumer = QueueLoopConsumer.__new__(QueueLoopConsumer)
    consumer.connection = broken = _Connection()
    with caplog.at_level(logging.WARNING, logger="ground.library_workarounds"):
        consumer.on_connection_error_after_connected(ConnectionError("gone"))
    assert broken.closes == 1
    assert "reconnecting" in caplog.text


# --- dateutil's month budget ---------------------------------------------------------------

NEVER = {"freq": dateutil.rrule.MINUTELY, "bymonth": 2, "bymonthday": 30}


def test_dateutil_is_patched_where_its_iteration_rebuilds_each_month():
    assert dateutil.rrule._iterinfo is library_workarounds._BudgetedIterInfo
    parent = library_workarounds._BudgetedIterInfo.__mro__[1]
    assert list(inspect.signature(parent.rebuild).parameters) == ["self", "year", "month"]
    source = inspect.getsource(dateutil.rrule.rrule._iter)
    assert "ii = _iterinfo(self)" in source and "ii.rebuild(" in source


def test_the_bug_is_still_there_until_is_not_checked_while_nothing_matches():
    # If dateutil ever stops at UNTIL without a match, the budget is moot: remove it.
    start = dt.datetime(2026, 1, 1)
    never = dateutil.rrule.rrule(**NEVER, dtstart=start, until=start + dt.timedelta(days=31))
    with pytest.raises(library_workarounds.MonthBudgetSpent):
        with library_workarounds.dateutil_month_budget(24):
            list(never)


def test_the_budget_stops_a_never_matching_rule_and_leaves_others_alone():
    start = dt.datetime(2026, 1, 1)
    with pytest.raises(library_workarounds.MonthBudgetSpent):
        with library_workarounds.dateutil_month_budget(3):
            next(iter(dateutil.rrule.rrule(**NEVER, dtstart=start)))
    # Outside a budget (and after one), dateutil is unchanged.
    daily = dateutil.rrule.rrule(dateutil.rrule.DAILY, dtstart=start, count=400)
    assert len(list(daily)) == 400
    with library_workarounds.dateutil_month_budget(100):
        assert list(dateutil.rrule.rrule(dateutil.rrule.DAILY, dtstart=start, count=3)) == [
            start + dt.timedelta(days=d) for d in range(3)
        ]
