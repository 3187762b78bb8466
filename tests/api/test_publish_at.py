"""POST /api/v1/posts/ with the psched-style one-liner: form data, a `publish_at` without an
offset read as each channel's wall-clock time (the schedules' DST rule), a raw "+01:00" that
form encoding turned into a space, and "Z", "%2B" and JSON still working."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
import recurrence
import time_machine
from rest_framework.test import APIClient

from accounts.models import ApiToken
from posts.models import Post
from scheduling import rules
from scheduling.models import Timeslot
from tests.factories import ChannelFactory, MembershipFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db

UTC = dt.UTC
FORM = "application/x-www-form-urlencoded"
NOW = dt.datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def ws():
    return WorkspaceFactory(slug="acme")


@pytest.fixture
def api(ws):
    user = MembershipFactory(workspace=ws).user
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {ApiToken.objects.create(user=user).key}")
    return client


@pytest.fixture
def berlin(ws):
    return ChannelFactory(workspace=ws, slug="tech", timezone="Europe/Berlin")


@pytest.fixture
def new_york(ws):
    return ChannelFactory(workspace=ws, slug="news", timezone="America/New_York")


def form_post(api, body: str):
    """The body exactly as `curl --data` sends it: no escaping at all."""
    return api.post("/api/v1/posts/", body, content_type=FORM)


def pinned(response) -> dict[str, dict]:
    assert response.status_code == 201, response.content
    return {p["channel"]: p for p in response.json()["pinned"]}


def test_the_curl_one_liner_pins_at_1330_berlin(api, berlin):
    response = form_post(
        api, "text=I'm scheduling a message!&channels=tech&publish_at=2027-03-10 13:30:00"
    )
    slot = pinned(response)["tech"]
    assert slot["publish_at"] == "2027-03-10T12:30:00Z"
    assert slot["timezone"] == "Europe/Berlin"
    assert slot["publish_at_local"] == "2027-03-10T13:30:00+01:00"
    assert response.json()["text"] == "I'm scheduling a message!"
    assert Timeslot.objects.get().publish_at == dt.datetime(2027, 3, 10, 12, 30, tzinfo=UTC)


def test_the_original_dispatchers_field_names_still_work(api, berlin):
    """Its old scripts send `message` and `time`: only the URL and the token change."""
    response = form_post(
        api, "message=I'm scheduling a message!&channels=tech&time=2027-03-10 13:30:00"
    )
    slot = pinned(response)["tech"]
    assert slot["publish_at_local"] == "2027-03-10T13:30:00+01:00"
    assert response.json()["text"] == "I'm scheduling a message!"
    as_json = api.post("/api/v1/posts/", {"message": "Hi", "channels": ["tech"]}, format="json")
    assert as_json.status_code == 201 and as_json.json()["text"] == "Hi"


def test_a_name_and_its_old_name_together_are_a_400(api, berlin):
    response = form_post(api, "text=a&message=b&channels=tech")
    assert response.status_code == 400
    assert "not both" in response.json()["message"][0]
    assert not Timeslot.objects.exists()


def test_a_naive_time_is_each_channels_own_wall_clock(api, berlin, new_york):
    response = form_post(api, "text=hi&channels=tech,news&publish_at=2027-03-10 13:30")
    slots = pinned(response)
    assert slots["tech"]["publish_at"] == "2027-03-10T12:30:00Z"
    assert slots["news"]["publish_at"] == "2027-03-10T18:30:00Z"
    assert slots["news"]["publish_at_local"] == "2027-03-10T13:30:00-05:00"


@pytest.mark.parametrize(
    "value",
    [
        "2027-03-10 13:30:00+01:00",  # raw "+": form decoding makes it a space
        "2027-03-10T13:30:00+01:00",
        "2027-03-10T13:30:00%2B01:00",
        "2027-03-10T12:30:00Z",
        "2027-03-10T07:30:00-05:00",
    ],
)
def test_an_offset_wins_over_the_channels_zone_in_form_data(api, new_york, value):
    slots = pinned(form_post(api, f"text=hi&channels=news&publish_at={value}"))
    assert slots["news"]["publish_at"] == "2027-03-10T12:30:00Z"


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2027-03-10T13:30:00+01:00", "2027-03-10T12:30:00Z"),
        ("2027-03-10T12:30:00Z", "2027-03-10T12:30:00Z"),
        ("2027-03-10T13:30:00", "2027-03-10T18:30:00Z"),  # naive: New York wall clock
    ],
)
def test_json_keeps_working(api, new_york, value, expected):
    response = api.post(
        "/api/v1/posts/",
        {"text": "hi", "channels": ["news"], "publish_at": value},
        format="json",
    )
    assert pinned(response)["news"]["publish_at"] == expected


def schedules_instant(zone: str, day: dt.date, hour: int, minute: int) -> dt.datetime:
    """Where the planner puts a daily hour:minute rule on `day` (scheduling/rules.py)."""
    rule = recurrence.Rule(recurrence.DAILY, byhour=hour, byminute=minute)
    found = rules.occurrences(
        recurrence.Recurrence(rrules=[rule]),
        tz=zoneinfo.ZoneInfo(zone),
        starts_on=day,
        start=dt.datetime.combine(day, dt.time(), UTC) - dt.timedelta(hours=12),
        end=dt.datetime.combine(day, dt.time(), UTC) + dt.timedelta(hours=36),
    )
    return next(t for t in found if t.astimezone(zoneinfo.ZoneInfo(zone)).date() == day)


def test_a_time_in_the_spring_forward_gap_moves_forward_like_schedules(api, berlin):
    # 2027-03-28 02:30 does not exist in Berlin: clocks jump from 02:00 to 03:00.
    slot = pinned(form_post(api, "text=hi&channels=tech&publish_at=2027-03-28 02:30"))["tech"]
    assert slot["publish_at"] == "2027-03-28T01:30:00Z"
    assert slot["publish_at_local"] == "2027-03-28T03:30:00+02:00"
    expected = schedules_instant("Europe/Berlin", dt.date(2027, 3, 28), 2, 30)
    assert Timeslot.objects.get().publish_at == expected


def test_a_time_that_happens_twice_means_the_first_like_schedules(api, berlin):
    # 2027-10-31 02:30 happens twice in Berlin (CEST, then CET): the first one.
    slot = pinned(form_post(api, "text=hi&channels=tech&publish_at=2027-10-31 02:30"))["tech"]
    assert slot["publish_at"] == "2027-10-31T00:30:00Z"
    expected = schedules_instant("Europe/Berlin", dt.date(2027, 10, 31), 2, 30)
    assert Timeslot.objects.get().publish_at == expected


@pytest.mark.parametrize(
    "body, field",
    [
        ("text=hi&channels=nope&publish_at=2027-03-10 13:30", "channels"),
        ("text=hi&channels=tech,nope&publish_at=2027-03-10 13:30", "channels"),
        ("text=hi&publish_at=2027-03-10 13:30", "publish_at"),
        ("text=hi&channels=tech&publish_at=2027-03-10 25:30", "publish_at"),
        ("text=hi&channels=tech&publish_at=2027-03-10 13:30 99:00", "publish_at"),
        # A past time names the field too (it was non_field_errors).
        ("text=hi&channels=tech&publish_at=2001-01-01 13:30", "publish_at"),
        ("text=hi&channels=tech&publish_at=2001-01-01T13:30:00%2B01:00", "publish_at"),
    ],
)
def test_bad_input_is_a_400_that_creates_nothing(api, berlin, body, field):
    response = form_post(api, body)
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not Post.objects.exists() and not Timeslot.objects.exists()
