"""REST API: the emergency stop (owners; the cutoff and in-flight list in the answer; a
repeat is a 409 with the stop in force) and blackout dates."""

from __future__ import annotations

import pytest
from django.utils import timezone

from accounts.models import Membership
from scheduling.models import Blackout, Stop, Timeslot
from tests.api.test_endpoints import API, client_for, member
from tests.factories import ChannelFactory, QueueEntryFactory
from tests.publishing.slots import due_slot

pytestmark = pytest.mark.django_db


def test_owner_stops_and_resumes_through_the_api():
    channel = ChannelFactory()
    QueueEntryFactory(channel=channel)
    slot = due_slot(channel, timezone.now())
    api = client_for(member(channel.workspace, Membership.Role.OWNER))
    slug = channel.workspace.slug

    response = api.post(f"{API}/stops/", {"workspace": slug}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["cutoff_at"] and body["rotated_slots"] == 1
    assert body["claimed_before_the_stop"] == [] and "conditional UPDATE" in body["guarantee"]
    slot.refresh_from_db()
    assert slot.status == Timeslot.Status.CANCELED
    again = api.post(f"{API}/stops/", {"workspace": slug}, format="json")
    assert again.status_code == 409 and again.json()["id"] == body["id"]
    assert [s["id"] for s in api.get(f"{API}/stops/").json()] == [body["id"]]

    resumed = api.post(f"{API}/stops/resume/", {"workspace": slug}, format="json")
    assert resumed.status_code == 200 and resumed.json()["resumed_at"]
    assert api.post(f"{API}/stops/resume/", {"workspace": slug}, format="json").status_code == 400


def test_editors_and_strangers_cannot_stop():
    channel = ChannelFactory()
    slug = channel.workspace.slug
    editor = client_for(member(channel.workspace, Membership.Role.EDITOR))
    assert editor.post(f"{API}/stops/", {"workspace": slug}, format="json").status_code == 403
    stranger = client_for(member(ChannelFactory().workspace, Membership.Role.OWNER))
    assert stranger.post(f"{API}/stops/", {"workspace": slug}, format="json").status_code == 404
    assert stranger.post(f"{API}/stops/", {}, format="json").status_code == 400
    assert not Stop.objects.exists()


def test_blackouts_through_the_api():
    channel = ChannelFactory(timezone="Europe/Berlin")
    api = client_for(member(channel.workspace, Membership.Role.OWNER))
    data = {
        "workspace": channel.workspace.slug,
        "name": "Christmas",
        "starts_on": "2030-12-24",
        "ends_on": "2030-12-26",
    }
    response = api.post(f"{API}/blackouts/", data, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["timezone"] == "Europe/Berlin"  # the channels' zone by default
    bad = api.post(f"{API}/blackouts/", {**data, "ends_on": "2030-12-01"}, format="json")
    assert bad.status_code == 400 and "ends_on" in bad.json()
    assert len(api.get(f"{API}/blackouts/").json()["results"]) == 1
    editor = client_for(member(channel.workspace, Membership.Role.EDITOR))
    blackout_id = response.json()["id"]
    assert editor.delete(f"{API}/blackouts/{blackout_id}/").status_code == 403
    stranger = client_for(member(ChannelFactory().workspace, Membership.Role.OWNER))
    assert stranger.delete(f"{API}/blackouts/{blackout_id}/").status_code == 404
    assert api.delete(f"{API}/blackouts/{blackout_id}/").status_code == 204
    assert not Blackout.objects.exists()


def test_the_stop_takes_an_idempotency_key_and_replays_its_answer():
    channel = ChannelFactory()
    api = client_for(member(channel.workspace, Membership.Role.OWNER))
    body = {"workspace": channel.workspace.slug}
    key = {"Idempotency-Key": "stop-2026-12-07-a"}
    first = api.post(f"{API}/stops/", body, format="json", headers=key)
    assert first.status_code == 201 and first.json()["cutoff_at"]
    again = api.post(f"{API}/stops/", body, format="json", headers=key)
    assert again.status_code == 201 and again.json() == first.json()
    assert Stop.objects.count() == 1
