"""The Webhooks pages and the endpoints API: owners manage; editors, approvers and viewers
cannot; another workspace's ids are a 404; bad input is a clear 400 that saves nothing."""

from __future__ import annotations

import pytest
from django.test import override_settings
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import ApiToken, EventType, Membership
from integrations import sending
from integrations.models import Attempt, Endpoint, EventDelivery
from tests.factories import MembershipFactory, WorkspaceFactory
from tests.integrations.conftest import endpoint_for
from tests.integrations.test_sending import import_event
from tests.networks.netfakes import fake_dns, record_connects

pytestmark = pytest.mark.django_db

API = "/api/v1/endpoints/"
# Every role but owner (the approver role arrives with the teams issue).
NOT_OWNERS = [r for r in Membership.Role.values if r != Membership.Role.OWNER]


def api_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {ApiToken.objects.create(user=user).key}")
    return client


@pytest.fixture
def ws():
    return WorkspaceFactory(slug="acme")


def member(ws, role):
    return MembershipFactory(workspace=ws, role=role).user


@pytest.fixture
def sent(ws, receiver):
    """An endpoint of `ws` with one delivered event (one attempt)."""
    endpoint = endpoint_for(ws, receiver.hook)
    [delivery_id] = sending.events_fan_out(event_ids=[import_event(ws).id])
    sending.deliveries_send(delivery_ids=[delivery_id])
    return endpoint, EventDelivery.objects.get(id=delivery_id)


# --- Pages ---------------------------------------------------------------------------------


def test_an_owner_adds_edits_sees_attempts_resends_and_deletes(client, ws, sent, receiver):
    endpoint, delivery = sent
    client.force_login(member(ws, Membership.Role.OWNER))
    page = client.get(reverse("endpoint_list"))
    assert page.status_code == 200 and endpoint.url in page.content.decode()

    added = client.post(
        reverse("endpoint_list"),
        {"url": receiver.hook + "?two", "event_types": ["timeslot.failed"], "is_active": "on"},
    )
    new = Endpoint.objects.exclude(id=endpoint.id).get()
    assert added.status_code == 302 and new.event_types == ["timeslot.failed"]
    assert new.secret.startswith("whsec_")

    detail = client.get(reverse("endpoint_detail", args=[endpoint.id])).content.decode()
    assert endpoint.secret in detail
    assert "HTTP 200" in detail and '{"ok": true}' in detail.replace("&quot;", '"')
    assert delivery.event.event_id in detail

    edited = client.post(
        reverse("endpoint_detail", args=[new.id]), {"url": new.url, "description": "CMS"}
    )
    new.refresh_from_db()
    assert edited.status_code == 302
    assert (new.description, new.is_active, new.event_types) == ("CMS", False, [])

    resend = client.post(reverse("event_delivery_resend", args=[endpoint.id, delivery.id]))
    assert resend.status_code == 302
    assert EventDelivery.objects.get(id=delivery.id).status == EventDelivery.Status.PENDING

    assert client.post(reverse("endpoint_delete", args=[new.id])).status_code == 302
    assert not Endpoint.objects.filter(id=new.id).exists()


@override_settings(WEBHOOK_ALLOWED_HOSTS=[])
def test_a_local_address_is_refused_with_a_clear_message(client, ws, monkeypatch):
    connects = record_connects(monkeypatch)
    fake_dns(monkeypatch, {"metadata.example.com": ["169.254.169.254"]})
    client.force_login(member(ws, Membership.Role.OWNER))
    for url in ("http://127.0.0.1:9/x", "http://metadata.example.com/x", "http://[::1]/x"):
        response = client.post(reverse("endpoint_list"), {"url": url})
        assert response.status_code == 400
        assert "local, private or reserved network address" in response.content.decode()
    assert not Endpoint.objects.exists()
    assert connects == []


@pytest.mark.parametrize("role", NOT_OWNERS)
def test_other_roles_cannot_use_the_pages(client, ws, sent, role):
    endpoint, delivery = sent
    client.force_login(member(ws, role))
    assert client.get(reverse("endpoint_list")).status_code == 403
    assert client.get(reverse("endpoint_detail", args=[endpoint.id])).status_code == 403
    posts = [
        reverse("endpoint_list"),
        reverse("endpoint_delete", args=[endpoint.id]),
        reverse("endpoint_rotate_secret", args=[endpoint.id]),
        reverse("event_delivery_resend", args=[endpoint.id, delivery.id]),
    ]
    for url in posts:
        assert client.post(url, {"url": "https://x.example.com"}).status_code == 403
    assert Endpoint.objects.count() == 1
    assert endpoint.secret not in client.get(reverse("dashboard")).content.decode()


