"""With a real Celery worker, the real broker and the real database: a slot that publishes
sends `timeslot.published` to the workspace's endpoint once, signed, and the receiver's
documented algorithm (docs/events.md) verifies it."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.utils import timezone

from accounts.models import EventType
from integrations import sending
from integrations.models import EventDelivery
from scheduling import services
from scheduling.models import Timeslot
from tests.conftest import wait_for
from tests.factories import ChannelFactory, QueueEntryFactory
from tests.integrations.conftest import documented_verify, endpoint_for

pytestmark = pytest.mark.worker


def test_a_published_slot_reaches_the_receiver_once_signed(worker, receiver):
    channel = ChannelFactory()
    endpoint = endpoint_for(channel.workspace, receiver.hook, EventType.TIMESLOT_PUBLISHED)
    post = QueueEntryFactory(channel=channel).post
    slot = services.timeslot_pin(
        post=post, channel=channel, publish_at=timezone.now() + dt.timedelta(seconds=1)
    )

    wait_for(
        lambda: EventDelivery.objects.filter(status=EventDelivery.Status.DELIVERED).exists(),
        what="the event to be delivered",
    )
    # Nothing is due any more: a sweep (the beat's repair) sends nothing again.
    sending.events_sweep(now=timezone.now() + dt.timedelta(hours=1))
    assert Timeslot.objects.get(id=slot.id).status == Timeslot.Status.PUBLISHED

    [request] = receiver.events()
    assert documented_verify()(endpoint.secret, request.headers, request.body)
    assert not documented_verify()(endpoint.secret, request.headers, request.body + b" ")
    body = json.loads(request.body)
    assert body["type"] == "timeslot.published"
    assert body["id"] == request.headers["webhook-id"]
    assert body["data"]["id"] == slot.id
    assert body["data"]["status"] == "published"
    assert body["data"]["channel"]["id"] == channel.id
