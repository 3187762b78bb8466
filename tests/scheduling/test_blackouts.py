"""Blackout dates (scheduling/blackouts.py): the planner skips inside them, the claim skips
pins inside them at their time, adding one over planned slots rotates their tokens."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError

from accounts.models import Membership
from publishing.claim import Outcome, timeslots_publish
from scheduling import blackouts
from scheduling import services as scheduling
from scheduling.models import Timeslot
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

UTC = dt.UTC
NOW = dt.datetime(2026, 12, 24, 22, 0, tzinfo=UTC)  # 23:00 in Berlin, Christmas Eve


def _owner(workspace):
    return MembershipFactory(workspace=workspace, role=Membership.Role.OWNER).user


@pytest.mark.django_db(transaction=True)
def test_planner_skips_slots_inside_a_blackout_with_the_reason(broker):
    channel = ChannelFactory(timezone="Europe/Berlin")
    ScheduleFactory(channel=channel, recurrence=rule("RRULE:FREQ=MINUTELY;INTERVAL=20"))
    other = ScheduleFactory(recurrence=rule("RRULE:FREQ=MINUTELY;INTERVAL=20"))
    blackouts.blackout_add(
        workspace=channel.workspace,
        user=_owner(channel.workspace),
        name="Christmas",
        starts_on=dt.date(2026, 12, 25),
        ends_on=dt.date(2026, 12, 25),
        zone="Europe/Berlin",
    )
    with time_machine.travel(NOW, tick=False):
        scheduling.planner_run()
    mine = Timeslot.objects.filter(channel=channel)
    berlin_midnight = dt.datetime(2026, 12, 24, 23, 0, tzinfo=UTC)
    before = mine.filter(publish_at__lt=berlin_midnight)
    inside = mine.filter(publish_at__gte=berlin_midnight)
    assert before.exists() and inside.exists()
    assert set(before.values_list("status", flat=True)) == {Timeslot.Status.SCHEDULED}
    assert set(inside.values_list("status", flat=True)) == {Timeslot.Status.SKIPPED}
    assert set(inside.values_list("reason_code", flat=True)) == {Reason.BLACKOUT}
    assert "Christmas" in inside.first().reason
    # Another workspace plans as usual.
    theirs = Timeslot.objects.filter(channel=other.channel, publish_at__gte=berlin_midnight)
    assert set(theirs.values_list("status", flat=True)) == {Timeslot.Status.SCHEDULED}


@pytest.mark.django_db
def test_adding_a_blackout_over_planned_slots_rotates_their_tokens():
    channel = ChannelFactory(timezone="UTC")
    QueueEntryFactory(channel=channel)
    post = PostFactory(workspace=channel.workspace)
    with time_machine.travel(NOW, tick=False):
        planned = due_slot(channel, NOW + dt.timedelta(hours=3))
        pinned = due_slot(channel, NOW + dt.timedelta(hours=4), post=post)
        outside = due_slot(channel, NOW + dt.timedelta(hours=1))
        tokens = {s.id: s.token for s in (planned, pinned, outside)}
        _, stopped = blackouts.blackout_add(
            workspace=channel.workspace,
            user=_owner(channel.workspace),
            name="Crisis",
            starts_on=dt.date(2026, 12, 25),
            ends_on=dt.date(2026, 12, 26),
            zone="UTC",
        )
    assert stopped == 1
    for slot in (planned, pinned, outside):
        slot.refresh_from_db()
    assert planned.status == Timeslot.Status.SKIPPED and planned.reason_code == Reason.BLACKOUT
    assert planned.token != tokens[planned.id]
    # A pin keeps its place (deleting the blackout lets it publish) with a new token...
    assert pinned.status == Timeslot.Status.SCHEDULED and pinned.token != tokens[pinned.id]
    assert outside.token == tokens[outside.id]
    # ...its old message is a no-op, and its new one is skipped at its time, with the reason.
    at = pinned.publish_at
    assert timeslots_publish(pairs=[(pinned.id, str(tokens[pinned.id]))], now=at) == {
        pinned.id: Outcome.STALE
    }
    assert timeslots_publish(pairs=[(pinned.id, str(pinned.token))], now=at) == {
        pinned.id: Outcome.SKIPPED
    }
    pinned.refresh_from_db()
    assert pinned.reason_code == Reason.BLACKOUT and "Crisis" in pinned.reason


@pytest.mark.django_db
def test_a_pin_saved_inside_a_blackout_is_flagged_and_skipped_at_its_time():
    channel = ChannelFactory(timezone="UTC")
    post = PostFactory(workspace=channel.workspace)
    with time_machine.travel(NOW, tick=False):
        blackout, _ = blackouts.blackout_add(
            workspace=channel.workspace,
            user=_owner(channel.workspace),
            name="Quiet",
            starts_on=dt.date(2026, 12, 25),
            ends_on=dt.date(2026, 12, 25),
        )
        at = NOW + dt.timedelta(hours=5)
        pin = scheduling.timeslot_pin(post=post, channel=channel, publish_at=at)
    assert blackouts.covering(workspace_id=channel.workspace_id, at=at) == blackout
    assert blackouts.covering(workspace_id=channel.workspace_id, at=NOW) is None
    outcome = timeslots_publish(pairs=[(pin.id, str(pin.token))], now=at)
    assert outcome == {pin.id: Outcome.SKIPPED}
    # Lifted: a pin inside the former blackout publishes again.
    blackouts.blackout_delete(blackout=blackout, user=_owner(channel.workspace))
    assert blackouts.covering(workspace_id=channel.workspace_id, at=at) is None


@pytest.mark.django_db
def test_blackout_input_and_permissions():
    channel = ChannelFactory()
    owner = _owner(channel.workspace)
    editor = MembershipFactory(workspace=channel.workspace, role=Membership.Role.EDITOR).user
    day = dt.date(2026, 12, 25)
    with pytest.raises(PermissionDenied):
        blackouts.blackout_add(
            workspace=channel.workspace, user=editor, name="x", starts_on=day, ends_on=day
        )
    for bad in (
        {"name": "x", "starts_on": day, "ends_on": day - dt.timedelta(days=1)},
        {"name": "", "starts_on": day, "ends_on": day},
        {"name": "x", "starts_on": day, "ends_on": day, "zone": "Mars/Base"},
        {"name": "x", "starts_on": day, "ends_on": day + dt.timedelta(days=400)},
    ):
        with pytest.raises(ValidationError):
            blackouts.blackout_add(workspace=channel.workspace, user=owner, **bad)
    assert not channel.workspace.blackouts.exists()
