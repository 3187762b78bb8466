"""Rules are bounded in work (issue 10, finding 2).

`FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=30` never matches: dateutil walked day by day to the
year 9999 (41 s) on save, on preview and in every planner run; `COUNT=1000000000` read a
billion minutes. The work is measured in months dateutil scans (tests/scheduling/rule_scan.py), so
these tests bound it without timing anything: the old code scanned ~96,000 months.
"""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import ApiToken, Membership
from scheduling import rules, services
from scheduling.models import Schedule, Timeslot
from tests.factories import ChannelFactory, MembershipFactory, ScheduleFactory, rule
from tests.scheduling.rule_scan import months_scanned_by

NEVER = "RRULE:FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=30"
NOW = dt.datetime(2026, 6, 1, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def member():
    return MembershipFactory(role=Membership.Role.OWNER)


@pytest.fixture
def api(member):
    client = APIClient()
    token = ApiToken.objects.create(user=member.user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.mark.django_db
@pytest.mark.parametrize(
    "text, message",
    [
        (NEVER, "This rule never fires"),
        ("RRULE:FREQ=SECONDLY;INTERVAL=60;BYMONTH=4;BYMONTHDAY=31", "This rule never fires"),
        ("RRULE:FREQ=MINUTELY;BYYEARDAY=1;BYMONTH=2", "This rule never fires"),
        ("RRULE:FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=30;COUNT=3", "This rule never fires"),
        ("RRULE:FREQ=MINUTELY;COUNT=1000000000", "COUNT may be at most 10,000"),
    ],
)
def test_a_rule_that_took_tens_of_seconds_is_refused_in_bounded_work(api, member, text, message):
    channel = ChannelFactory(workspace=member.workspace)
    response = None

    def save():
        nonlocal response
        response = api.post(
            "/api/v1/schedules/", {"channel": channel.id, "name": "slow", "rule": text}
        )

    months = months_scanned_by(save)
    assert response.status_code == 400
    assert message in " ".join(response.json()["rule"])
    assert not Schedule.objects.exists()
    assert months <= rules.HORIZON_MONTHS + 1  # the old code: ~96,000


@pytest.mark.django_db
def test_a_rare_but_real_rule_is_still_accepted(api, member):
    channel = ChannelFactory(workspace=member.workspace)
    response = api.post(
        "/api/v1/schedules/",
        {
            "channel": channel.id,
            "name": "leap",
            "rule": "RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
        },
    )
    assert response.status_code == 201, response.content


@pytest.mark.django_db
def test_the_preview_of_a_busy_rule_is_bounded(client, member):
    client.force_login(member.user)
    channel = ChannelFactory(workspace=member.workspace)
    response = None

    def preview():
        nonlocal response
        response = client.post(
            reverse("schedule_preview", args=[channel.id]),
            {"name": "p", "frequency": "advanced", "advanced": "RRULE:FREQ=MINUTELY;COUNT=10000"},
        )

    months = months_scanned_by(preview)
    assert response.status_code == 200
    assert months <= 4  # 60 days ahead


@pytest.mark.django_db(transaction=True)
def test_a_never_matching_rule_saved_before_validation_does_not_stall_the_planner(broker):
    # Saved by an older version (straight to the table, no validation).
    slow = ScheduleFactory(recurrence=rule("RRULE:FREQ=DAILY"))
    Schedule.objects.filter(pk=slow.pk).update(recurrence=rule(NEVER))
    good = ScheduleFactory(recurrence=rule("RRULE:FREQ=HOURLY;BYMINUTE=30"))
    with time_machine.travel(NOW, tick=False):
        months = months_scanned_by(services.planner_run)
    assert Timeslot.objects.filter(schedule=good).count() == 1
    assert not Timeslot.objects.filter(schedule=slow).exists()
    assert months < 200  # the never-matching rule alone used to scan ~96,000


def test_expansion_reads_a_bounded_number_of_occurrences():
    value = rules.parse("RRULE:FREQ=MINUTELY")
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    times = rules.occurrences(
        value,
        tz=dt.UTC,
        starts_on=dt.date(2026, 1, 1),
        start=start,
        end=start + dt.timedelta(days=60),
    )
    assert len(times) <= rules.MAX_OCCURRENCES
    assert times[:2] == [start, start + dt.timedelta(minutes=1)]


def test_the_scan_count_counts():
    # The measure itself can fail: two months of a daily rule visit those months (and the
    # one dateutil looks at to stop), not zero.
    value = rules.parse("RRULE:FREQ=DAILY")
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    def expand():
        return rules.occurrences(
            value,
            tz=dt.UTC,
            starts_on=dt.date(2026, 1, 1),
            start=start,
            end=start + dt.timedelta(days=59),
        )

    assert 2 <= months_scanned_by(expand) <= 4
