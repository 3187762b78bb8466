"""A `publish_at` without an offset (a wall-clock time in each channel's zone) obeys the same
window as one with an offset: 2000 to five years ahead, checked on the instant it names once
localized (ground.timebounds.validate_wall_time_in). Before, the API skipped the bound for
a naive time (a slot in year 2500) and overflowed converting year 9999 or year 1 (a 500)."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from bulk.import_rows import parse_file
from ground import timebounds
from posts.models import Post
from scheduling.models import Timeslot
from tests.conftest import token_client
from tests.factories import ChannelFactory, MembershipFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db

UTC = dt.UTC
NOW = dt.datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
FORM = "application/x-www-form-urlencoded"


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def ws():
    return WorkspaceFactory(slug="acme")


@pytest.fixture
def api(ws):
    return token_client(MembershipFactory(workspace=ws).user)


# The probe's inputs: a far future on any channel, the last second of year 9999 on a channel
# west of UTC (+8 h overflows), the first half hour of year 1 east of UTC (-1 h overflows).
PROBES = [
    ("2500-06-01T10:00:00", "UTC"),
    ("2500-06-01T10:00:00", "Europe/Berlin"),
    ("9999-12-31T23:59:59", "Etc/GMT+8"),  # UTC-8 (POSIX signs are reversed)
    ("9999-12-31T23:59:59", "America/Los_Angeles"),
    ("0001-01-01T00:30:00", "Etc/GMT-1"),  # UTC+1
    ("0001-01-01T00:30:00", "Europe/Berlin"),
]


@pytest.mark.parametrize("value, zone", PROBES)
@pytest.mark.parametrize("encoding", ["json", "form"])
def test_a_naive_publish_at_outside_the_window_is_a_400_on_publish_at(
    api, ws, value, zone, encoding
):
    ChannelFactory(workspace=ws, slug="tech", timezone=zone)
    if encoding == "json":
        response = api.post(
            "/api/v1/posts/",
            {"text": "far", "channels": ["tech"], "publish_at": value},
            format="json",
        )
    else:
        response = api.post(
            "/api/v1/posts/",
            f"text=far&channels=tech&publish_at={value}",
            content_type=FORM,
        )
    assert response.status_code == 400, response.content
    body = response.json()
    assert "publish_at" in body
    assert "Choose a time between 2000-01-01 and 5 years from now" in str(body["publish_at"])
    assert not Post.objects.exists() and not Timeslot.objects.exists()


def test_the_bound_is_the_localized_instant_not_the_wall_clock(api, ws):
    """The same edge as an aware time: 12 hours before the limit in UTC-12 is 1 minute
    past it once localized (refused), while the same wall time in UTC+12 is fine."""
    ChannelFactory(workspace=ws, slug="west", timezone="Etc/GMT+12")
    ChannelFactory(workspace=ws, slug="east", timezone="Etc/GMT-12")
    latest = timebounds.latest().replace(tzinfo=None, second=0, microsecond=0)
    wall = (latest - dt.timedelta(hours=12) + dt.timedelta(minutes=1)).isoformat()

    west = api.post(
        "/api/v1/posts/",
        {"text": "edge", "channels": ["west"], "publish_at": wall},
        format="json",
    )
    assert west.status_code == 400, west.content
    assert "publish_at" in west.json()
    assert not Post.objects.exists()

    east = api.post(
        "/api/v1/posts/",
        {"text": "edge", "channels": ["east"], "publish_at": wall},
        format="json",
    )
    assert east.status_code == 201, east.content

    # The CSV import reads the same cell the same way.
    data = f"text,channels,publish_at\nw,west,{wall}\ne,east,{wall}\n".encode()
    west_row, east_row = parse_file(workspace=ws, data=data).rows
    assert any("Choose a time between" in e for e in west_row.errors), west_row.errors
    assert east_row.errors == []


@pytest.mark.parametrize("value, zone", PROBES)
def test_a_naive_csv_publish_at_outside_the_window_is_a_row_error(ws, value, zone):
    ChannelFactory(workspace=ws, name="#tech", slug="tech", timezone=zone)
    data = f"text,channels,publish_at\nfar,tech,{value}\n".encode()
    [row] = parse_file(workspace=ws, data=data).rows
    assert any(e.startswith("publish_at:") and "Choose a time between" in e for e in row.errors), (
        row.errors
    )
