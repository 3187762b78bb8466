"""Claiming a due slot and choosing its post: loop order, once mode, limits, expiry, variations."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from accounts.models import Notice
from channels.models import Channel, QueueEntry
from publishing import services
from publishing.models import Delivery, SandboxPost
from publishing.services import Outcome
from scheduling.models import Timeslot
from tests.factories import (
    ChannelFactory,
    PostFactory,
    QueueEntryFactory,
    ScheduleFactory,
    VariationFactory,
)

UTC = dt.UTC
T0 = dt.datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def run_slot(channel: Channel, at: dt.datetime, **fields) -> Timeslot:
    """Create a due queue slot, publish it and send its deliveries (as the worker would)."""
    schedule = fields.pop("schedule", None) or ScheduleFactory(channel=channel)
    slot = Timeslot.objects.create(
        channel=channel, schedule=schedule, publish_at=at, planned_for=at, **fields
    )
    with time_machine.travel(at, tick=False):
        services.timeslot_publish(timeslot_id=slot.id, token=str(slot.token))
        for delivery in Delivery.objects.filter(timeslot=slot):
            services.delivery_send(delivery_id=delivery.id)
    slot.refresh_from_db()
    return slot


def published_texts(channel: Channel, count: int) -> list[str]:
    schedule = ScheduleFactory(channel=channel)
    return [
        run_slot(channel, T0 + dt.timedelta(hours=i), schedule=schedule).published_text
        for i in range(count)
    ]


@pytest.mark.django_db
def test_loop_order_cycles_least_recently_published_first():
    channel = ChannelFactory()
    posts = [
        QueueEntryFactory(channel=channel, position=i, post__text=f"p{i}").post for i in (1, 2, 3)
    ]
    assert [p.text for p in posts] == ["p1", "p2", "p3"]
    assert published_texts(channel, 7) == ["p1", "p2", "p3", "p1", "p2", "p3", "p1"]


@pytest.mark.django_db
def test_new_post_goes_first_because_never_published():
    channel = ChannelFactory()
    QueueEntryFactory(channel=channel, position=1, post__text="old")
    assert published_texts(channel, 1) == ["old"]
    QueueEntryFactory(channel=channel, position=2, post__text="new")
    assert published_texts(channel, 2) == ["new", "old"]


@pytest.mark.django_db
def test_once_mode_drains_the_queue_then_skips_with_reason():
    channel = ChannelFactory(mode=Channel.Mode.ONCE)
    QueueEntryFactory(channel=channel, position=1, post__text="a")
    QueueEntryFactory(channel=channel, position=2, post__text="b")
    schedule = ScheduleFactory(channel=channel)
    slots = [run_slot(channel, T0 + dt.timedelta(hours=i), schedule=schedule) for i in range(3)]
    assert [s.published_text for s in slots[:2]] == ["a", "b"]
    assert slots[2].status == Timeslot.Status.SKIPPED
    assert slots[2].reason.startswith("Skipped: queue empty")
    assert not QueueEntry.objects.filter(channel=channel, is_active=True).exists()
    assert Notice.objects.filter(kind=Notice.Kind.QUEUE_EMPTY).count() == 1


@pytest.mark.django_db
def test_max_publications_retires_an_entry():
    channel = ChannelFactory()
    QueueEntryFactory(channel=channel, position=1, post__text="limited", max_publications=2)
    QueueEntryFactory(channel=channel, position=2, post__text="forever")
    assert published_texts(channel, 5) == ["limited", "forever", "limited", "forever", "forever"]
    assert QueueEntry.objects.get(post__text="limited").times_published == 2


@pytest.mark.django_db
def test_expired_posts_are_skipped():
    channel = ChannelFactory()
    QueueEntryFactory(
        channel=channel,
        position=1,
        post__text="stale",
        post__expires_at=T0 + dt.timedelta(minutes=90),
    )
    QueueEntryFactory(channel=channel, position=2, post__text="fresh")
    # 09:00 stale (not yet expired), 10:00 fresh, 11:00 stale has expired at 10:30 → fresh.
    assert published_texts(channel, 3) == ["stale", "fresh", "fresh"]


@pytest.mark.django_db
def test_drafts_and_archived_posts_are_not_published():
    channel = ChannelFactory()
    QueueEntryFactory(channel=channel, position=1, post__text="draft", post__status="draft")
    QueueEntryFactory(channel=channel, position=2, post__text="archived", post__status="archived")
    slot = run_slot(channel, T0)
    assert slot.status == Timeslot.Status.SKIPPED
    assert "queue empty" in slot.reason


@pytest.mark.django_db
def test_variations_rotate_on_each_loop():
    channel = ChannelFactory()
    post = QueueEntryFactory(channel=channel, post__text="main").post
    VariationFactory(post=post, text="second", position=1)
    VariationFactory(post=post, text="third", position=2)
    assert published_texts(channel, 4) == ["main", "second", "third", "main"]


@pytest.mark.django_db
def test_published_slot_records_post_text_and_sent_deliveries():
    channel = ChannelFactory()
    second = ChannelFactory(workspace=channel.workspace).accounts.first()
    channel.accounts.add(second)
    post = QueueEntryFactory(channel=channel).post
    slot = run_slot(channel, T0)
    assert slot.status == Timeslot.Status.PUBLISHED
    assert slot.published_post == post
    assert slot.published_at == T0
    deliveries = list(Delivery.objects.filter(timeslot=slot))
    assert len(deliveries) == 2
    assert {d.status for d in deliveries} == {Delivery.Status.SENT}
    assert all(d.external_id.startswith("sandbox-") and d.url for d in deliveries)
    assert SandboxPost.objects.filter(text=post.text).count() == 2


@pytest.mark.django_db
def test_channel_without_accounts_fails_with_reason():
    channel = ChannelFactory(with_sandbox=False)
    QueueEntryFactory(channel=channel)
    slot = run_slot(channel, T0)
    assert slot.status == Timeslot.Status.FAILED
    assert "no active accounts" in slot.reason


@pytest.mark.django_db
def test_paused_channel_skips_its_planned_slot():
    channel = ChannelFactory(is_paused=True)
    QueueEntryFactory(channel=channel)
    slot = run_slot(channel, T0)
    assert slot.status == Timeslot.Status.SKIPPED
    assert "paused" in slot.reason


@pytest.mark.django_db
def test_stale_token_and_finished_slot_are_no_ops():
    channel = ChannelFactory()
    QueueEntryFactory(channel=channel)
    slot = Timeslot.objects.create(
        channel=channel, schedule=ScheduleFactory(channel=channel), publish_at=T0, planned_for=T0
    )
    with time_machine.travel(T0, tick=False):
        assert (
            services.timeslot_publish(timeslot_id=slot.id, token="not-the-token") == Outcome.STALE
        )
        assert services.timeslot_publish(timeslot_id=999999, token=str(slot.token)) == Outcome.STALE
        assert (
            services.timeslot_publish(timeslot_id=slot.id, token=str(slot.token))
            == Outcome.DISPATCHED
        )
        # The same (id, token) again: the slot is no longer scheduled.
        assert (
            services.timeslot_publish(timeslot_id=slot.id, token=str(slot.token)) == Outcome.STALE
        )
    assert Delivery.objects.filter(timeslot=slot).count() == 1


@pytest.mark.django_db(transaction=True)
def test_early_message_is_re_enqueued_with_the_same_token(broker):
    channel = ChannelFactory()
    slot = Timeslot.objects.create(
        channel=channel, post=PostFactory(workspace=channel.workspace), publish_at=T0
    )
    with time_machine.travel(T0 - dt.timedelta(seconds=30), tick=False):
        assert (
            services.timeslot_publish(timeslot_id=slot.id, token=str(slot.token)) == Outcome.EARLY
        )
    messages = broker.publish_messages()
    assert [m["args"] for m in messages] == [[slot.id, str(slot.token)]]
    assert messages[0]["eta"].startswith("2026-06-01T09:00:00")
    slot.refresh_from_db()
    assert slot.status == Timeslot.Status.SCHEDULED


@pytest.mark.django_db
def test_message_past_missed_after_marks_missed_not_published():
    channel = ChannelFactory()
    QueueEntryFactory(channel=channel)
    slot = Timeslot.objects.create(
        channel=channel, schedule=ScheduleFactory(channel=channel), publish_at=T0, planned_for=T0
    )
    with time_machine.travel(T0 + dt.timedelta(hours=2), tick=False):
        assert (
            services.timeslot_publish(timeslot_id=slot.id, token=str(slot.token)) == Outcome.MISSED
        )
    slot.refresh_from_db()
    assert slot.status == Timeslot.Status.MISSED
    assert "not sent late" in slot.reason
    assert not Delivery.objects.exists()


@pytest.mark.django_db
def test_pinned_post_publishes_itself_and_counts_in_the_loop():
    channel = ChannelFactory()
    first = QueueEntryFactory(channel=channel, position=1, post__text="first").post
    QueueEntryFactory(channel=channel, position=2, post__text="second")
    pinned = Timeslot.objects.create(channel=channel, post=first, publish_at=T0)
    with time_machine.travel(T0, tick=False):
        services.timeslot_publish(timeslot_id=pinned.id, token=str(pinned.token))
    pinned.refresh_from_db()
    assert pinned.published_post == first
    # "first" was just published by the pin, so the queue's next slot takes "second".
    assert published_texts(channel, 1) == ["second"]


@pytest.mark.django_db
def test_pinned_publication_uses_up_the_entry_in_once_mode():
    channel = ChannelFactory(mode=Channel.Mode.ONCE)
    first = QueueEntryFactory(channel=channel, position=1, post__text="first").post
    QueueEntryFactory(channel=channel, position=2, post__text="second")
    pinned = Timeslot.objects.create(channel=channel, post=first, publish_at=T0)
    with time_machine.travel(T0, tick=False):
        services.timeslot_publish(timeslot_id=pinned.id, token=str(pinned.token))
    assert not QueueEntry.objects.get(post=first).is_active
    schedule = ScheduleFactory(channel=channel)
    later = [run_slot(channel, T0 + dt.timedelta(hours=i), schedule=schedule) for i in (1, 2)]
    assert later[0].published_text == "second"
    assert later[1].status == Timeslot.Status.SKIPPED
