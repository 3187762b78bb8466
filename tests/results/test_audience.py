"""When the audience answers: a channel's weekday x hour heat map in ITS zone, the suggested
free times as a rule the schedule editor takes in one click, too little data said plainly,
and a constant number of queries."""

from __future__ import annotations

import re

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from results import audience
from tests.factories import (
    ChannelFactory,
    PostFactory,
    ScheduleFactory,
    SocialAccountFactory,
    rule,
)
from tests.results.audience_seed import BEST, NOW, audience_history

pytestmark = pytest.mark.django_db

BEST_RULE = "RRULE:FREQ=WEEKLY;BYDAY=TU,TH;BYHOUR=9,14;BYMINUTE=0"


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def _channel(workspace, zone: str, *, weeks: int, unmeasured: int = 0):
    channel = ChannelFactory(workspace=workspace, timezone=zone, with_sandbox=False)
    account = SocialAccountFactory(workspace=workspace)
    post = PostFactory(workspace=workspace)
    audience_history(channel, account, post, weeks=weeks, unmeasured=unmeasured)
    return channel


@pytest.mark.parametrize("zone", ["Asia/Kolkata", "America/Santiago"])
def test_the_best_local_hours_top_the_map_and_make_the_rule(web, member, zone):
    channel = _channel(member.workspace, zone, weeks=3, unmeasured=5)
    response = web.get(f"/channels/{channel.id}/audience/")
    assert response.status_code == 200
    heat = response.context["heat"]
    assert {c.weekday_hour for c in heat.top(4)} == set(BEST)
    assert (heat.measured, heat.sent) == (36, 41)
    # Only the latest snapshot counts (the +1 h decoys say 999).
    assert max(c.average for c in heat.cells if c.measured) < 100
    suggestion = response.context["suggestion"]
    assert suggestion.rule == BEST_RULE
    html = response.content.decode()
    assert html.count(" heat-top") == 4
    assert "Tue 09:00-09:59: 50.0 average engagement over 3 measured posts" in html
    assert f"/channels/{channel.id}/schedules/new/?rule=RRULE%3AFREQ%3DWEEKLY" in html


def test_the_zone_is_the_channels_not_utc(member):
    # 09:15 in Kolkata is 03:45 UTC: a map read in UTC would put the best hours at 03 and 08.
    channel = _channel(member.workspace, "Asia/Kolkata", weeks=3)
    rows = audience.channel_hour_rows(channel_id=channel.id, zone="Asia/Kolkata", now=NOW)
    assert {(r.weekday, r.hour) for r in rows} >= set(BEST)
    utc = audience.channel_hour_rows(channel_id=channel.id, zone="UTC", now=NOW)
    assert not {(r.weekday, r.hour) for r in utc} & set(BEST)


def test_too_little_data_says_so_and_suggests_nothing(web, member):
    channel = _channel(member.workspace, "Asia/Kolkata", weeks=2, unmeasured=3)
    response = web.get(f"/channels/{channel.id}/audience/")
    assert response.context["suggestion"].rule == ""
    html = response.content.decode()
    assert "Not enough results yet to suggest times: 24 of 27 posts measured" in html
    assert "Use these times" not in html and "?rule=" not in html


def test_no_history_at_all(web, member):
    channel = ChannelFactory(workspace=member.workspace)
    response = web.get(f"/channels/{channel.id}/audience/")
    assert response.status_code == 200
    assert "Not enough results yet to suggest times: 0 of 0 posts measured" in (
        response.content.decode()
    )


def test_hours_the_schedules_use_are_not_suggested_unless_being_edited(web, member):
    channel = _channel(member.workspace, "America/Santiago", weeks=3)
    tuesday = ScheduleFactory(
        channel=channel, recurrence=rule("RRULE:FREQ=WEEKLY;BYDAY=TU;BYHOUR=9;BYMINUTE=0")
    )
    response = web.get(f"/channels/{channel.id}/audience/suggest/", HTTP_HX_REQUEST="true")
    assert response.context["suggestion"].rule == (
        "RRULE:FREQ=WEEKLY;BYDAY=TU;BYHOUR=14;BYMINUTE=0\n"
        "RRULE:FREQ=WEEKLY;BYDAY=TH;BYHOUR=9,14;BYMINUTE=0"
    )
    # Editing that schedule: its own hours are free again, and the link fills ITS editor.
    response = web.get(
        f"/channels/{channel.id}/audience/suggest/?schedule={tuesday.id}", HTTP_HX_REQUEST="true"
    )
    assert response.context["suggestion"].rule == BEST_RULE
    assert f'href="/schedules/{tuesday.id}/?rule=' in response.content.decode()
    # Without htmx it is a page of its own.
    page = web.get(f"/channels/{channel.id}/audience/suggest/?schedule={tuesday.id}")
    assert "<h1>Suggested times</h1>" in page.content.decode()


