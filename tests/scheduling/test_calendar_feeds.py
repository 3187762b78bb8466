"""Private ICS feeds (scheduling/feeds.py): valid RFC 5545 with each channel's VTIMEZONE, the
same instants a calendar library computes from the channel's own rule (across a daylight-
saving change), a constant number of queries, and a token that opens its own workspace's
slots only, and nothing once revoked or once its creator left."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import icalendar
import pytest
import recurring_ical_events
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Membership
from scheduling import feeds
from scheduling.models import CalendarFeed
from tests.factories import (
    ChannelFactory,
    MembershipFactory,
    QueueEntryFactory,
    ScheduleFactory,
    TimeslotFactory,
    rule,
)

pytestmark = pytest.mark.django_db

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
# 18 days before Berlin moves its clocks (2027-03-28): the feed's window crosses it.
NOW = dt.datetime(2027, 3, 10, 8, 0, tzinfo=dt.UTC)
WEEKDAYS_14 = "RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;BYHOUR=14;BYMINUTE=0;BYSECOND=0"


@pytest.fixture
def owner():
    return MembershipFactory(role=Membership.Role.OWNER)


@pytest.fixture
def tech(owner):
    channel = ChannelFactory(workspace=owner.workspace, name="#tech", timezone="Europe/Berlin")
    ScheduleFactory(channel=channel, recurrence=rule(WEEKDAYS_14), starts_on=dt.date(2027, 1, 4))
    QueueEntryFactory(channel=channel)
    return channel


def parse(body: bytes) -> icalendar.Calendar:
    return icalendar.Calendar.from_ical(body)


def starts(calendar: icalendar.Calendar) -> list[dt.datetime]:
    return sorted(e.decoded("dtstart").astimezone(dt.UTC) for e in calendar.walk("VEVENT"))


def test_the_feed_is_rfc_5545_with_the_channels_zone(owner, tech):
    feed = feeds.feed_create(workspace=owner.workspace, membership=owner)

    with time_machine.travel(NOW, tick=False):
        calendar = parse(feeds.feed_ics(feed=feed, base="https://ql.example"))

    zones = [str(z["TZID"]) for z in calendar.walk("VTIMEZONE")]
    assert zones == ["Europe/Berlin"]
    events = calendar.walk("VEVENT")
    assert events, "a weekday rule gives slots in eight weeks"
    for event in events:
        assert event["DTSTART"].params["TZID"] == "Europe/Berlin"
        assert event.decoded("dtstart").hour == 14  # the channel's wall clock, both sides of DST
        assert str(event["UID"]).endswith("@queueloop")
        assert str(event["URL"]).startswith("https://ql.example/calendar/slots/")
    assert len({str(e["UID"]) for e in events}) == len(events)
    assert str(calendar["X-WR-CALNAME"]) == f"Queue Loop: {owner.workspace.name}"


def test_the_coming_slots_are_what_a_calendar_library_makes_of_the_rule(owner, tech):
    """recurring-ical-events expands the channel's own rule (as an RRULE event at 14:00
    Berlin time); the feed's coming slots fall on exactly those instants."""
    source = icalendar.Calendar()
    event = icalendar.Event()
    event.add("uid", "rule@test")
    event.add("dtstart", dt.datetime(2027, 1, 4, 14, 0, tzinfo=BERLIN))
    event.add("rrule", icalendar.vRecur.from_ical(WEEKDAYS_14.removeprefix("RRULE:")))
    source.add_component(event)
    feed = feeds.feed_create(workspace=owner.workspace, membership=owner)

    with time_machine.travel(NOW, tick=False):
        calendar = parse(feeds.feed_ics(feed=feed))

    end = NOW + feeds.FEED_AHEAD
    expected = sorted(
        e.decoded("dtstart").astimezone(dt.UTC)
        for e in recurring_ical_events.of(source).between(NOW, end)
    )
    coming = [s for s in starts(calendar) if s >= NOW]
    assert coming == expected
    # Both sides of the change: 13:00 UTC in winter, 12:00 UTC in summer.
    assert {s.hour for s in coming} == {13, 12}


def test_planned_and_finished_slots_are_in_it_with_their_state(owner, tech):
    with time_machine.travel(NOW, tick=False):
        done = TimeslotFactory(
            channel=tech, publish_at=NOW - dt.timedelta(days=2), status="published"
        )
        canceled = TimeslotFactory(
            channel=tech, publish_at=NOW + dt.timedelta(days=1, hours=3), status="canceled"
        )
        feed = feeds.feed_create(workspace=owner.workspace, membership=owner)
        calendar = parse(feeds.feed_ics(feed=feed))

    by_uid = {str(e["UID"]): e for e in calendar.walk("VEVENT")}
    assert str(by_uid[f"t{done.id}@queueloop"]["STATUS"]) == "CONFIRMED"
    assert str(by_uid[f"t{canceled.id}@queueloop"]["STATUS"]) == "CANCELLED"
    projected = [e for uid, e in by_uid.items() if uid.startswith("p")]
    assert projected and all(str(e["STATUS"]) == "TENTATIVE" for e in projected)


def test_a_channel_feed_holds_that_channel_only(owner, tech):
    other = ChannelFactory(workspace=owner.workspace, name="#news")
    ScheduleFactory(channel=other, recurrence=rule("RRULE:FREQ=DAILY;BYHOUR=9;BYMINUTE=0"))
    feed = feeds.feed_create(workspace=owner.workspace, membership=owner, channel_id=tech.id)

    with time_machine.travel(NOW, tick=False):
        calendar = parse(feeds.feed_ics(feed=feed))

    assert {str(e["SUMMARY"]).split(":")[0] for e in calendar.walk("VEVENT")} == {"#tech"}


