"""Stored values that broke pages, and input that answered 500 instead of 400 (issue 10,
findings 5 and 6). Each request here used to end in a server error."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import ApiToken, Membership
from posts.models import Post
from scheduling.models import Timeslot
from tests.factories import ChannelFactory, MembershipFactory, PostFactory, TimeslotFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 1, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def member():
    return MembershipFactory(role=Membership.Role.OWNER, workspace__slug="acme")


@pytest.fixture
def api(member):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {ApiToken.objects.create(user=member.user).key}")
    return client


@pytest.fixture
def channel(member):
    return ChannelFactory(workspace=member.workspace, slug="tech", timezone="Asia/Tokyo")


# --- Finding 5: moments are bounded where they come in ----------------------------------


@pytest.mark.parametrize("field", ["publish_at", "expires_at"])
@pytest.mark.parametrize(
    "moment", ["9999-12-31T23:59:59Z", "2031-06-03T10:00:00Z", "0001-01-01T00:30:00+09:00"]
)
def test_the_api_refuses_moments_outside_the_window(api, channel, field, moment):
    with time_machine.travel(NOW, tick=False):
        response = api.post(
            "/api/v1/posts/", {"text": "far", "channels": ["tech"], field: moment}, format="json"
        )
    assert response.status_code == 400, response.content
    assert "Choose a time between 2000-01-01 and 5 years from now" in str(response.json())
    assert not Post.objects.exists()
    with time_machine.travel(NOW, tick=False):
        assert api.get("/api/v1/timeslots/").status_code == 200


def test_a_slot_cannot_be_moved_to_year_9999_through_the_api(api, channel):
    slot = TimeslotFactory(channel=channel, publish_at=NOW + dt.timedelta(hours=2))
    with time_machine.travel(NOW, tick=False):
        response = api.patch(
            f"/api/v1/timeslots/{slot.id}/", {"publish_at": "9999-12-31T23:59:59Z"}, format="json"
        )
    assert response.status_code == 400
    slot.refresh_from_db()
    assert slot.publish_at == NOW + dt.timedelta(hours=2)


@pytest.mark.parametrize("pin_at", ["9999-12-31T23:59", "0001-01-01T00:30"])
def test_the_compose_form_refuses_a_pin_outside_the_window(web, channel, pin_at):
    with time_machine.travel(NOW, tick=False):
        response = web.post(
            reverse("post_create"),
            {"text": "far", "channels": [channel.id], "status": "ready", "pin_at": pin_at},
        )
        assert response.status_code == 400
        assert "Choose a time between" in response.content.decode()
        assert web.get(reverse("post_list")).status_code == 200
    assert not Post.objects.exists()


def test_moving_a_slot_to_year_1_east_of_utc_is_a_form_error(web, channel):
    slot = TimeslotFactory(channel=channel, publish_at=NOW + dt.timedelta(hours=2))
    with time_machine.travel(NOW, tick=False):
        response = web.post(
            reverse("timeslot_move", args=[slot.id]), {"publish_at": "0001-01-01T00:30"}
        )
    assert response.status_code in (302, 400)
    slot.refresh_from_db()
    assert slot.publish_at == NOW + dt.timedelta(hours=2)
    assert slot.status == Timeslot.Status.SCHEDULED


# --- Finding 6: 400, never 500 ----------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/channels/?workspace=ac%00me",
        "/api/v1/posts/?channel=te%00ch",
        "/api/v1/workspaces/?slug=%00",
        "/posts/?q=%00",
    ],
)
def test_a_nul_in_a_query_is_a_400(web, api, channel, url):
    client = api if url.startswith("/api/") else web
    assert client.get(url).status_code == 400


def test_a_nul_in_a_json_string_or_a_form_field_is_a_400(api, web, channel):
    response = api.post("/api/v1/posts/", {"text": "a\x00b", "channels": ["tech"]}, format="json")
    assert response.status_code == 400
    response = web.post(reverse("post_create"), {"text": "a\x00b", "status": "ready"})
    assert response.status_code == 400
    assert not Post.objects.exists()


def test_an_offset_postgresql_refuses_is_a_400(api, channel):
    response = api.get("/api/v1/timeslots/", {"from": "2026-06-01T10:00:00+17:00"})
    assert response.status_code == 400
    assert "between -15:59 and +15:59" in str(response.json())


def test_a_deeply_nested_json_body_is_a_400(api, channel):
    body = "[" * 100_000 + "]" * 100_000
    response = api.post("/api/v1/posts/", body, content_type="application/json")
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]


@pytest.mark.parametrize("week", ["9999-W52", "0001-W01"])
def test_a_calendar_week_out_of_range_shows_this_week(web, channel, week):
    response = web.get(reverse("calendar"), {"week": week})
    assert response.status_code == 200
    assert "Weeks look like" in response.content.decode()


def test_share_with_a_channel_that_is_not_a_number_is_a_400(web, member, channel):
    post = PostFactory(workspace=member.workspace)
    response = web.post(reverse("post_share", args=[post.id]), {"channel": "abc"})
    assert response.status_code == 400
    assert not Timeslot.objects.exists()


def test_compose_with_a_channel_link_that_is_not_a_number_still_opens(web, channel):
    response = web.get(reverse("post_create"), {"channel": ["abc", str(channel.id)]})
    assert response.status_code == 200