def test_another_workspaces_endpoint_is_not_found(client, ws, sent):
    endpoint, delivery = sent
    client.force_login(member(WorkspaceFactory(), Membership.Role.OWNER))
    assert client.get(reverse("endpoint_detail", args=[endpoint.id])).status_code == 404
    assert client.post(reverse("endpoint_delete", args=[endpoint.id])).status_code == 404
    resend = reverse("event_delivery_resend", args=[endpoint.id, delivery.id])
    assert client.post(resend).status_code == 404
    assert endpoint.url not in client.get(reverse("endpoint_list")).content.decode()


# --- API -----------------------------------------------------------------------------------


def test_the_api_manages_endpoints_for_owners(ws, sent, receiver):
    endpoint, delivery = sent
    api = api_for(member(ws, Membership.Role.OWNER))
    listed = api.get(API).json()
    assert [e["id"] for e in listed["results"]] == [endpoint.id]
    assert listed["results"][0]["secret"] == endpoint.secret

    created = api.post(
        API,
        {"workspace": "acme", "url": receiver.hook + "?api", "event_types": ["import.finished"]},
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["secret"].startswith("whsec_") and body["event_types"] == ["import.finished"]

    patched = api.patch(f"{API}{body['id']}/", {"is_active": False}, format="json")
    assert patched.status_code == 200 and patched.json()["is_active"] is False

    [attempt] = api.get(f"{API}{endpoint.id}/attempts/").json()
    assert attempt["status_code"] == 200 and attempt["event_id"] == delivery.event.event_id
    assert attempt["event_type"] == "import.finished" and attempt["excerpt"] == '{"ok": true}'

    resent = api.post(f"{API}{endpoint.id}/resend/", {"delivery": delivery.id}, format="json")
    assert resent.status_code == 202 and resent.json()["status"] == "pending"

    assert api.delete(f"{API}{body['id']}/").status_code == 204
    assert not Endpoint.objects.filter(id=body["id"]).exists()


@override_settings(WEBHOOK_ALLOWED_HOSTS=[])
def test_the_api_refuses_bad_input_with_a_400(ws, monkeypatch):
    record_connects(monkeypatch)
    api = api_for(member(ws, Membership.Role.OWNER))
    cases = [
        {"workspace": "acme", "url": "http://127.0.0.1/x"},
        {"workspace": "acme", "url": "ftp://example.com/x"},
        {"workspace": "acme", "url": "https://93.184.215.14/x", "event_types": ["nope"]},
        {"workspace": "nowhere", "url": "https://93.184.215.14/x"},
        {"url": "https://93.184.215.14/x"},
    ]
    for data in cases:
        response = api.post(API, data, format="json")
        assert response.status_code == 400, (data, response.content)
    assert not Endpoint.objects.exists()


@pytest.mark.parametrize("role", NOT_OWNERS)
def test_other_roles_cannot_use_the_api(ws, sent, role):
    endpoint, delivery = sent
    api = api_for(member(ws, role))
    assert api.get(API).json()["results"] == []
    assert api.get(f"{API}{endpoint.id}/").status_code == 404
    assert api.get(f"{API}{endpoint.id}/attempts/").status_code == 404
    assert api.patch(f"{API}{endpoint.id}/", {"url": "https://x.example"}).status_code == 404
    assert api.delete(f"{API}{endpoint.id}/").status_code == 404
    resend = api.post(f"{API}{endpoint.id}/resend/", {"delivery": delivery.id}, format="json")
    assert resend.status_code == 404
    created = api.post(API, {"workspace": "acme", "url": "https://127.0.0.1/x"}, format="json")
    assert created.status_code == 403
    assert Endpoint.objects.count() == 1


def test_another_workspaces_ids_are_not_found_in_the_api(ws, sent):
    endpoint, delivery = sent
    mine = WorkspaceFactory(slug="mine")
    api = api_for(member(mine, Membership.Role.OWNER))
    assert api.get(f"{API}{endpoint.id}/").status_code == 404
    assert api.delete(f"{API}{endpoint.id}/").status_code == 404
    resend = api.post(f"{API}{endpoint.id}/resend/", {"delivery": delivery.id}, format="json")
    assert resend.status_code == 404
    # Its own endpoint cannot resend another workspace's delivery either.
    own = endpoint_for(mine, endpoint.url)
    resend = api.post(f"{API}{own.id}/resend/", {"delivery": delivery.id}, format="json")
    assert resend.status_code == 404
    created = api.post(API, {"workspace": "acme", "url": endpoint.url}, format="json")
    assert created.status_code == 400  # not a member: no such workspace for this user
    assert Attempt.objects.count() == 1
    assert EventDelivery.objects.get(id=delivery.id).status == EventDelivery.Status.DELIVERED


def test_event_types_are_the_documented_ones():
    from integrations.api import EVENTS_DOC

    assert [v for v in EventType.values if f"`{v}`" not in EVENTS_DOC] == []
