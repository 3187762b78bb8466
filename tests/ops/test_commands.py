"""Operator commands: plan_timeslots, requeue_timeslots, queue_status."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError

from scheduling.models import PlannerState, Timeslot
from tests.factories import ChannelFactory, ScheduleFactory, rule

UTC = dt.UTC
NOW = dt.datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_plan_timeslots_dry_run_prints_and_writes_nothing(broker):
    ScheduleFactory(
        channel=ChannelFactory(slug="tech"),
        name="hourly",
        recurrence=rule("RRULE:FREQ=HOURLY;BYMINUTE=30"),
    )
    with time_machine.travel(NOW, tick=False):
        output = run("plan_timeslots", "--dry-run")
    assert "would create tech/hourly at 2026-06-01T10:30:00+00:00" in output
    assert "1 timeslot(s) would be created" in output
    assert not Timeslot.objects.exists()
    assert not PlannerState.objects.filter(last_run_at__isnull=False).exists()
    assert broker.publish_messages() == []


@pytest.mark.django_db(transaction=True)
def test_plan_timeslots_plans_until_the_given_time(broker):
    ScheduleFactory(recurrence=rule("RRULE:FREQ=HOURLY;BYMINUTE=30"))
    with time_machine.travel(NOW, tick=False):
        output = run("plan_timeslots", "--until", "2026-06-01T13:00:00+00:00")
    assert "3 created" in output
    assert Timeslot.objects.count() == 3


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["plan_timeslots", "--until", "tomorrow"], "not an ISO 8601"),
        (["plan_timeslots", "--until", "2026-06-01T13:00:00"], "needs a UTC offset"),
        (["plan_timeslots", "--until", "2020-01-01T00:00:00+00:00"], "must be in the future"),
        (["requeue_timeslots", "--channel", "nope"], "No channel with slug"),
    ],
)
def test_commands_refuse_bad_arguments_with_a_clear_message(args, message):
    with time_machine.travel(NOW, tick=False), pytest.raises(CommandError, match=message):
        run(*args)
    assert not Timeslot.objects.exists()


def test_a_bad_argument_exits_non_zero_from_the_shell():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    result = subprocess.run(
        [sys.executable, "manage.py", "plan_timeslots", "--until", "soon"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "not an ISO 8601" in result.stderr


@pytest.mark.django_db(transaction=True)
def test_requeue_timeslots_overdue_for_one_channel(broker):
    channel = ChannelFactory(slug="tech")
    ScheduleFactory(channel=channel, recurrence=rule("RRULE:FREQ=HOURLY;BYMINUTE=30"))
    with time_machine.travel(NOW, tick=False):
        run("plan_timeslots")
    broker.purge()
    with time_machine.travel(NOW + dt.timedelta(minutes=32), tick=False):
        output = run("requeue_timeslots", "--overdue", "--channel", "tech")
    assert "re-enqueued 1 overdue" in output
    assert len(broker.publish_messages()) == 1


@pytest.mark.django_db(transaction=True)
def test_queue_status_reports_counts_overdue_next_due_and_broker(broker):
    ScheduleFactory(recurrence=rule("RRULE:FREQ=HOURLY;BYMINUTE=30"))
    with time_machine.travel(NOW, tick=False):
        run("plan_timeslots")
        report = json.loads(run("queue_status", "--json"))
        text = run("queue_status")
    assert report["timeslots"]["scheduled"] == 1
    assert report["overdue"] == 0
    assert report["next_due"] == "2026-06-01T10:30:00+00:00"
    assert report["planner_last_run"] == "2026-06-01T10:00:00+00:00"
    assert report["broker"] == "reachable"
    assert "Broker: reachable" in text


@pytest.mark.django_db
def test_queue_status_counts_a_bounded_window_not_the_history():
    channel = ChannelFactory()
    with time_machine.travel(NOW, tick=False):
        for days in (0, 2, 40):
            Timeslot.objects.create(
                channel=channel,
                post=None,
                schedule=ScheduleFactory(channel=channel),
                publish_at=NOW - dt.timedelta(days=days, minutes=5),
                status=Timeslot.Status.PUBLISHED,
            )
        out = StringIO()
        call_command("queue_status", "--json", stdout=out)
        assert json.loads(out.getvalue())["timeslots"]["published"] == 1
        out = StringIO()
        call_command("queue_status", "--json", "--hours", str(24 * 7), stdout=out)
        assert json.loads(out.getvalue())["timeslots"]["published"] == 2
        for bad in ("0", str(367 * 24)):
            with pytest.raises(CommandError, match="--hours must be from 1"):
                call_command("queue_status", "--hours", bad, stdout=StringIO())
