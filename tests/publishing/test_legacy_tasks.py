"""`manage.py legacy_tasks` on the real Redis (this run's own queue): it finds the first
engine's messages where they wait and where a worker holds them, takes nothing off the
broker, ignores other apps' unacked messages and never answers "none" when it cannot read."""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from publishing.legacy_tasks import LEGACY_TASK_NAMES, broker_legacy_messages
from queueloop.celery import app as celery_app
from tests.conftest import wait_for


def run_command() -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("legacy_tasks", stdout=out)
    except CommandError as exc:
        return exc.returncode, out.getvalue() + str(exc)
    return 0, out.getvalue()


def send_legacy_messages() -> dt.datetime:
    eta = (timezone.now() + dt.timedelta(hours=1)).replace(microsecond=0)
    # Ids no row has: should a worker ever run them, both are harmless no-ops.
    celery_app.send_task(
        "publishing.publish_timeslot", args=(987654321, str(uuid.uuid4())), eta=eta
    )
    celery_app.send_task("publishing.deliver", args=(987654321,))
    return eta


def test_the_names_are_the_registered_first_engine_tasks():
    celery_app.loader.import_default_modules()
    assert set(LEGACY_TASK_NAMES) <= set(celery_app.tasks)


def test_an_empty_broker_answers_none(broker):
    celery_app.send_task("publishing.publish_timeslots", args=([],))  # today's name: not counted
    code, out = run_command()
    assert code == 0, out
    assert "publishing.publish_timeslot: 0" in out and "publishing.deliver: 0" in out
    assert "None" in out


def test_waiting_messages_are_found_and_left_on_the_broker(broker):
    eta = send_legacy_messages()
    before = broker.messages()
    code, out = run_command()
    assert code == 1, out
    assert "publishing.publish_timeslot: 1 (1 queue " in out
    assert f"latest eta {eta.isoformat()}" in out
    assert "publishing.deliver: 1 (1 queue " in out
    assert "keep this release" in out
    assert broker.messages() == before  # read, not consumed


@pytest.mark.worker
def test_a_message_a_worker_holds_until_its_eta_is_found(worker, broker):
    send_legacy_messages()
    # The worker fetches the ETA message at once and keeps it unacknowledged until its time
    # (acks late): it has left the queue's list and is in the unacked hash.
    wait_for(
        lambda: (
            not broker.messages()
            and any(m.place.startswith("held") for m in broker_legacy_messages().found)
        ),
        what="the worker to take the ETA message",
    )
    code, out = run_command()
    assert code == 1, out
    assert "publishing.publish_timeslot: 1 (1 held by a worker (unacked))" in out


def test_unacked_messages_of_another_queue_are_not_ours(broker):
    message = {"headers": {"task": "publishing.publish_timeslot"}, "body": "", "properties": {}}
    tag = f"legacy-tasks-test-{uuid.uuid4()}"
    with celery_app.connection_for_write() as conn:
        client = conn.default_channel.client
        client.hset("unacked", tag, json.dumps([message, "another-app", "another-app"]))
        try:
            code, out = run_command()
        finally:
            client.hdel("unacked", tag)
    assert code == 0, out


def test_a_message_it_cannot_read_means_no_answer(broker):
    with celery_app.connection_for_write() as conn:
        conn.default_channel.client.lpush(broker.queue, b"not a kombu message")
    code, out = run_command()
    assert code == 2, out
    assert "cannot tell" in out and "None" not in out
