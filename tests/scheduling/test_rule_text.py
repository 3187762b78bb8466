"""Rule text: one length limit for web and API, RDATE lists, rules that never fire, and
expansion from the window asked for (scheduling/rules.py)."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import dateutil.rrule
import pytest
import recurrence
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse

from scheduling import rules, services
from scheduling.models import Schedule, Timeslot
from tests.factories import ChannelFactory
from tests.scheduling.rule_scan import months_scanned_by

UTC = dt.UTC
NOW = dt.datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
API = "/api/v1"


@pytest.fixture
def channel(member):
    return ChannelFactory(workspace=member.workspace)


@pytest.fixture
def at_now():
    with time_machine.travel(NOW, tick=False):
        yield


# --- RDATE lists (issue: the rest of the list was dropped) ------------------------------------


def test_an_rdate_list_keeps_every_value(api, channel, at_now):
    text = "RDATE:20260601T103000,20260601T104500,20260601T110000\nRDATE:20260601T111000"
    value = rules.parse(text)
    assert sorted(value.rdates) == [
        dt.datetime(2026, 6, 1, 10, 30),
        dt.datetime(2026, 6, 1, 10, 45),
        dt.datetime(2026, 6, 1, 11, 0),
        dt.datetime(2026, 6, 1, 11, 10),
    ]
    response = api.post(
        f"{API}/schedules/", {"channel": channel.id, "name": "r", "rule": text}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["description"] == "plus 4 extra date(s)"
    assert sorted(Timeslot.objects.values_list("publish_at", flat=True)) == [
        NOW + dt.timedelta(minutes=m) for m in (30, 45, 60, 70)
    ]


def test_an_rdate_list_with_a_value_type_keeps_every_value(at_now):
    value = rules.parse("RDATE;VALUE=DATE-TIME:20260601T103000, 20260602T103000")
    assert len(value.rdates) == 2


def test_django_recurrence_still_drops_the_rest_of_an_rdate_list(settings):
    # The library bug rules.parse works around (jazzband/django-recurrence#158). When this
    # fails, the library reads the list itself: remove rules._one_rdate_per_line.
    value = recurrence.deserialize("RDATE:20260601T103000,20260601T104500")
    assert len(value.rdates) == 1


# --- One text limit for web and API ------------------------------------------------------


def test_the_same_text_limit_and_message_on_web_and_api(web, api, channel, at_now):
    text = "RRULE:FREQ=DAILY;BYHOUR=9;BYMINUTE=0\n" + "EXDATE:20300101T090000\n" * 220
    assert len(text) > rules.MAX_TEXT_LENGTH
    message = f"Too many rules: at most 5,000 characters (this has {len(text.strip()):,})."
    response = api.post(
        f"{API}/schedules/", {"channel": channel.id, "name": "long", "rule": text}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["rule"] == [message]
    page = web.post(
        reverse("schedule_create", args=[channel.id]),
        {"name": "long", "frequency": "advanced", "advanced": text, "is_active": "on"},
    )
    assert page.status_code == 400
    assert message in page.content.decode()
    assert not Schedule.objects.exists()


# --- A rule that does not fire in the next year is refused -------------------------------


@pytest.mark.parametrize(
    "text, message",
    [
        # Ended before now (UNTIL), or its COUNT used up since starts_on (2020-01-06).
        (
            "RRULE:FREQ=MONTHLY;BYMONTHDAY=1;BYHOUR=9;BYMINUTE=0;UNTIL=20210101T000000",
            "This rule never fires again: it ends (UNTIL or COUNT, counted from 2020-01-06) "
            "before 2026-06-01 10:00.",
        ),
        (
            "RRULE:FREQ=MONTHLY;BYMONTHDAY=15;BYHOUR=9;BYMINUTE=0;COUNT=12",
            "This rule never fires again",
        ),
        # Matches no date at all.
        ("RRULE:FREQ=MONTHLY;BYMONTH=2;BYMONTHDAY=30;BYHOUR=9", "This rule never fires"),
    ],
)
def test_a_monthly_rule_that_never_fires_in_a_year_is_refused(
    api, web, channel, at_now, text, message
):
    response = api.post(
        f"{API}/schedules/", {"channel": channel.id, "name": "m", "rule": text}, format="json"
    )
    assert response.status_code == 400, response.content
    assert message in " ".join(response.json()["rule"])
    page = web.post(
        reverse("schedule_create", args=[channel.id]),
        {"name": "m", "frequency": "advanced", "advanced": text, "is_active": "on"},
    )
    assert page.status_code == 400
    assert message in page.content.decode()
    assert not Schedule.objects.exists()


def test_a_schedule_whose_dates_are_all_past_is_refused(channel, at_now):
    with pytest.raises(ValidationError, match="never fires in the next year"):
        services.schedule_save(
            schedule=Schedule(
                channel=channel, name="old", recurrence=rules.parse("RDATE:20251224T090000")
            )
        )


def test_a_rule_checked_from_its_own_start_date(channel, at_now):
    # COUNT is counted from starts_on: the same rule starting next week fires.
    value = recurrence.deserialize("RRULE:FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0;COUNT=3")
    with pytest.raises(ValidationError):
        services.schedule_save(schedule=Schedule(channel=channel, name="a", recurrence=value))
    later = Schedule(channel=channel, name="b", recurrence=value, starts_on=dt.date(2026, 6, 8))
    services.schedule_save(schedule=later)
    assert Schedule.objects.get().starts_on == dt.date(2026, 6, 8)


def test_sparse_but_real_rules_are_accepted(at_now):
    for text in (
        "RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYHOUR=9",  # next: 2028
        "RRULE:FREQ=MONTHLY;INTERVAL=18;BYMONTHDAY=1;BYHOUR=9",
        "RRULE:FREQ=YEARLY;BYMONTH=12;BYDAY=-1FR;BYHOUR=17",
    ):
        rules.parse(text)


# --- Expansion costs the window, whatever the rule ---------------------------------------


def _from_starts_on(text, *, tz, starts_on, start, end):
    """dateutil's own answer, read from starts_on (the slow way the window must match)."""
    anchor = dt.datetime.combine(starts_on, dt.time())
    value = recurrence.deserialize(text)
    rset = dateutil.rrule.rruleset()
    for r in value.rrules:
        rset.rrule(r.to_dateutil_rrule(dtstart=anchor))
    for r in value.exrules:
        rset.exrule(r.to_dateutil_rrule(dtstart=anchor))
    lo = start.astimezone(tz).replace(tzinfo=None) - dt.timedelta(hours=3)
    hi = end.astimezone(tz).replace(tzinfo=None) + dt.timedelta(hours=3)
    instants = {rules.localize(local, tz) for local in rset.between(lo, hi, inc=True)}
    return sorted(t for t in instants if start <= t < end)


