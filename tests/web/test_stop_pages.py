"""The publishing controls page: an owner stops (after typing the workspace's short name),
sees the cutoff and resumes; editors are refused; blackouts are listed, added, deleted."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership
from scheduling import blackouts
from scheduling.models import Blackout, Stop
from tests.factories import ChannelFactory, MembershipFactory, PostFactory
from tests.publishing.slots import due_slot

pytestmark = pytest.mark.django_db


def _login(client, workspace, role):
    user = MembershipFactory(workspace=workspace, role=role).user
    client.force_login(user)
    return user


def test_owner_stops_with_confirmation_and_resumes(client):
    channel = ChannelFactory()
    _login(client, channel.workspace, Membership.Role.OWNER)
    assert b"Stop all publishing" in client.get(reverse("dashboard")).content
    confirm = client.get(reverse("publishing_stop"))
    assert confirm.status_code == 200 and channel.workspace.slug.encode() in confirm.content
    # Without the typed confirmation nothing stops.
    assert client.post(reverse("publishing_stop"), {"confirm": "nope"}).status_code == 400
    assert not Stop.objects.exists()

    response = client.post(reverse("publishing_stop"), {"confirm": channel.workspace.slug})
    assert response.status_code == 302
    stop = Stop.objects.get()
    page = client.get(reverse("publishing_controls"))
    assert b"Publishing is stopped" in page.content and b"Cutoff" in page.content
    assert b"Publishing is stopped" in client.get(reverse("dashboard")).content
    channel.refresh_from_db()
    assert channel.is_paused

    client.post(reverse("publishing_resume"))
    stop.refresh_from_db()
    channel.refresh_from_db()
    assert stop.resumed_at is not None and not channel.is_paused


def test_editors_cannot_stop_or_edit_blackouts(client):
    channel = ChannelFactory()
    _login(client, channel.workspace, Membership.Role.EDITOR)
    assert client.get(reverse("publishing_controls")).status_code == 200
    assert (
        client.post(reverse("publishing_stop"), {"confirm": channel.workspace.slug}).status_code
        == 403
    )
    form = {"name": "x", "starts_on": "2030-01-01", "ends_on": "2030-01-02"}
    assert client.post(reverse("blackout_add"), form).status_code == 403
    assert not Stop.objects.exists() and not Blackout.objects.exists()


def test_owner_adds_and_deletes_a_blackout_and_bad_input_is_a_400(client):
    channel = ChannelFactory()
    _login(client, channel.workspace, Membership.Role.OWNER)
    bad = {"name": "x", "starts_on": "2030-01-05", "ends_on": "2030-01-01"}
    response = client.post(reverse("blackout_add"), bad)
    assert response.status_code == 400 and b"before the first day" in response.content
    zone = {"name": "x", "starts_on": "2030-01-01", "ends_on": "2030-01-01", "timezone": "Nope/X"}
    assert client.post(reverse("blackout_add"), zone).status_code == 400
    good = {"name": "Holidays", "starts_on": "2030-01-01", "ends_on": "2030-01-02"}
    assert client.post(reverse("blackout_add"), good).status_code == 302
    blackout = Blackout.objects.get()
    assert b"Holidays" in client.get(reverse("publishing_controls")).content
    # Another workspace's blackout is a 404.
    other = ChannelFactory()
    foreign = Blackout.objects.create(
        workspace=other.workspace,
        name="theirs",
        starts_on=blackout.starts_on,
        ends_on=blackout.ends_on,
        start_at=blackout.start_at,
        end_at=blackout.end_at,
    )
    assert client.post(reverse("blackout_delete", args=[foreign.id])).status_code == 404
    client.post(reverse("blackout_delete", args=[blackout.id]))
    assert list(Blackout.objects.all()) == [foreign]


def test_a_slot_moved_into_a_blackout_is_flagged_on_save(client):
    channel = ChannelFactory(timezone="UTC")
    owner = _login(client, channel.workspace, Membership.Role.OWNER)
    day = (timezone.now() + dt.timedelta(days=3)).date()
    blackouts.blackout_add(
        workspace=channel.workspace, user=owner, name="Strike", starts_on=day, ends_on=day
    )
    pin = due_slot(
        channel,
        timezone.now() + dt.timedelta(days=1),
        post=PostFactory(workspace=channel.workspace),
    )
    outside = {"publish_at": f"{day - dt.timedelta(days=1):%Y-%m-%d} 10:00"}
    response = client.post(reverse("timeslot_move", args=[pin.id]), outside, follow=True)
    assert b"blackout" not in response.content
    inside = {"publish_at": f"{day:%Y-%m-%d} 10:00"}
    response = client.post(reverse("timeslot_move", args=[pin.id]), inside, follow=True)
    assert "falls in the blackout “Strike”" in response.content.decode()
