"""Structured logs: each publish step logs one event with its ids."""

from __future__ import annotations

import uuid

from django.utils import timezone

from publishing import services as publishing
from publishing.models import Delivery
from tests.factories import (
    ChannelFactory,
    QueueEntryFactory,
)
from tests.publishing.slots import due_slot


def test_each_publish_step_logs_one_event_with_its_ids(db, caplog):
    import logging

    channel = ChannelFactory()
    QueueEntryFactory(channel=channel)
    now = timezone.now()
    slot = due_slot(channel, now)
    stale = due_slot(channel, now)
    with caplog.at_level(logging.INFO, logger="queueloop.events"):
        publishing.timeslots_publish(
            pairs=[(slot.id, str(slot.token)), (stale.id, str(uuid.uuid4()))], now=now
        )
        publishing.deliveries_send(
            delivery_ids=list(Delivery.objects.values_list("id", flat=True)), now=now
        )
    steps = [(r.event, getattr(r, "timeslot_id", None)) for r in caplog.records]
    assert ("claimed", slot.id) in steps
    assert ("stale", stale.id) in steps
    sent = [r for r in caplog.records if r.event == "delivery_sent"]
    assert [r.timeslot_id for r in sent] == [slot.id]
    assert sent[0].lateness_ms >= 0 and sent[0].provider == "sandbox"
    claimed = next(r for r in caplog.records if r.event == "claimed")
    assert claimed.workspace_id == channel.workspace_id
    assert any(r.event == "settled" and r.status == "published" for r in caplog.records)
