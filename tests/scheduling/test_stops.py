"""The emergency stop and its resume (scheduling/stops.py), through the services."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from accounts.models import Membership
from publishing.claim import Outcome, timeslots_publish
from scheduling import services as scheduling
from scheduling import stops
from scheduling.models import Stop, Timeslot
from scheduling.reasons import Reason
from tests.factories import (
    ChannelFactory,
    MembershipFactory,
    PostFactory,
    QueueEntryFactory,
    ScheduleFactory,
    rule,
)
from tests.publishing.slots import due_slot

pytestmark = pytest.mark.django_db


def _owner(workspace):
    return MembershipFactory(workspace=workspace, role=Membership.Role.OWNER).user


def test_stop_rotates_tokens_pauses_channels_and_states_the_cutoff():
    channel = ChannelFactory()
    QueueEntryFactory(channel=channel)
    paused_before = ChannelFactory(workspace=channel.workspace, is_paused=True)
    owner = _owner(channel.workspace)
    now = timezone.now()
    due = due_slot(channel, now)
    later = due_slot(channel, now + dt.timedelta(minutes=10))
    old_token = due.token

    stop = stops.publishing_stop(workspace=channel.workspace, user=owner)

    assert stop.cutoff_at is not None and stop.cutoff_at >= stop.created_at
    assert stop.rotated == 2
    assert stop.already_paused == [paused_before.id]
    channel.refresh_from_db()
    assert channel.is_paused
    for slot in (due, later):
        slot.refresh_from_db()
        assert slot.status == Timeslot.Status.CANCELED
        assert slot.reason_code == Reason.STOPPED
        assert owner.get_username() in slot.reason
    assert due.token != old_token
    # The message a worker already held: its claim's conditional UPDATE matches nothing.
    assert timeslots_publish(pairs=[(due.id, str(old_token))]) == {due.id: Outcome.STALE}


def test_slots_claimed_before_the_stop_are_listed():
    channel = ChannelFactory()
    QueueEntryFactory(channel=channel)
    slot = due_slot(channel, timezone.now())
    assert timeslots_publish(pairs=[(slot.id, str(slot.token))])[slot.id] == Outcome.DISPATCHED

    stop = stops.publishing_stop(workspace=channel.workspace, label="ops")

    assert stop.claimed_before == [slot.id]
    assert stop.rotated == 0


def test_a_claimed_slots_deliveries_no_worker_took_are_stopped_too():
    """publishing's part of the stop (publishing/stopping/services.py): the slot was claimed
    before the stop, its delivery still `pending`: it ends failed with the stop's reason,
    the chunk that comes later takes nothing, and nothing is listed as under way."""
    from publishing.delivery import deliveries_send
    from publishing.models import Delivery, SandboxPost
    from publishing.stopping.services import publishing_stop

    channel = ChannelFactory()
    QueueEntryFactory(channel=channel)
    slot = due_slot(channel, timezone.now())
    assert timeslots_publish(pairs=[(slot.id, str(slot.token))])[slot.id] == Outcome.DISPATCHED
    delivery = Delivery.objects.get(timeslot=slot)

    stop = publishing_stop(workspace=channel.workspace, label="ops")

    assert stop.claimed_before == []
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED and "stopped" in delivery.last_error
    slot.refresh_from_db()
    assert (slot.status, slot.reason_code) == (Timeslot.Status.CANCELED, Reason.STOPPED)
    deliveries_send(delivery_ids=[delivery.id])  # the chunk's message, after the cutoff
    assert not SandboxPost.objects.exists()


def test_a_delivery_a_chunk_claimed_but_has_not_begun_is_stopped_too():
    """Claimed by a chunk (`sending`) whose call has not begun: the stop fails it, and the
    chunk's begin UPDATE then takes nothing (publishing/sql.py)."""
    from publishing.models import Delivery
    from publishing.stopping.services import publishing_stop

    channel = ChannelFactory()
    QueueEntryFactory(channel=channel)
    slot = due_slot(channel, timezone.now())
    timeslots_publish(pairs=[(slot.id, str(slot.token))])
    Delivery.objects.filter(timeslot=slot).update(status=Delivery.Status.SENDING)

    stop = publishing_stop(workspace=channel.workspace, label="ops")

    assert stop.claimed_before == []
    delivery = Delivery.objects.get(timeslot=slot)
    assert delivery.status == Delivery.Status.FAILED and "stopped" in delivery.last_error
    slot.refresh_from_db()
    assert (slot.status, slot.reason_code) == (Timeslot.Status.CANCELED, Reason.STOPPED)


def test_a_call_already_begun_is_listed_as_under_way():
    from publishing.models import Delivery
    from publishing.stopping.services import publishing_stop

    channel = ChannelFactory()
    QueueEntryFactory(channel=channel)
    slot = due_slot(channel, timezone.now())
    timeslots_publish(pairs=[(slot.id, str(slot.token))])
    Delivery.objects.filter(timeslot=slot).update(
        status=Delivery.Status.SENDING, sending_started_at=timezone.now()
    )

    stop = publishing_stop(workspace=channel.workspace, label="ops")

    assert stop.claimed_before == [slot.id]
    assert Delivery.objects.get(timeslot=slot).status == Delivery.Status.SENDING
    slot.refresh_from_db()
    assert slot.status == Timeslot.Status.PUBLISHING


