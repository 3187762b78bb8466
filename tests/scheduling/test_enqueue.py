"""Publish messages: slots grouped by ETA second in chunks."""

from __future__ import annotations

import datetime as dt

from django.test import override_settings
from django.utils import timezone

from scheduling import enqueue
from tests.factories import ChannelFactory
from tests.publishing.slots import due_slot, message


def test_send_now_groups_slots_by_eta_second_in_chunks(broker, db):
    channel = ChannelFactory()
    at = (timezone.now() + dt.timedelta(minutes=5)).replace(microsecond=0)
    slots = [due_slot(channel, at + dt.timedelta(milliseconds=10 * i)) for i in range(5)]
    later = due_slot(channel, at + dt.timedelta(seconds=1))
    with override_settings(PUBLISH_BATCH_SIZE=2):
        sent = enqueue.send_now([message(s) for s in [*slots, later]])
    assert sent == 6
    batches = broker.publish_batches()
    # 5 slots in one second → chunks of 2, 2, 1; the next second its own message.
    assert [len(b["args"][0]) for b in batches] == [2, 2, 1, 1]
    assert [pair for b in batches[:3] for pair in b["args"][0]] == [
        [s.id, str(s.token)] for s in slots
    ]
    assert batches[3]["args"][0] == [[later.id, str(later.token)]]
