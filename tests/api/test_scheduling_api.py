"""The API's schedule and calendar calls (issue 29, item 1): a rule's preview (the same
times as the schedule editor's), a slot's post (pin / give back to the queue), the
calendar's slots for a range (planned and projected, the calendar page's reads) and
planning a projected slot. Another workspace's ids are 404; a viewer reads, never writes."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
import time_machine

from accounts.models import Membership
from scheduling import calendar_reads, rules
from scheduling.models import Schedule, Timeslot
from tests.api.test_endpoints import API, client_for, member
from tests.factories import (
    ChannelFactory,
    PostFactory,
    QueueEntryFactory,
    ScheduleFactory,
    TimeslotFactory,
    WorkspaceFactory,
    rule,
)

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.UTC)  # a Monday
PARIS = zoneinfo.ZoneInfo("Europe/Paris")


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def ws():
    return WorkspaceFactory(slug="acme")


@pytest.fixture
def api(ws):
    return client_for(member(ws, Membership.Role.EDITOR))


@pytest.fixture
def viewer(ws):
    return client_for(member(ws, Membership.Role.VIEWER))


@pytest.fixture
def channel(ws):
    return ChannelFactory(workspace=ws, slug="tech", timezone="Europe/Paris")


@pytest.fixture
def foreign():
    channel = ChannelFactory(workspace=WorkspaceFactory(slug="rival"))
    schedule = ScheduleFactory(channel=channel)
    return {
        "channel": channel,
        "schedule": schedule,
        "slot": TimeslotFactory(channel=channel, schedule=schedule),
        "post": PostFactory(workspace=channel.workspace),
    }


# --- Rule preview ---------------------------------------------------------------------------


def test_preview_answers_the_next_times_in_the_channels_zone(api, channel):
    text = "RRULE:FREQ=WEEKLY;BYDAY=MO,WE;BYHOUR=14;BYMINUTE=0"
    response = api.post(
        f"{API}/schedules/rule-preview/", {"channel": channel.id, "rule": text, "count": 3}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["timezone"] == "Europe/Paris" and body["description"]
    local = [o["publish_at_local"] for o in body["occurrences"]]
    assert local == [
        "2026-12-07T14:00:00+01:00",
        "2026-12-09T14:00:00+01:00",
        "2026-12-14T14:00:00+01:00",
    ]
    # The same code as the web editor's preview.
    expected = rules.preview(rule(text), tz=PARIS, now=NOW, count=3)
    assert [o["publish_at"] for o in body["occurrences"]] == [
        at.isoformat().replace("+00:00", "Z") for at in expected
    ]
    assert not Schedule.objects.exists()  # nothing saved


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rule": "RRULE:FREQ=SOMETIMES"}, "rule"),
        ({"rule": ""}, "rule"),
        ({"rule": "RRULE:FREQ=DAILY", "count": 0}, "count"),
        ({"rule": "RRULE:FREQ=DAILY", "count": 51}, "count"),
        ({"rule": "RRULE:FREQ=DAILY", "channel": 999999}, "channel"),
    ],
)
def test_a_bad_preview_is_a_400_on_its_field(api, channel, body, field):
    response = api.post(
        f"{API}/schedules/rule-preview/", {"channel": channel.id, **body}, format="json"
    )
    assert response.status_code == 400, response.content
    assert field in response.json()


def test_preview_of_another_workspaces_channel_is_unknown_and_a_viewer_may_not(
    api, viewer, channel, foreign
):
    body = {"channel": foreign["channel"].id, "rule": "RRULE:FREQ=DAILY"}
    response = api.post(f"{API}/schedules/rule-preview/", body, format="json")
    assert response.status_code == 400 and "Unknown channel" in response.json()["channel"][0]
    mine = {"channel": channel.id, "rule": "RRULE:FREQ=DAILY"}
    assert viewer.post(f"{API}/schedules/rule-preview/", mine, format="json").status_code == 403


# --- A slot's post ----------------------------------------------------------------------------


def test_a_post_is_pinned_to_a_slot_and_given_back_to_the_queue(api, ws, channel):
    slot = TimeslotFactory(channel=channel, publish_at=NOW + dt.timedelta(hours=3))
    post = PostFactory(workspace=ws)

    pinned = api.post(f"{API}/timeslots/{slot.id}/post/", {"post": post.id}, format="json")
    assert pinned.status_code == 200, pinned.content
    assert pinned.json()["post"] == post.id and pinned.json()["detached"] is True

    back = api.post(f"{API}/timeslots/{slot.id}/post/", {"post": None}, format="json")
    assert back.status_code == 200 and back.json()["post"] is None


def test_slot_post_refusals(api, viewer, channel, foreign):
    slot = TimeslotFactory(channel=channel, publish_at=NOW + dt.timedelta(hours=3))
    url = f"{API}/timeslots/{slot.id}/post/"
    foreign_post = api.post(url, {"post": foreign["post"].id}, format="json")
    assert foreign_post.status_code == 400 and "Unknown post" in foreign_post.json()["post"][0]
    assert api.post(url, {"post": "x"}, format="json").status_code == 400
    assert api.post(url, {}, format="json").status_code == 400
    assert viewer.post(url, {"post": None}, format="json").status_code == 403
    other = f"{API}/timeslots/{foreign['slot'].id}/post/"
    assert api.post(other, {"post": None}, format="json").status_code == 404
    done = TimeslotFactory(channel=channel, status=Timeslot.Status.PUBLISHED)
    finished = api.post(f"{API}/timeslots/{done.id}/post/", {"post": None}, format="json")
    assert finished.status_code == 400
    slot.refresh_from_db()
    assert slot.post is None and not slot.detached


# --- The calendar -------------------------------------------------------------------------------


@pytest.fixture
def week(ws, channel):
    """A daily 09:00 (Paris) schedule with two queued posts, a finished slot yesterday, and
    a planned one today; the rest of the week is projected from the rule."""
    schedule = ScheduleFactory(channel=channel)
    posts = [PostFactory(workspace=ws, text=f"queued {n}") for n in (1, 2)]
    for n, post in enumerate(posts, 1):
        QueueEntryFactory(channel=channel, post=post, position=n)
    TimeslotFactory(
        channel=channel,
        schedule=schedule,
        publish_at=dt.datetime(2026, 12, 6, 8, 0, tzinfo=dt.UTC),
        status=Timeslot.Status.PUBLISHED,
    )
    today = TimeslotFactory(
        channel=channel, schedule=schedule, publish_at=dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.UTC)
    )
    return {"schedule": schedule, "today": today, "posts": posts}


def test_the_calendar_lists_planned_and_projected_slots_as_the_page_reads_them(ws, api, week):
    start, end = NOW - dt.timedelta(days=1), NOW + dt.timedelta(days=3)
    params = {"from": start.isoformat(), "to": end.isoformat()}

    response = api.get(f"{API}/calendar/", params)

    assert response.status_code == 200, response.content
    body = response.json()
    slots = body["results"]
    expected = calendar_reads.slots_between(workspace=ws, start=start, end=end, now=NOW)
    assert body["count"] == len(expected) == 4
    assert [s["publish_at"][:16] for s in slots] == [
        "2026-12-06T08:00",
        "2026-12-07T08:00",
        "2026-12-08T08:00",
        "2026-12-09T08:00",
    ]
    assert [s["status"] for s in slots] == ["published", "scheduled", "projected", "projected"]
    assert slots[1]["key"] == f"t{week['today'].id}" and slots[2]["timeslot"] is None
    assert slots[2]["key"].startswith(f"p{week['schedule'].id}-")
    # Each coming slot with the post the queue will give it, as on the calendar page.
    assert [s["post"] for s in slots[1:]] == [p.id for p in (*week["posts"], week["posts"][0])]
    assert slots[1]["text"] == "queued 1"
    assert slots[1]["publish_at_local"] == "2026-12-07T09:00:00+01:00"
    only = api.get(f"{API}/calendar/", {**params, "status": "projected"}).json()
    assert only["count"] == 2


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "from"),
        ({"from": "2026-12-07T00:00:00Z"}, "from"),
        ({"from": "2026-12-07T00:00:00Z", "to": "2026-12-06T00:00:00Z"}, "to"),
        ({"from": "2026-12-01T00:00:00Z", "to": "2027-01-15T00:00:00Z"}, "to"),
        ({"from": "2026-12-07T00:00:00", "to": "2026-12-08T00:00:00Z"}, "from"),
        ({"from": "2026-12-07T00:00:00Z", "to": "2026-12-08T00:00:00Z", "status": "x"}, "status"),
        ({"from": "2026-12-07T00:00:00Z", "to": "2026-12-08T00:00:00Z", "channel": "a"}, "channel"),
        ({"from": "2026-12-07T00:00:00Z", "to": "2026-12-08T00:00:00Z", "workspace": "rival"},
         "workspace"),
    ],
)  # fmt: skip
def test_a_bad_calendar_range_is_a_400(api, week, foreign, params, field):
    response = api.get(f"{API}/calendar/", params)
    assert response.status_code == 400, response.content
    assert field in response.json()


def test_the_calendar_never_shows_another_workspace(api, viewer, week, foreign):
    params = {"from": "2026-12-06T00:00:00Z", "to": "2026-12-10T00:00:00Z"}
    ids = {s["channel"]["id"] for s in api.get(f"{API}/calendar/", params).json()["results"]}
    assert ids == {week["today"].channel_id}
    # A foreign channel id in the filter just narrows to nothing.
    narrowed = api.get(f"{API}/calendar/", {**params, "channel": str(foreign["channel"].id)})
    assert narrowed.json()["count"] == 0
    assert viewer.get(f"{API}/calendar/", params).status_code == 200


def test_a_projected_slot_is_planned_to_act_on_it(api, viewer, week, foreign):
    params = {"from": "2026-12-09T00:00:00Z", "to": "2026-12-10T00:00:00Z"}
    key = api.get(f"{API}/calendar/", params).json()["results"][0]["key"]

    assert viewer.post(f"{API}/calendar/{key}/plan/").status_code == 403
    planned = api.post(f"{API}/calendar/{key}/plan/")

    assert planned.status_code == 201, planned.content
    slot = Timeslot.objects.get(id=planned.json()["id"])
    assert slot.detached and slot.publish_at == dt.datetime(2026, 12, 9, 8, 0, tzinfo=dt.UTC)
    # Twice: the same slot.
    assert api.post(f"{API}/calendar/{key}/plan/").json()["id"] == slot.id
    # Then it is a timeslot like any other: cancel it.
    assert api.post(f"{API}/timeslots/{slot.id}/cancel/").json()["status"] == "canceled"


def test_planning_refusals(api, week, foreign):
    schedule = week["schedule"]
    not_an_occurrence = int(dt.datetime(2026, 12, 9, 8, 30, tzinfo=dt.UTC).timestamp())
    wrong = api.post(f"{API}/calendar/p{schedule.id}-{not_an_occurrence}/plan/")
    assert wrong.status_code == 400
    past = int(dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC).timestamp())
    assert api.post(f"{API}/calendar/p{schedule.id}-{past}/plan/").status_code == 400
    at = int(dt.datetime(2026, 12, 9, 8, 0, tzinfo=dt.UTC).timestamp())
    assert api.post(f"{API}/calendar/p{foreign['schedule'].id}-{at}/plan/").status_code == 404
    assert api.post(f"{API}/calendar/t{week['today'].id}/plan/").status_code == 404
    assert Timeslot.objects.filter(detached=True).count() == 0
