"""upcoming_for_channel predicts what the publisher will really do.

Each test predicts a channel's coming slots (planned rows and rule projections alike),
then lets time pass slot by slot: the real planner plans, the real publisher
(publishing.services.timeslot_publish) claims each slot at its time, and what it
published must be what was predicted. Broker messages are only sent after commit, which
never happens inside these test transactions, so no worker runs behind our back.
"""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from channels.models import Channel
from posts.models import Post
from publishing.services import timeslot_publish
from scheduling import calendar_reads, selectors, services
from scheduling.models import Timeslot
from tests.factories import (
    ChannelFactory,
    PostFactory,
    QueueEntryFactory,
    ScheduleFactory,
    VariationFactory,
    rule,
)

pytestmark = pytest.mark.django_db

UTC = dt.UTC
NOW = dt.datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


def replay(channel: Channel, predicted: list[selectors.UpcomingSlot]) -> list[Timeslot]:
    """Let time pass through every predicted slot: plan, then publish it at its time."""
    published = []
    for slot in predicted:
        with time_machine.travel(slot.publish_at, tick=False):
            services.planner_run()
            row = (
                Timeslot.objects.filter(
                    channel=channel, publish_at=slot.publish_at, status=Timeslot.Status.SCHEDULED
                )
                .order_by("id")
                .first()
            )
            assert row is not None, f"no slot planned at {slot.publish_at}"
            if slot.timeslot is not None:
                assert row.id == slot.timeslot.id
            timeslot_publish(timeslot_id=row.id, token=str(row.token), now=slot.publish_at)
        row.refresh_from_db()
        published.append(row)
    return published


def assert_same(predicted: list[selectors.UpcomingSlot], published: list[Timeslot]) -> None:
    for n, (guess, row) in enumerate(zip(predicted, published, strict=True)):
        where = f"slot {n} at {guess.publish_at:%H:%M}"
        if guess.post is None:
            assert row.status == Timeslot.Status.SKIPPED, f"{where}: {row.status} {row.reason}"
            assert row.published_post_id is None, where
        else:
            assert row.status == Timeslot.Status.PUBLISHING, f"{where}: {row.status} {row.reason}"
            assert row.published_post_id == guess.post.id, (
                f"{where}: predicted {guess.post.text!r}, published {row.published_post.text!r}"
            )
            assert row.published_text == guess.text, where


def test_loop_mode_prediction_matches_the_publisher():
    channel = ChannelFactory(timezone="Europe/Berlin", mode=Channel.Mode.LOOP)
    ws = channel.workspace
    a = QueueEntryFactory(channel=channel, position=1, post=PostFactory(workspace=ws, text="A"))
    VariationFactory(post=a.post, text="A, second wording")
    VariationFactory(post=a.post, text="A, third wording")
    # Published long ago: it goes after the never-published ones, despite position 0.
    old = QueueEntryFactory(
        channel=channel,
        position=0,
        post=PostFactory(workspace=ws, text="Old"),
        times_published=4,
        last_published_at=NOW - dt.timedelta(days=3),
    )
    # Spent after one more publication.
    QueueEntryFactory(
        channel=channel, position=2, post=PostFactory(workspace=ws, text="Once"),
        max_publications=1,
    )  # fmt: skip
    # Expires before its second turn comes.
    QueueEntryFactory(
        channel=channel,
        position=3,
        post=PostFactory(workspace=ws, text="Expiring", expires_at=NOW + dt.timedelta(hours=2)),
    )
    # A draft and an inactive entry are never picked.
    QueueEntryFactory(
        channel=channel, position=4, post=PostFactory(workspace=ws, text="Draft", status="draft")
    )
    QueueEntryFactory(
        channel=channel, position=5, post=PostFactory(workspace=ws, text="Off"), is_active=False
    )
    # Every 30 minutes, plus a pinned publication of "Old" that counts in the loop.
    schedule = ScheduleFactory(channel=channel, recurrence=rule("RRULE:FREQ=MINUTELY;INTERVAL=30"))
    with time_machine.travel(NOW, tick=False):
        services.schedule_save(schedule=schedule)
        services.timeslot_pin(
            post=old.post, channel=channel, publish_at=NOW + dt.timedelta(minutes=75)
        )
        predicted = selectors.upcoming_for_channel(channel=channel, now=NOW, limit=14)

    assert len(predicted) == 14
    assert any(s.is_projected for s in predicted) and any(not s.is_projected for s in predicted)
    assert sum(s.pinned for s in predicted) == 1
    texts = [s.post.text if s.post else None for s in predicted]
    assert texts[:4] == ["A", "Once", "Expiring", "Old"]
    assert "Draft" not in texts and "Off" not in texts and texts.count("Once") == 1

    assert_same(predicted, replay(channel, predicted))


