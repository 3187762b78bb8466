"""The planner's fan-out: a run is finished only when every chunk is, and its enqueue ranges
cover the window on whole seconds."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
import time_machine
from django.test import override_settings

from scheduling import planner
from scheduling.models import PlannerChunk, PlannerState
from tests.factories import (
    ChannelFactory,
    ScheduleFactory,
    rule,
)


@pytest.mark.django_db(transaction=True)
def test_planner_run_is_not_finished_until_every_chunk_is(broker):
    channel = ChannelFactory()
    ScheduleFactory(channel=channel, recurrence=rule("RRULE:FREQ=MINUTELY;INTERVAL=10"))
    ScheduleFactory(channel=ChannelFactory(), recurrence=rule("RRULE:FREQ=MINUTELY;INTERVAL=10"))
    now = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)
    with time_machine.travel(now, tick=False), override_settings(PLANNER_CHUNK_SIZE=1):
        assert planner.planner_fan_out(now=now) == 2
        first, second = PlannerChunk.objects.order_by("first_schedule_id")
        planner.planner_chunk_run(chunk_id=first.id)
        assert PlannerState.objects.get().last_run_at is None  # one chunk still out
        planner.planner_chunk_run(chunk_id=second.id)
    state = PlannerState.objects.get()
    assert state.last_run_at == now and state.planned_until == now + dt.timedelta(minutes=75)
    assert [m["task"] for m in broker.messages()].count("scheduling.plan_chunk") == 2


def test_fan_in_enqueue_ranges_cover_the_window_on_whole_seconds():
    start = dt.datetime(2026, 6, 1, 9, 0, 0, 500000, tzinfo=dt.UTC)
    end = start + dt.timedelta(minutes=75)
    with override_settings(PLANNER_ENQUEUE_RANGES=4):
        ranges = planner.enqueue_ranges(start=start, end=end, parts=10)
        assert planner.enqueue_ranges(start=start, end=end, parts=1) == [(None, end)]
    assert len(ranges) == 4
    # Open below (pins and leftovers due earlier go with the first range), closed at `end`,
    # each range starting where the previous one stopped: nothing falls between two.
    assert ranges[0][0] is None and ranges[-1][1] == end
    assert all(prev[1] == nxt[0] for prev, nxt in itertools.pairwise(ranges))
    # Cuts on whole seconds (as publish messages group slots), so one second's slots never
    # straddle two ranges: every slot of a second is claimed by one message.
    assert all(hi.microsecond == 0 for _, hi in ranges[:-1])
