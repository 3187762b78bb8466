"""Recovering deliveries a dead worker left claimed: one never begun is sent again, only a
begun call becomes unconfirmed."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from publishing import services as publishing
from publishing.models import Delivery
from tests.factories import (
    ChannelFactory,
    QueueEntryFactory,
    SocialAccountFactory,
)
from tests.publishing.slots import due_slot


@pytest.mark.django_db(transaction=True)
def test_x_delivery_claimed_but_never_begun_is_sent_again_not_unconfirmed(broker):
    """At most once without false alarms: a chunk claims its deliveries at once but begins
    each X call only when its lane gets there. A worker that dies in between never called
    X for the rest: recovery sends those again; only a begun call becomes unconfirmed."""
    channel = ChannelFactory(with_sandbox=False)
    for handle in ("begun", "waiting"):
        channel.accounts.add(
            SocialAccountFactory(workspace=channel.workspace, provider="x", handle=handle)
        )
    QueueEntryFactory(channel=channel)
    now = timezone.now()
    slot = due_slot(channel, now)
    publishing.timeslots_publish(pairs=[(slot.id, str(slot.token))], now=now)
    # The chunk claimed both, began the first call, and the worker died.
    Delivery.objects.update(status="sending", claimed_at=now, attempts=1)
    Delivery.objects.filter(account__handle="begun").update(sending_started_at=now)
    broker.purge()
    later = now + dt.timedelta(minutes=3)
    result = publishing.deliveries_recover(now=later)
    begun = Delivery.objects.get(account__handle="begun")
    waiting = Delivery.objects.get(account__handle="waiting")
    assert (begun.status, waiting.status) == ("unconfirmed", "pending")
    assert result.unconfirmed == 1 and result.redispatched == 1
    sent_again = [
        m["args"][0] for m in broker.messages() if m["task"] == "publishing.deliver_batch"
    ]
    assert sent_again == [[waiting.id]]
