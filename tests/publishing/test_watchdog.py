"""The watchdog: the database is the truth, broker messages are only hints."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
import time_machine
from django.utils import timezone

from accounts.models import Notice
from publishing.models import Delivery, SandboxPost
from scheduling import enqueue, services
from scheduling.models import Timeslot
from tests.conftest import wait_for
from tests.factories import ChannelFactory, PostFactory, QueueEntryFactory

UTC = dt.UTC
NOW = dt.datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def pinned(channel, when) -> Timeslot:
    post = QueueEntryFactory(channel=channel).post
    return services.timeslot_pin(
        post=post, channel=channel, publish_at=when, now=when - dt.timedelta(minutes=5)
    )


@pytest.mark.django_db(transaction=True)
def test_lost_message_is_re_enqueued_with_a_new_token(broker):
    channel = ChannelFactory()
    with time_machine.travel(NOW - dt.timedelta(minutes=5), tick=False):
        slot = pinned(channel, NOW)
    old_token = slot.token
    broker.purge()  # the broker lost the message (restart without persistence)

    with time_machine.travel(NOW + dt.timedelta(seconds=30), tick=False):
        assert services.watchdog_run().requeued == 0  # still within WATCHDOG_GRACE
    with time_machine.travel(NOW + dt.timedelta(seconds=90), tick=False):
        result = services.watchdog_run()
    assert result.requeued == 1
    slot.refresh_from_db()
    assert slot.token != old_token and slot.status == "scheduled"
    assert [m["args"] for m in broker.publish_messages()] == [[slot.id, str(slot.token)]]


@pytest.mark.django_db(transaction=True)
def test_slot_never_enqueued_because_the_broker_was_down_is_found(broker):
    channel = ChannelFactory()
    with (
        time_machine.travel(NOW - dt.timedelta(minutes=5), tick=False),
        mock.patch("queueloop.celery.app.producer_or_acquire", side_effect=ConnectionError("down")),
    ):
        slot = pinned(channel, NOW)
    slot.refresh_from_db()
    assert slot.enqueued_at is None  # the failed send was recorded, not hidden
    assert broker.publish_messages() == []
    with time_machine.travel(NOW - dt.timedelta(minutes=4), tick=False):
        result = services.watchdog_run()
    assert result.enqueued == 1
    assert [m["args"][0] for m in broker.publish_messages()] == [slot.id]


@pytest.mark.django_db(transaction=True)
def test_slot_older_than_missed_after_is_marked_missed_and_the_owner_told(broker):
    channel = ChannelFactory()
    with time_machine.travel(NOW - dt.timedelta(minutes=5), tick=False):
        slot = pinned(channel, NOW)
    with time_machine.travel(NOW + dt.timedelta(minutes=31), tick=False):
        result = services.watchdog_run()
    assert result.missed == 1 and result.requeued == 0
    slot.refresh_from_db()
    assert slot.status == "missed"
    assert "not sent late" in slot.reason
    notice = Notice.objects.get(kind=Notice.Kind.TIMESLOT_MISSED)
    assert channel.name in notice.message
    assert not Delivery.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_stuck_sending_delivery_becomes_unconfirmed_for_x_and_retried_for_webhook(broker):
    from tests.factories import SocialAccountFactory

    channel = ChannelFactory(with_sandbox=False)
    x = SocialAccountFactory(workspace=channel.workspace, provider="x", handle="xacct")
    hook = SocialAccountFactory(
        workspace=channel.workspace,
        provider="webhook",
        handle="hook",
        credentials={"url": "http://127.0.0.1:9/", "secret": "s"},
    )
    channel.accounts.add(x, hook)
    with time_machine.travel(NOW - dt.timedelta(minutes=5), tick=False):
        slot = pinned(channel, NOW)
    with time_machine.travel(NOW, tick=False):
        from publishing import services as publishing

        publishing.timeslot_publish(timeslot_id=slot.id, token=str(slot.token))
        # Both workers died mid-call: the rows are left 'sending'.
        Delivery.objects.update(status="sending", sending_started_at=NOW, attempts=1)
    broker.purge()  # the original deliver messages were consumed by those workers
    with time_machine.travel(NOW + dt.timedelta(minutes=3), tick=False):
        result = publishing.deliveries_recover(now=timezone.now())
    assert result.unconfirmed == 1 and result.redispatched == 1
    assert Delivery.objects.get(account=x).status == "unconfirmed"
    assert Delivery.objects.get(account=hook).status == "pending"
    deliver_messages = [m for m in broker.messages() if m["task"] == "publishing.deliver_batch"]
    assert [m["args"] for m in deliver_messages] == [[[Delivery.objects.get(account=hook).id]]]


@pytest.mark.django_db(transaction=True)
def test_watchdog_repairs_a_lost_message_end_to_end_with_a_worker(worker):
    channel = ChannelFactory()
    now = timezone.now()
    post = PostFactory(workspace=channel.workspace)
    # A slot that was due 2 minutes ago and whose message is gone (never sent).
    with mock.patch.object(enqueue, "on_commit"):
        slot = services.timeslot_pin(post=post, channel=channel, publish_at=now, now=now)
    Timeslot.objects.filter(id=slot.id).update(
        publish_at=now - dt.timedelta(minutes=2), enqueued_at=now - dt.timedelta(minutes=7)
    )
    result = services.watchdog_run()
    assert result.requeued == 1
    wait_for(
        lambda: Timeslot.objects.get(id=slot.id).status == "published", what="the requeued slot"
    )
    assert SandboxPost.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_slot_left_publishing_after_its_last_delivery_is_settled(broker):
    channel = ChannelFactory()
    with time_machine.travel(NOW - dt.timedelta(minutes=5), tick=False):
        slot = pinned(channel, NOW)
    with time_machine.travel(NOW, tick=False):
        from publishing import services as publishing

        publishing.timeslot_publish(timeslot_id=slot.id, token=str(slot.token))
        # The worker recorded 'sent' and was killed before settling the slot.
        Delivery.objects.update(status="sent", sent_at=NOW)
    slot.refresh_from_db()
    assert slot.status == "publishing"
    with time_machine.travel(NOW + dt.timedelta(seconds=30), tick=False):
        # Within the grace: maybe still settling.
        assert publishing.deliveries_recover(now=timezone.now()).settled == 0
    with time_machine.travel(NOW + dt.timedelta(minutes=2), tick=False):
        assert publishing.deliveries_recover(now=timezone.now()).settled == 1
    slot.refresh_from_db()
    assert slot.status == "published"
