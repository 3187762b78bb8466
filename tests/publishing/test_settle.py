"""Settling slots from their deliveries, in bulk."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from publishing import services as publishing
from publishing.models import Delivery, SandboxPost
from scheduling.models import Timeslot
from tests.factories import (
    ChannelFactory,
    QueueEntryFactory,
    SocialAccountFactory,
)
from tests.publishing.slots import due_slot


@pytest.mark.django_db(transaction=True)
def test_chunk_settles_its_slots_in_bulk(broker):
    channels = [ChannelFactory() for _ in range(3)]
    for channel in channels:
        QueueEntryFactory(channel=channel)
    now = timezone.now()
    slots = [due_slot(c, now) for c in channels]
    publishing.timeslots_publish(pairs=[(s.id, str(s.token)) for s in slots], now=now)
    statuses = publishing.deliveries_send(
        delivery_ids=list(Delivery.objects.values_list("id", flat=True)), now=now
    )
    assert set(statuses.values()) == {"sent"}
    assert set(Timeslot.objects.values_list("status", flat=True)) == {"published"}
    # A second run of the same chunk (a redelivered message) claims nothing.
    again = publishing.deliveries_send(
        delivery_ids=list(Delivery.objects.values_list("id", flat=True)), now=now
    )
    assert again == {}
    assert SandboxPost.objects.count() == 3


@pytest.mark.django_db
def test_settling_leaves_a_slot_without_deliveries_and_one_not_all_sent():
    """Closed as published only with deliveries, every one sent: a publishing slot with
    none yet stays publishing, and one with an unfinished delivery waits for it."""
    from publishing.settle import timeslots_settle

    channel = ChannelFactory()
    now = timezone.now()
    empty, waiting, done = (due_slot(channel, now + dt.timedelta(seconds=i)) for i in range(3))
    account = channel.accounts.get()
    Timeslot.objects.filter(id__in=[empty.id, waiting.id, done.id]).update(status="publishing")
    Delivery.objects.create(timeslot=waiting, account=account, text="t", status="sent")
    Delivery.objects.create(
        timeslot=waiting, account=SocialAccountFactory(workspace=channel.workspace), text="t"
    )
    Delivery.objects.create(timeslot=done, account=account, text="t", status="sent")

    assert timeslots_settle(timeslot_ids=[empty.id, waiting.id, done.id], now=now) == 1
    status = dict(Timeslot.objects.values_list("id", "status"))
    assert status == {empty.id: "publishing", waiting.id: "publishing", done.id: "published"}