def test_resume_replans_from_now_and_never_catches_up():
    channel = ChannelFactory(timezone="UTC")
    QueueEntryFactory(channel=channel)
    paused_before = ChannelFactory(workspace=channel.workspace, is_paused=True)
    owner = _owner(channel.workspace)
    post = PostFactory(workspace=channel.workspace)
    start = timezone.now().replace(microsecond=0)
    # Pins: a planned slot would also be reconciled with its rule on resume.
    fell = due_slot(channel, start + dt.timedelta(minutes=2), post=post)
    ahead = due_slot(channel, start + dt.timedelta(minutes=30), post=post)
    stops.publishing_stop(workspace=channel.workspace, user=owner)

    resumed = stops.publishing_resume(
        workspace=channel.workspace, user=owner, now=start + dt.timedelta(minutes=5)
    )

    fell.refresh_from_db()
    ahead.refresh_from_db()
    assert fell.status == Timeslot.Status.CANCELED and fell.reason_code == Reason.STOPPED
    assert ahead.status == Timeslot.Status.SCHEDULED and ahead.reason_code == ""
    assert resumed.revived == 1
    channel.refresh_from_db()
    paused_before.refresh_from_db()
    assert not channel.is_paused
    assert paused_before.is_paused  # paused before the stop: resume leaves it paused
    # The slot that fell in the stop does not publish late, even with a fresh message.
    assert timeslots_publish(pairs=[(fell.id, str(fell.token))])[fell.id] == Outcome.STALE
    assert Stop.objects.get().resumed_at is not None


def test_resume_plans_the_schedule_from_now_only():
    channel = ChannelFactory(timezone="UTC")
    QueueEntryFactory(channel=channel)
    schedule = ScheduleFactory(channel=channel, recurrence=rule("RRULE:FREQ=MINUTELY;INTERVAL=10"))
    start = timezone.now().replace(second=0, microsecond=0)
    stops.publishing_stop(workspace=channel.workspace, label="ops")
    resume_at = start + dt.timedelta(minutes=25)

    stops.publishing_resume(workspace=channel.workspace, label="ops", now=resume_at)

    live = Timeslot.objects.filter(schedule=schedule, status=Timeslot.Status.SCHEDULED)
    assert live.exists()
    assert not live.filter(publish_at__lt=resume_at).exists()


def test_only_owners_stop_and_resume():
    channel = ChannelFactory()
    editor = MembershipFactory(workspace=channel.workspace, role=Membership.Role.EDITOR).user
    with pytest.raises(PermissionDenied):
        stops.publishing_stop(workspace=channel.workspace, user=editor)
    outsider = _owner(ChannelFactory().workspace)
    with pytest.raises(PermissionDenied):
        stops.publishing_stop(workspace=channel.workspace, user=outsider)
    stops.publishing_stop(workspace=channel.workspace, user=_owner(channel.workspace))
    with pytest.raises(PermissionDenied):
        stops.publishing_resume(workspace=channel.workspace, user=editor)
    with pytest.raises(ValidationError):
        stops.publishing_stop(workspace=channel.workspace, label="twice")


def test_other_workspaces_are_untouched():
    mine, theirs = ChannelFactory(), ChannelFactory()
    now = timezone.now()
    my_slot, their_slot = due_slot(mine, now), due_slot(theirs, now)
    token = their_slot.token

    stops.publishing_stop(workspace=mine.workspace, user=_owner(mine.workspace))

    their_slot.refresh_from_db()
    theirs.refresh_from_db()
    assert their_slot.status == Timeslot.Status.SCHEDULED and their_slot.token == token
    assert not theirs.is_paused
    my_slot.refresh_from_db()
    assert my_slot.status == Timeslot.Status.CANCELED


def test_instance_stop_covers_every_workspace_and_channel_resume_is_refused():
    a, b = ChannelFactory(), ChannelFactory()
    stop = stops.publishing_stop(workspace=None, label="operator")
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.is_paused and b.is_paused and stop.workspace is None
    a.is_paused = False
    with pytest.raises(ValidationError):
        scheduling.channel_save(channel=a)
    stops.publishing_resume(workspace=None, label="operator")
    b.refresh_from_db()
    assert not b.is_paused


def test_pinned_slot_ahead_comes_back_on_resume():
    channel = ChannelFactory()
    post = PostFactory(workspace=channel.workspace)
    start = timezone.now()
    pin = due_slot(channel, start + dt.timedelta(minutes=40), post=post)
    stops.publishing_stop(workspace=channel.workspace, label="ops")
    pin.refresh_from_db()
    assert pin.status == Timeslot.Status.CANCELED
    stops.publishing_resume(workspace=channel.workspace, label="ops")
    pin.refresh_from_db()
    assert pin.status == Timeslot.Status.SCHEDULED


def test_overlapping_instance_and_workspace_stops_resume_every_channel():
    channel = ChannelFactory()
    stops.publishing_stop(workspace=None, label="operator")
    stops.publishing_stop(workspace=channel.workspace, label="owner")
    stops.publishing_resume(workspace=None, label="operator")
    channel.refresh_from_db()
    assert channel.is_paused  # the workspace's own stop still holds it
    stops.publishing_resume(workspace=channel.workspace, label="owner")
    channel.refresh_from_db()
    assert not channel.is_paused
