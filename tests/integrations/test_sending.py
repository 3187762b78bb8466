"""Sending events: retried with backoff until a 2xx (same event id), never again after it,
given up after 24 h; nothing for a rolled-back change; the webhook address rules hold at
send time (a loopback canary records zero connections)."""

from __future__ import annotations

import datetime as dt
import itertools
import json

import pytest
import time_machine
from django.db import transaction
from django.test import override_settings

from accounts.models import EventType, OutboxEvent
from accounts.outbox import record_event
from integrations import sending
from integrations.models import Attempt, Endpoint, EventDelivery
from tests.factories import WorkspaceFactory
from tests.integrations.conftest import PATH, documented_verify, endpoint_for
from tests.networks.fake_http import Scripted
from tests.networks.netfakes import fake_dns, record_connects

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
S = EventDelivery.Status


def import_event(workspace) -> OutboxEvent:
    event_id = record_event(
        workspace_id=workspace.id,
        type=EventType.IMPORT_FINISHED,
        payload={"import_id": 7, "imported": 3},
    )
    return OutboxEvent.objects.get(id=event_id)


def send_due(ids) -> dict:
    return sending.deliveries_send(delivery_ids=ids)


def test_a_receiver_failing_three_times_gets_it_on_the_fourth_try_with_the_same_id(
    receiver,
):
    workspace = WorkspaceFactory()
    endpoint = endpoint_for(workspace, receiver.hook)
    receiver.script("POST", PATH, Scripted(500, {"e": 1}), Scripted(500), Scripted(503))
    with time_machine.travel(T0, tick=False) as clock:
        event = import_event(workspace)
        [delivery_id] = sending.events_fan_out(event_ids=[event.id])
        statuses = [send_due([delivery_id])[delivery_id]]
        for _ in range(3):
            delivery = EventDelivery.objects.get(id=delivery_id)
            # Not due before its backoff: a message arriving early sends nothing.
            assert send_due([delivery_id]) == {}
            clock.move_to(delivery.next_attempt_at)
            statuses.append(send_due([delivery_id])[delivery_id])
        assert statuses == [S.PENDING, S.PENDING, S.PENDING, S.DELIVERED]
        # Delivered: never sent again, whatever arrives (a late retry message, a sweep).
        clock.shift(dt.timedelta(hours=3))
        assert send_due([delivery_id]) == {}
        sending.events_sweep()

    requests = receiver.events()
    assert len(requests) == 4
    assert {r.headers["webhook-id"] for r in requests} == {event.event_id}
    assert len({r.body for r in requests}) == 1  # the same body every time
    verify = documented_verify()
    assert all(verify(endpoint.secret, r.headers, r.body) is False for r in requests)  # old
    with time_machine.travel(int(requests[-1].headers["webhook-timestamp"]), tick=False):
        assert verify(endpoint.secret, requests[-1].headers, requests[-1].body)
    # The waits doubled: 30 s, 1 min, 2 min.
    stamps = [int(r.headers["webhook-timestamp"]) for r in requests]
    assert [b - a for a, b in itertools.pairwise(stamps)] == [30, 60, 120]
    attempts = list(Attempt.objects.order_by("at", "id"))
    assert [a.status_code for a in attempts] == [500, 500, 503, 200]
    assert attempts[0].excerpt == '{"e": 1}'
    assert EventDelivery.objects.get(id=delivery_id).attempts == 4


def test_it_gives_up_24_hours_after_the_event(receiver):
    workspace = WorkspaceFactory()
    endpoint_for(workspace, receiver.hook)
    receiver.script("POST", PATH, *[Scripted(500) for _ in range(40)])
    with time_machine.travel(T0, tick=False) as clock:
        event = import_event(workspace)
        [delivery_id] = sending.events_fan_out(event_ids=[event.id])
        while EventDelivery.objects.get(id=delivery_id).status != S.FAILED:
            clock.move_to(EventDelivery.objects.get(id=delivery_id).next_attempt_at)
            send_due([delivery_id])
        last = Attempt.objects.order_by("-at").first().at
    assert last <= T0 + sending.WINDOW
    assert last >= T0 + sending.WINDOW - sending.MAX_BACKOFF
    assert 10 <= len(receiver.events()) <= 25


def test_a_rolled_back_change_sends_nothing(receiver, django_capture_on_commit_callbacks):
    workspace = WorkspaceFactory()
    endpoint_for(workspace, receiver.hook)

    class Boom(Exception):
        pass

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(Boom), transaction.atomic():
            import_event(workspace)
            raise Boom
    assert callbacks == []  # no fan-out message was queued
    assert not OutboxEvent.objects.exists()
    sending.events_sweep(now=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
    assert not EventDelivery.objects.exists()
    assert receiver.events() == []


def test_fan_out_picks_the_wanting_active_endpoints_once(receiver):
    workspace, other = WorkspaceFactory(), WorkspaceFactory()
    every = endpoint_for(workspace, receiver.hook)
    wants = endpoint_for(workspace, receiver.hook + "?b", EventType.IMPORT_FINISHED)
    endpoint_for(workspace, receiver.hook + "?c", EventType.TIMESLOT_FAILED)
    paused = endpoint_for(workspace, receiver.hook + "?d")
    Endpoint.objects.filter(id=paused.id).update(is_active=False)
    endpoint_for(other, receiver.hook + "?e")  # another workspace's endpoint
    event = import_event(workspace)
    ids = sending.events_fan_out(event_ids=[event.id])
    assert sending.events_fan_out(event_ids=[event.id]) == []  # twice: nothing new
    assert {d.endpoint_id for d in EventDelivery.objects.filter(id__in=ids)} == {
        every.id,
        wants.id,
    }
    event.refresh_from_db()
    assert event.data == {"import_id": 7, "imported": 3}


@override_settings(WEBHOOK_ALLOWED_HOSTS=[])
def test_an_endpoint_whose_name_now_points_at_loopback_is_not_called(receiver, monkeypatch):
    """Saved while public (rebinding later): the send checks the address it would connect
    to, so the loopback canary behind the name gets no connection at all."""
    workspace = WorkspaceFactory()
    port = receiver.url.rsplit(":", 1)[1]
    fake_dns(monkeypatch, {"hooks.example.com": ["93.184.215.14"]})
    endpoint = endpoint_for(workspace, f"http://hooks.example.com:{port}{PATH}")
    fake_dns(monkeypatch, {"hooks.example.com": ["127.0.0.1"]})
    connects = record_connects(monkeypatch)
    event = import_event(workspace)
    [delivery_id] = sending.events_fan_out(event_ids=[event.id])
    assert send_due([delivery_id]) == {delivery_id: S.FAILED}
    assert receiver.events() == []
    assert connects == []
    [attempt] = Attempt.objects.all()
    assert attempt.status_code is None
    assert "local, private or reserved" in attempt.excerpt
    assert endpoint.id == EventDelivery.objects.get(id=delivery_id).endpoint_id


def test_a_resend_sends_the_same_event_again(receiver, django_capture_on_commit_callbacks):
    workspace = WorkspaceFactory()
    endpoint_for(workspace, receiver.hook)
    event = import_event(workspace)
    [delivery_id] = sending.events_fan_out(event_ids=[event.id])
    assert send_due([delivery_id]) == {delivery_id: S.DELIVERED}
    sending.delivery_resend(delivery=EventDelivery.objects.get(id=delivery_id))
    assert send_due([delivery_id]) == {delivery_id: S.DELIVERED}
    first, second = receiver.events()
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == event.event_id
    assert json.loads(first.body) == json.loads(second.body)