def test_a_workspace_feed_never_shows_another_workspaces_slots(owner, tech, client):
    stranger = MembershipFactory(role=Membership.Role.OWNER)
    theirs = ChannelFactory(workspace=stranger.workspace, name="#secret")
    ScheduleFactory(channel=theirs, recurrence=rule("RRULE:FREQ=DAILY;BYHOUR=9;BYMINUTE=0"))
    feed = feeds.feed_create(workspace=owner.workspace, membership=owner)
    url = reverse("calendar_feed", kwargs={"token": feed.secret["token"]})

    with time_machine.travel(NOW, tick=False):
        response = client.get(url)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert b"#secret" not in response.content
    assert b"#tech" in response.content


def test_the_feed_costs_the_same_queries_for_more_slots(owner, tech, client):
    feed = feeds.feed_create(workspace=owner.workspace, membership=owner)
    url = reverse("calendar_feed", kwargs={"token": feed.secret["token"]})

    def queries() -> int:
        with time_machine.travel(NOW, tick=False), CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx)

    small = queries()
    for _ in range(5):
        channel = ChannelFactory(workspace=owner.workspace, timezone="America/New_York")
        ScheduleFactory(channel=channel, recurrence=rule("RRULE:FREQ=HOURLY;BYMINUTE=30"))
        QueueEntryFactory(channel=channel)
    assert queries() == small


@pytest.mark.parametrize("how", ["unknown", "revoked", "creator left"])
def test_a_token_that_opens_nothing_is_a_404(owner, tech, client, how):
    feed = feeds.feed_create(workspace=owner.workspace, membership=owner)
    token = feed.secret["token"]
    if how == "unknown":
        token = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    elif how == "revoked":
        feeds.feed_revoke(workspace=owner.workspace, membership=owner, feed_id=feed.id)
    else:
        owner.delete()

    response = client.get(reverse("calendar_feed", kwargs={"token": token}))

    assert response.status_code == 404
    assert b"BEGIN:VCALENDAR" not in response.content


def test_only_the_tokens_hash_is_looked_up_and_the_token_is_encrypted(owner, tech):
    feed = feeds.feed_create(workspace=owner.workspace, membership=owner)
    token = feed.secret["token"]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT token_sha256, secret FROM scheduling_calendarfeed WHERE id = %s", [feed.id]
        )
        digest, stored = cursor.fetchone()
    assert token not in digest and token not in stored
    assert feeds.feed_for_token(token) == feed


def test_the_feeds_page_makes_copies_and_revokes_a_feed(owner, tech, client):
    client.force_login(owner.user)

    response = client.post(reverse("calendar_feed_create"), {"channel": str(tech.id)})
    assert response.status_code == 302
    feed = CalendarFeed.objects.get()
    assert feed.channel == tech
    page = client.get(reverse("calendar_feeds")).content.decode()
    assert feed.secret["token"] in page

    client.post(reverse("calendar_feed_revoke", kwargs={"feed_id": feed.id}))

    feed.refresh_from_db()
    assert feed.revoked_at is not None
    assert feed.secret["token"] not in client.get(reverse("calendar_feeds")).content.decode()


def test_bad_input_and_other_workspaces_change_nothing(owner, tech, client):
    stranger = MembershipFactory(role=Membership.Role.OWNER)
    theirs = feeds.feed_create(workspace=stranger.workspace, membership=stranger)
    foreign_channel = ChannelFactory(workspace=stranger.workspace)
    client.force_login(owner.user)

    for value in ("abc", str(foreign_channel.id)):
        response = client.post(reverse("calendar_feed_create"), {"channel": value}, follow=True)
        assert response.status_code == 200
        assert b"channel" in response.content
    revoke = client.post(reverse("calendar_feed_revoke", kwargs={"feed_id": theirs.id}))

    assert revoke.status_code == 404
    assert CalendarFeed.objects.filter(workspace=owner.workspace).count() == 0
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_a_viewer_can_read_the_page_but_make_no_feed(owner, tech, client):
    viewer = MembershipFactory(workspace=owner.workspace, role=Membership.Role.VIEWER)
    client.force_login(viewer.user)

    assert client.get(reverse("calendar_feeds")).status_code == 200
    response = client.post(reverse("calendar_feed_create"), {"channel": ""})

    assert response.status_code == 403
    assert not CalendarFeed.objects.exists()


def test_an_editor_cannot_revoke_an_owners_feed_but_the_owner_can_revoke_theirs(owner, tech):
    editor = MembershipFactory(workspace=owner.workspace, role=Membership.Role.EDITOR)
    feed = feeds.feed_create(workspace=owner.workspace, membership=editor)
    owners = feeds.feed_create(workspace=owner.workspace, membership=owner)

    with pytest.raises(feeds.PermissionDenied):
        feeds.feed_revoke(workspace=owner.workspace, membership=editor, feed_id=owners.id)
    feeds.feed_revoke(workspace=owner.workspace, membership=owner, feed_id=feed.id)

    assert feeds.feed_for_token(feed.secret["token"]) is None
    assert feeds.feed_for_token(owners.secret["token"]) == owners
