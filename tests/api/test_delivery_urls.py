"""A delivery's `url` in the API is absolute, as its schema (`format: uri`) says: the sandbox
network stores a path on this site ("/sandbox/1/#post-4"), made absolute with
PUBLIC_BASE_URL when set, else from the request's own host."""

from __future__ import annotations

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from accounts.models import ApiToken, Membership
from tests.factories import (
    ChannelFactory,
    DeliveryFactory,
    MembershipFactory,
    TimeslotFactory,
)

pytestmark = pytest.mark.django_db

SANDBOX_URL = "/sandbox/1/#post-4"


@pytest.fixture
def delivery():
    member = MembershipFactory()
    channel = ChannelFactory(workspace=member.workspace)
    delivery = DeliveryFactory(timeslot=TimeslotFactory(channel=channel), url=SANDBOX_URL)
    DeliveryFactory(timeslot=TimeslotFactory(channel=channel), url="")
    delivery.api = APIClient()
    delivery.api.credentials(
        HTTP_AUTHORIZATION=f"Token {ApiToken.objects.create(user=member.user).key}"
    )
    return delivery


def urls(api, **extra) -> list:
    response = api.get("/api/v1/deliveries/", **extra)
    assert response.status_code == 200, response.content
    return sorted(d["url"] or "" for d in response.json()["results"])


@override_settings(PUBLIC_BASE_URL="")
def test_a_sandbox_path_is_made_absolute_from_the_request(delivery):
    assert urls(delivery.api) == ["", "http://testserver/sandbox/1/#post-4"]
    assert urls(delivery.api, secure=True) == ["", "https://testserver/sandbox/1/#post-4"]
    # A thread's parts too.
    delivery.thread_sent = [{"id": "sandbox-4", "url": SANDBOX_URL}, {"id": "p2", "url": ""}]
    delivery.save(update_fields=["thread_sent"])
    one = delivery.api.get(f"/api/v1/deliveries/{delivery.id}/").json()
    assert one["url"] == "http://testserver/sandbox/1/#post-4"
    assert [p["url"] for p in one["thread_sent"]] == ["http://testserver/sandbox/1/#post-4", ""]


@override_settings(PUBLIC_BASE_URL="https://queueloop.example.com")
def test_public_base_url_wins_over_the_request_host(delivery):
    assert urls(delivery.api) == ["", "https://queueloop.example.com/sandbox/1/#post-4"]


def test_a_networks_absolute_url_is_kept(delivery):
    delivery.url = "https://x.com/someone/status/1"
    delivery.save(update_fields=["url"])
    assert "https://x.com/someone/status/1" in urls(delivery.api)


def api_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {ApiToken.objects.create(user=user).key}")
    return client


@pytest.mark.django_db
def test_a_delivery_without_a_url_shows_null_not_an_empty_string():
    owner = MembershipFactory(role=Membership.Role.OWNER)
    channel = ChannelFactory(workspace=owner.workspace)
    DeliveryFactory(timeslot=TimeslotFactory(channel=channel), url="")
    [row] = api_for(owner.user).get("/api/v1/deliveries/").json()["results"]
    assert row["url"] is None