@pytest.mark.parametrize(
    "text",
    [
        "RRULE:FREQ=MONTHLY;INTERVAL=5;BYDAY=2TU,-1FR;BYHOUR=9,17;BYMINUTE=5",
        "RRULE:FREQ=MONTHLY;BYSETPOS=-1;BYDAY=MO,TU,WE,TH,FR;BYHOUR=16",
        "RRULE:FREQ=MONTHLY;INTERVAL=3",  # the day and time come from starts_on
        "RRULE:FREQ=YEARLY;INTERVAL=2",
        "RRULE:FREQ=YEARLY;BYWEEKNO=1,20;BYDAY=MO;BYHOUR=8",
        "RRULE:FREQ=YEARLY;BYMONTH=3,11;BYDAY=1SU,2SU;BYHOUR=2;BYMINUTE=30",  # DST days
        "RRULE:FREQ=WEEKLY;INTERVAL=3;WKST=SU;BYDAY=SU,MO;BYHOUR=1,2,3;BYMINUTE=30",
        "RRULE:FREQ=WEEKLY;INTERVAL=2",
        "RRULE:FREQ=DAILY;INTERVAL=9;BYHOUR=23;BYMINUTE=59",
        "RRULE:FREQ=HOURLY;INTERVAL=7;BYMINUTE=10,40",
        "RRULE:FREQ=MINUTELY;INTERVAL=1441;BYHOUR=0,1,2,3",
        "RRULE:FREQ=MINUTELY;INTERVAL=90\nEXRULE:FREQ=WEEKLY;BYDAY=SA,SU",
    ],
)
@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Australia/Lord_Howe"])
@pytest.mark.parametrize(
    "start, days",
    [
        (dt.datetime(2026, 3, 8, 5, 0, tzinfo=UTC), 1),  # New York springs forward
        (dt.datetime(2026, 11, 1, 0, 0, tzinfo=UTC), 40),  # ...and falls back
        (dt.datetime(2031, 1, 30, 12, 0, tzinfo=UTC), 400),
    ],
)
def test_expanding_from_the_window_gives_what_expanding_from_starts_on_gives(
    text, zone, start, days
):
    tz = zoneinfo.ZoneInfo(zone)
    end = start + dt.timedelta(days=days)
    for starts_on in (dt.date(2020, 1, 6), dt.date(2021, 8, 31)):
        expected = _from_starts_on(text, tz=tz, starts_on=starts_on, start=start, end=end)
        got = rules.occurrences(
            recurrence.deserialize(text), tz=tz, starts_on=starts_on, start=start, end=end
        )
        assert got == expected


def test_a_dense_monthly_rule_costs_its_window_and_reaches_it():
    # 1,440 times a day from 2020: read from starts_on it stopped after 20,000 times, in
    # January 2020, and never reached the window (an accepted schedule that never fired).
    text = "RRULE:FREQ=MONTHLY;BYMONTHDAY=1,15;BYHOUR=" + ",".join(map(str, range(24)))
    text += ";BYMINUTE=" + ",".join(map(str, range(60)))
    start = dt.datetime(2026, 6, 15, 10, 0, tzinfo=UTC)
    found: list = []

    def expand():
        found.extend(
            rules.occurrences(
                recurrence.deserialize(text),
                tz=UTC,
                starts_on=dt.date(2020, 1, 6),
                start=start,
                end=start + dt.timedelta(minutes=75),
            )
        )

    assert months_scanned_by(expand) <= 2
    assert found == [start + dt.timedelta(minutes=m) for m in range(75)]


def test_a_count_rule_with_a_later_start_is_accepted_by_the_api(api, channel, at_now):
    response = api.post(
        f"{API}/schedules/",
        {
            "channel": channel.id,
            "name": "three mondays",
            "rule": "RRULE:FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0;COUNT=3",
            "starts_on": "2026-06-08",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