@pytest.mark.parametrize("value", ["x", "-1", "999999"])
def test_a_bad_schedule_is_a_400(web, member, value):
    channel = ChannelFactory(workspace=member.workspace)
    response = web.get(f"/channels/{channel.id}/audience/suggest/?schedule={value}")
    assert response.status_code == 400
    assert "one of this channel's schedules" in response.content.decode()


def test_the_link_fills_the_schedule_editor(web, member):
    channel = ChannelFactory(workspace=member.workspace, timezone="Asia/Kolkata")
    response = web.get(f"/channels/{channel.id}/schedules/new/", {"rule": BEST_RULE})
    assert response.status_code == 200
    form = response.context["form"]
    assert form.initial["frequency"] == "weekly"
    assert form.initial["days"] == ["TU", "TH"]
    assert form.initial["times"] == "09:00, 14:00"
    assert form.initial["advanced"] == BEST_RULE
    # The editor offers the suggestion button, its hours read for this channel.
    assert f'hx-get="/channels/{channel.id}/audience/suggest/"' in response.content.decode()
    schedule = ScheduleFactory(channel=channel)
    two = (
        "RRULE:FREQ=WEEKLY;BYDAY=TU;BYHOUR=14;BYMINUTE=0\n"
        "RRULE:FREQ=WEEKLY;BYDAY=TH;BYHOUR=9;BYMINUTE=0"
    )
    edit = web.get(f"/schedules/{schedule.id}/", {"rule": two})
    assert edit.context["form"].initial["frequency"] == "advanced"
    assert edit.context["form"].initial["advanced"] == two
    assert f'?schedule={schedule.id}"' in edit.content.decode()


def test_a_bad_rule_to_fill_in_is_a_400(web, member):
    channel = ChannelFactory(workspace=member.workspace)
    response = web.get(f"/channels/{channel.id}/schedules/new/", {"rule": "RRULE:FREQ=NOPE"})
    assert response.status_code == 400
    assert "not valid" in response.content.decode()


def test_another_workspaces_channel_is_a_404(web):
    other = ChannelFactory()
    assert web.get(f"/channels/{other.id}/audience/").status_code == 404
    assert web.get(f"/channels/{other.id}/audience/suggest/").status_code == 404


def _queries(web, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert web.get(url).status_code == 200
    return len(ctx)


def test_constant_queries_whatever_the_history(web, member):
    small = _channel(member.workspace, "Asia/Kolkata", weeks=3)
    big = _channel(member.workspace, "Asia/Kolkata", weeks=12, unmeasured=40)
    for path in ("audience/", "audience/suggest/"):
        assert _queries(web, f"/channels/{small.id}/{path}") == _queries(
            web, f"/channels/{big.id}/{path}"
        )
    # The schedules' hours are read from the rules, not per schedule row's slots.
    ScheduleFactory(channel=big, recurrence=rule("RRULE:FREQ=DAILY;BYHOUR=7;BYMINUTE=0"))
    ScheduleFactory(channel=big, recurrence=rule("RRULE:FREQ=DAILY;BYHOUR=8;BYMINUTE=0"))
    assert _queries(web, f"/channels/{big.id}/audience/") == _queries(
        web, f"/channels/{small.id}/audience/"
    )


def test_rule_for_cells_groups_days_with_the_same_hours():
    assert audience.rule_for_cells([(3, 14), (1, 9), (3, 9), (1, 14)]) == BEST_RULE
    assert audience.rule_for_cells([(0, 8), (4, 17)]) == (
        "RRULE:FREQ=WEEKLY;BYDAY=MO;BYHOUR=8;BYMINUTE=0\n"
        "RRULE:FREQ=WEEKLY;BYDAY=FR;BYHOUR=17;BYMINUTE=0"
    )
    assert re.fullmatch(r"(RRULE:[A-Z=;,0-9]+\n?)+", audience.rule_for_cells([(6, 23)]))
