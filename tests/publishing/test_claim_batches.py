"""Claiming a batch of (slot, token) pairs with one conditional UPDATE: racing batches do not
deadlock, and stale or malformed pairs change nothing for the others."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from publishing import services as publishing
from scheduling.models import Timeslot
from tests.conftest import race
from tests.factories import (
    ChannelFactory,
    QueueEntryFactory,
)
from tests.publishing.slots import due_slot


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_batches_racing_for_overlapping_channels_do_not_deadlock():
    channels = [ChannelFactory() for _ in range(4)]
    for channel in channels:
        for i in range(4):
            QueueEntryFactory(channel=channel, position=i)
    now = timezone.now()
    first = [due_slot(c, now) for c in channels]
    second = [due_slot(c, now) for c in reversed(channels)]
    pairs = [[(s.id, str(s.token)) for s in batch] for batch in (first, second)]
    results = race(*[lambda p=p: publishing.timeslots_publish(pairs=p, now=now) for p in pairs * 2])
    for slot in first + second:
        outcomes = [r[slot.id] for r in results if slot.id in r]
        assert outcomes.count("dispatched") == 1, (slot.id, outcomes)
    # Every channel's two slots took two different posts.
    for channel in channels:
        posts = list(Timeslot.objects.filter(channel=channel).values_list("published_post_id"))
        assert len(set(posts)) == 2


@pytest.mark.django_db(transaction=True)
def test_stale_or_malformed_pairs_change_nothing_for_the_others(broker):
    channel = ChannelFactory()
    QueueEntryFactory(channel=channel)
    now = timezone.now()
    good = due_slot(channel, now)
    early = due_slot(channel, now + dt.timedelta(minutes=5))
    late = due_slot(channel, now - dt.timedelta(hours=1))
    outcomes = publishing.timeslots_publish(
        pairs=[
            (good.id, str(good.token)),
            (early.id, str(early.token)),
            (late.id, str(late.token)),
            (999_999, str(uuid.uuid4())),
            (2**63, str(uuid.uuid4())),  # no 64-bit key: dropped, not an error for the batch
            ("not", "a pair"),
            (good.id + 1_000_000, "not-a-uuid"),
        ],
        now=now,
    )
    assert outcomes[good.id] == "dispatched"
    assert outcomes[early.id] == "early"
    assert outcomes[late.id] == "missed"
    assert outcomes[999_999] == "stale" and 2**63 not in outcomes
    late.refresh_from_db()
    assert late.status == Timeslot.Status.MISSED and late.reason.startswith("Missed")
    # The early slot went back on the broker with its own token, for its own time.
    assert [m["args"] for m in broker.publish_messages()] == [[early.id, str(early.token)]]
    early.refresh_from_db()
    assert early.status == Timeslot.Status.SCHEDULED
