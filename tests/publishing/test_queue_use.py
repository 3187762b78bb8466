"""A slot's use of its queue entry: used once per slot in bulk, never a post of another
workspace, given back when the slot fails or has no accounts, kept when partly published."""

from __future__ import annotations

import pytest
import time_machine
from django.utils import timezone

from channels.models import QueueEntry
from publishing import services as publishing
from publishing.models import Delivery
from scheduling import selectors
from scheduling.models import Timeslot
from tests.factories import (
    ChannelFactory,
    PostFactory,
    QueueEntryFactory,
    SocialAccountFactory,
)
from tests.publishing.slots import due_slot


def test_queue_entries_are_used_once_per_slot_in_bulk(db):
    channel = ChannelFactory(mode="once")
    entries = [QueueEntryFactory(channel=channel, position=i) for i in range(3)]
    now = timezone.now()
    slots = [due_slot(channel, now) for _ in range(2)]
    with time_machine.travel(now, tick=False):
        publishing.timeslots_publish(pairs=[(s.id, str(s.token)) for s in slots], now=now)
    used = list(QueueEntry.objects.order_by("position").values_list("is_active", "times_published"))
    assert used == [(False, 1), (False, 1), (True, 0)]
    assert {s.published_post_id for s in Timeslot.objects.all()} == {e.post_id for e in entries[:2]}


def test_foreign_workspace_post_is_never_published_in_a_channel(db):
    channel = ChannelFactory()
    foreign = PostFactory()  # another workspace
    QueueEntry.objects.create(channel=channel, post=foreign, position=0)
    own = QueueEntryFactory(channel=channel, position=5).post
    now = timezone.now()
    slot = due_slot(channel, now)
    pinned = due_slot(channel, now, post=foreign)
    outcomes = publishing.timeslots_publish(
        pairs=[(slot.id, str(slot.token)), (pinned.id, str(pinned.token))], now=now
    )
    slot.refresh_from_db()
    pinned.refresh_from_db()
    assert outcomes[slot.id] == "dispatched" and slot.published_post_id == own.id
    assert outcomes[pinned.id] == "failed" and "another workspace" in pinned.reason


def _failing_webhook_channel(mode: str):
    channel = ChannelFactory(with_sandbox=False, mode=mode)
    account = SocialAccountFactory(
        workspace=channel.workspace,
        provider="webhook",
        handle="hook",
        credentials={"url": "", "secret": ""},  # refused for good: Rejected, nothing sent
    )
    channel.accounts.add(account)
    return channel


@pytest.mark.parametrize("mode", ["loop", "once"])
def test_failed_slot_gives_its_post_back(db, mode):
    channel = _failing_webhook_channel(mode)
    first = QueueEntryFactory(channel=channel, position=1)
    QueueEntryFactory(channel=channel, position=2)
    now = timezone.now()
    predicted = selectors.upcoming_for_channel(channel=channel, now=now)
    slot = due_slot(channel, now)
    with time_machine.travel(now, tick=False):
        publishing.timeslots_publish(pairs=[(slot.id, str(slot.token))], now=now)
        publishing.deliveries_send(
            delivery_ids=list(Delivery.objects.values_list("id", flat=True)), now=now
        )
    slot.refresh_from_db()
    assert slot.status == Timeslot.Status.FAILED
    first.refresh_from_db()
    # Not used: still active (once), not moved to the back (loop), count unchanged.
    assert (first.is_active, first.times_published, first.last_published_at) == (True, 0, None)
    # The next slot takes the same post again, and the UI predicted exactly that post.
    assert selectors.upcoming_for_channel(channel=channel, now=now)[0].post == first.post
    assert predicted == [] or predicted[0].post in (None, first.post)


@pytest.mark.parametrize("mode", ["loop", "once"])
def test_slot_without_accounts_does_not_spend_its_post(db, mode):
    channel = ChannelFactory(with_sandbox=False, mode=mode)
    entry = QueueEntryFactory(channel=channel)
    now = timezone.now()
    slot = due_slot(channel, now)
    publishing.timeslots_publish(pairs=[(slot.id, str(slot.token))], now=now)
    slot.refresh_from_db()
    entry.refresh_from_db()
    assert slot.status == Timeslot.Status.FAILED
    assert (entry.is_active, entry.times_published) == (True, 0)


def test_partly_published_slot_keeps_the_use(db, receivers):
    channel = _failing_webhook_channel("once")
    channel.accounts.add(SocialAccountFactory(workspace=channel.workspace))  # sandbox: works
    entry = QueueEntryFactory(channel=channel)
    now = timezone.now()
    slot = due_slot(channel, now)
    publishing.timeslots_publish(pairs=[(slot.id, str(slot.token))], now=now)
    publishing.deliveries_send(
        delivery_ids=list(Delivery.objects.values_list("id", flat=True)), now=now
    )
    slot.refresh_from_db()
    entry.refresh_from_db()
    assert slot.status == Timeslot.Status.PARTIAL
    assert (entry.is_active, entry.times_published) == (False, 1)