def test_once_mode_drains_the_queue_then_skips():
    channel = ChannelFactory(mode=Channel.Mode.ONCE)
    for i in range(3):
        QueueEntryFactory(channel=channel, position=i)
    schedule = ScheduleFactory(channel=channel, recurrence=rule("RRULE:FREQ=HOURLY;BYMINUTE=15"))
    with time_machine.travel(NOW, tick=False):
        services.schedule_save(schedule=schedule)
        predicted = selectors.upcoming_for_channel(channel=channel, now=NOW, limit=5)
    assert [s.post is not None for s in predicted] == [True, True, True, False, False]
    assert predicted[3].problem_code == selectors.Problem.QUEUE_EMPTY
    assert_same(predicted, replay(channel, predicted))


def test_pinned_post_that_expires_is_predicted_as_skipped():
    channel = ChannelFactory()
    post = PostFactory(workspace=channel.workspace, expires_at=NOW + dt.timedelta(minutes=30))
    with time_machine.travel(NOW, tick=False):
        services.timeslot_pin(post=post, channel=channel, publish_at=NOW + dt.timedelta(hours=1))
        predicted = selectors.upcoming_for_channel(channel=channel, now=NOW, limit=5)
    assert len(predicted) == 1 and predicted[0].post is None
    assert predicted[0].problem_code == selectors.Problem.PINNED_GONE
    assert_same(predicted, replay(channel, predicted))


@override_settings(CHANNEL_MIN_INTERVAL=0)  # an operator may allow slots at the same second
def test_two_schedules_at_the_same_instant_take_two_posts():
    channel = ChannelFactory()
    for i in range(3):
        QueueEntryFactory(channel=channel, position=i)
    first = ScheduleFactory(
        channel=channel, name="a", recurrence=rule("RRULE:FREQ=HOURLY;BYMINUTE=0")
    )
    second = ScheduleFactory(
        channel=channel, name="b", recurrence=rule("RRULE:FREQ=HOURLY;BYMINUTE=0")
    )
    with time_machine.travel(NOW, tick=False):
        services.schedule_save(schedule=first)
        services.schedule_save(schedule=second)
        predicted = selectors.upcoming_for_channel(channel=channel, now=NOW, limit=6)
    assert predicted[0].publish_at == predicted[1].publish_at
    assert predicted[0].post != predicted[1].post
    assert_same(predicted, replay(channel, predicted))


def test_paused_channel_projects_nothing_and_flags_pinned_slots():
    channel = ChannelFactory()
    QueueEntryFactory(channel=channel)
    ScheduleFactory(channel=channel, recurrence=rule("RRULE:FREQ=HOURLY;BYMINUTE=0"))
    with time_machine.travel(NOW, tick=False):
        services.timeslot_pin(
            post=PostFactory(workspace=channel.workspace),
            channel=channel,
            publish_at=NOW + dt.timedelta(hours=1, minutes=30),  # clear of the :00 slots
        )
        channel.is_paused = True
        services.channel_save(channel=channel)
        predicted = selectors.upcoming_for_channel(channel=channel, now=NOW, limit=5)
    assert len(predicted) == 1 and predicted[0].problem_code == selectors.Problem.PAUSED


def test_queries_are_constant_in_slots_and_posts():
    counts = []
    for n in (2, 20):
        channel = ChannelFactory()
        for i in range(n):
            entry = QueueEntryFactory(channel=channel, position=i)
            VariationFactory(post=entry.post)
            Timeslot.objects.create(
                channel=channel, post=entry.post, publish_at=NOW + dt.timedelta(minutes=i + 1)
            )
        ScheduleFactory(channel=channel, recurrence=rule("RRULE:FREQ=MINUTELY;INTERVAL=5"))
        with CaptureQueriesContext(connection) as ctx:
            predicted = selectors.upcoming_for_channel(channel=channel, now=NOW, limit=50)
        assert len(predicted) == 50
        assert all(s.post is not None for s in predicted)
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]


def test_dashboard_and_calendar_selectors_span_channels():
    first = ChannelFactory(timezone="Asia/Tokyo")
    second = ChannelFactory(workspace=first.workspace)
    for channel in (first, second):
        QueueEntryFactory(channel=channel)
        ScheduleFactory(channel=channel, recurrence=rule("RRULE:FREQ=DAILY;BYHOUR=9;BYMINUTE=0"))
    upcoming = selectors.upcoming_for_workspace(workspace=first.workspace, now=NOW, limit=4)
    assert [s.publish_at for s in upcoming] == sorted(s.publish_at for s in upcoming)
    assert {s.channel for s in upcoming} == {first, second}
    week = calendar_reads.slots_between(
        workspace=first.workspace, start=NOW, end=NOW + dt.timedelta(days=7), now=NOW
    )
    assert len(week) == 14 and all(isinstance(s.post, Post) for s in week)


def test_calendar_far_ahead_lists_slots_without_replaying_from_now():
    channel = ChannelFactory()
    QueueEntryFactory(channel=channel)
    ScheduleFactory(channel=channel, recurrence=rule("RRULE:FREQ=MINUTELY;INTERVAL=1"))
    start = NOW + dt.timedelta(weeks=30)
    week = calendar_reads.slots_between(
        workspace=channel.workspace, start=start, end=start + dt.timedelta(days=1), now=NOW
    )
    assert len(week) == 24 * 60
    assert all(s.post is None and s.problem_code == selectors.Problem.NOT_PREDICTED for s in week)
    assert not any(s.is_warning for s in week)
