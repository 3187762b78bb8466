"""queueloop/library_workarounds.py patches a library bug: these tests fail as soon as the
library changes under the workaround (another version, or the patched method re-shaped), so
that someone checks whether the bug is fixed and removes or re-verifies the workaround."""

from __future__ import annotations

import inspect
import logging
from importlib.metadata import version

import kombu
import pytest
from celery.worker.consumer import Consumer

from queueloop import library_workarounds
from queueloop.celery import app
from queueloop.library_workarounds import QueueLoopConsumer


@pytest.mark.parametrize("package", sorted(library_workarounds.VERIFIED))
def test_the_workarounds_were_verified_against_the_installed_version(package):
    assert version(package) == library_workarounds.VERIFIED[package], (
        f"{package} changed: check whether the bug in queueloop/library_workarounds.py is "
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
    assert app.conf.worker_consumer == "queueloop.library_workarounds:QueueLoopConsumer"
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
    with caplog.at_level(logging.WARNING, logger="queueloop.library_workarounds"):
        consumer.on_connection_error_after_connected(ConnectionError("gone"))
    assert broken.closes == 1
    assert "reconnecting" in caplog.text
