"""Webhook calls through curl's multi interface (publishing/delivery.py, ground/http_transport/):
every lane of a chunk in flight at once from the task's thread, a time limit that lands
mid-call, a refused connection, and the socket callback's own address check.

Only loopback receivers are called; a refusal is proven by the absence of a connect()."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from ground.http_transport import curl as netguard
from publishing import services as publishing
from publishing.models import Delivery
from tests.factories import ChannelFactory, QueueEntryFactory, SocialAccountFactory
from tests.networks.netfakes import record_connects
from tests.publishing.slots import due_slot
from tests.receiver import Receiver


@pytest.fixture
def receiver():
    r = Receiver().start()
    yield r
    r.stop()


def webhook_deliveries(receiver: Receiver, *, accounts: int, slots: int = 1) -> list[int]:
    """`slots` due slots of one channel with `accounts` webhook accounts: their deliveries."""
    channel = ChannelFactory(with_sandbox=False)
    for i in range(accounts):
        channel.accounts.add(
            SocialAccountFactory(
                workspace=channel.workspace,
                provider="webhook",
                handle=f"hook{i}",
                credentials={"url": receiver.url, "secret": "s"},
            )
        )
    now = timezone.now()
    made = []
    for _ in range(slots):
        QueueEntryFactory(channel=channel)
        made.append(due_slot(channel, now))
    publishing.timeslots_publish(pairs=[(s.id, str(s.token)) for s in made], now=now)
    return sorted(Delivery.objects.values_list("id", flat=True))


@pytest.mark.django_db(transaction=True)
def test_every_lane_of_a_chunk_is_in_flight_at_once(receiver, broker):
    """Five accounts, the receiver holding every answer: all five requests arrive before any
    is answered. Lanes called one after another would leave four waiting behind the first."""
    receiver.hang = threading.Event()
    ids = webhook_deliveries(receiver, accounts=5)
    statuses: dict = {}

    def send():
        try:
            statuses.update(publishing.deliveries_send(delivery_ids=ids))
        finally:
            connection.close()

    sender = threading.Thread(target=send)
    sender.start()
    deadline = time.monotonic() + 20
    while len(receiver.requests) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    arrived_while_held = len(receiver.requests)
    receiver.hang.set()
    sender.join(30)

    assert arrived_while_held == 5
    assert set(statuses.values()) == {"sent"}
    assert sorted(int(k) for k in receiver.keys()) == ids


@pytest.mark.django_db(transaction=True)
def test_a_time_limit_mid_call_retries_the_call_in_flight_and_requeues_the_rest(
    receiver, broker, monkeypatch
):
    """Celery's soft time limit is a signal raising SoftTimeLimitExceeded in the task's
    thread: here it lands while the lane's first call waits for an answer that never comes.
    That call may have arrived (a webhook is idempotent: retried); the lane's second delivery
    never started (back to pending, never called); the thread's curl handles are free."""
    receiver.hang = threading.Event()
    ids = webhook_deliveries(receiver, accounts=1, slots=2)
    monkeypatch.setattr(netguard, "_free", [])  # no Calls left by earlier tests

    def time_limit(signum, frame):
        raise SoftTimeLimitExceeded()

    previous = signal.signal(signal.SIGALRM, time_limit)
    signal.setitimer(signal.ITIMER_REAL, 1.0)
    try:
        statuses = publishing.deliveries_send(delivery_ids=ids)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)

    first, second = Delivery.objects.order_by("id")
    assert statuses == {first.id: "pending", second.id: "pending"}
    assert "retrying" in first.last_error
    assert second.last_error == ""
    assert receiver.keys() == [str(first.id)]
    # The interrupted Calls is not lent again: the next borrower gets a fresh one.
    with netguard.calls() as calls:
        assert calls.running == {} and calls.idle == []
    receiver.hang.set()


@pytest.mark.django_db(transaction=True)
@override_settings(WEBHOOK_ALLOWED_HOSTS=["127.0.0.1"])
def test_a_chunk_on_another_thread_reuses_the_open_connections(broker, monkeypatch):
    """The calls of a process are lent, not one per thread: a chunk that a different pool
    thread runs next borrows the handles the first chunk gave back, and with them their
    open connections to the same receiver (a hot second runs chunks on ~20 threads)."""
    receiver = Receiver(keep_alive=True).start()
    ids = webhook_deliveries(receiver, accounts=2, slots=2)
    first, second = ids[:2], ids[2:]
    attempts = record_connects(monkeypatch)
    statuses: dict = {}

    def send(ids):
        try:
            statuses.update(publishing.deliveries_send(delivery_ids=ids))
        finally:
            connection.close()

    for ids in (first, second):
        sender = threading.Thread(target=send, args=(ids,))
        sender.start()
        sender.join(30)
        if ids is first:
            opened = len(attempts)

    receiver.stop()
    assert set(statuses.values()) == {"sent"} and len(statuses) == 4
    assert opened >= 1
    assert len(attempts) == opened  # the second thread's chunk connected to nothing new


def test_a_forked_child_makes_its_own_handles():
    """A prefork child never uses curl handles (and their connections) of its parent."""
    with netguard.calls():
        pass
    netguard._local.call = netguard._Call()
    assert netguard._free and netguard._local.call is not None
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if it starts with nothing of the parent's
        with netguard.calls() as calls:
            fresh = calls.idle == [] and netguard._free == []
        os._exit(0 if fresh and netguard._local.call is None else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert netguard._free and netguard._local.call is not None  # the parent keeps its own


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@override_settings(WEBHOOK_ALLOWED_HOSTS=["127.0.0.1"])
def test_a_refused_connection_is_known_not_to_have_sent_anything():
    request = netguard.Request("POST", f"http://127.0.0.1:{closed_port()}/hook", {}, b"{}", 5)
    with pytest.raises(netguard.TransportError) as refused:
        netguard.fetch(request)
    assert refused.value.maybe_sent is False


@override_settings(WEBHOOK_ALLOWED_HOSTS=["127.0.0.1"])
def test_the_socket_callback_checks_the_address_itself(receiver, monkeypatch):
    """The second check: whatever address curl is about to connect to is checked again in
    its socket callback. A call prepared for an allowed host, then no longer allowed, is
    refused there, before any connect()."""
    attempts = record_connects(monkeypatch)
    call = netguard._Call()
    call.prepare(netguard.Request("POST", receiver.url, {}, b"{}", 5))
    call.allowed = False  # as if the host had not been allowed: loopback is forbidden
    with pytest.raises(Exception) as failed:
        call.curl.perform()
    with pytest.raises(netguard.BlockedDestination):
        call.outcome(failed.value)
    assert attempts == []
    assert receiver.requests == []
