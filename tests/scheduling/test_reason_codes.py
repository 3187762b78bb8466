"""Reasons are codes with words beside them (issue 25, item 4): rewording every reason text
changes what people read and nothing the code decides; rows written before the codes are
given theirs by a data migration."""

from __future__ import annotations

import datetime as dt
import importlib
import pathlib
import string

import pytest
import time_machine
from django.apps import apps
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from accounts.models import Notice
from publishing import selectors as publishing_selectors
from publishing import services as publishing
from publishing.models import Delivery
from scheduling import calendar_reads, reasons
from scheduling import services as scheduling
from scheduling.models import Schedule, Timeslot
from scheduling.reasons import Reason
from tests.factories import ChannelFactory, NoticeFactory, QueueEntryFactory, ScheduleFactory, rule

UTC = dt.UTC
NOW = dt.datetime(2026, 6, 1, 8, 5, tzinfo=UTC)
ROOT = pathlib.Path(__file__).resolve().parents[2]
ORIGINAL = dict(reasons.TEXTS)

codes_from_texts = importlib.import_module(
    "scheduling.migrations.0006_timeslot_reason_codes"
).codes_from_texts
subjects_from_texts = importlib.import_module(
    "accounts.migrations.0006_queue_warning_subjects"
).subjects_from_texts


def at(hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 6, 1, hour, minute, tzinfo=UTC)


def reworded(code: Reason) -> str:
    """New words for `code`'s text, keeping the details it is given (its placeholders)."""
    fields = [
        "{" + name + (f":{spec}" if spec else "") + "}"
        for _, name, spec, _ in string.Formatter().parse(ORIGINAL[code])
        if name
    ]
    return " ".join([f"Reworded {code.value}:", *fields])


@pytest.fixture
def new_words(monkeypatch):
    for code in Reason:
        monkeypatch.setitem(reasons.TEXTS, code, reworded(code))


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def live(schedule: Schedule) -> set[dt.datetime]:
    return set(
        Timeslot.objects.filter(schedule=schedule, status=Timeslot.Status.SCHEDULED).values_list(
            "publish_at", flat=True
        )
    )


def test_every_reason_has_words_and_every_code_its_test_text():
    assert set(reasons.TEXTS) == set(Reason)
    assert reasons.REVIVABLE <= set(Reason)


def test_no_reason_text_is_written_anywhere_but_its_home():
    """One home per reason: its words appear in scheduling/reasons.py (and, frozen, in the
    data migration that recognised the old ones), nowhere else in the code."""
    fixed = [t for t in ORIGINAL.values() if "{" not in t]
    homes = {
        ROOT / "scheduling" / "reasons.py",
        ROOT / "scheduling" / "migrations" / "0006_timeslot_reason_codes.py",
    }
    apps_dirs = [
        "ground", "accounts", "networks", "posts", "channels", "scheduling", "links",
        "publishing", "bulk", "editor", "ops", "queueloop",
    ]  # fmt: skip
    for folder in apps_dirs:
        for path in (ROOT / folder).rglob("*.py"):
            if path in homes:
                continue
            source = path.read_text("utf-8")
            for text in fixed:
                assert text not in source, f"{path.relative_to(ROOT)} repeats {text!r}"


@pytest.mark.django_db(transaction=True)
def test_slots_canceled_under_old_words_revive_under_new_ones(broker, frozen, monkeypatch):
    channel = ChannelFactory()
    schedule = scheduling.schedule_save(
        schedule=Schedule(
            channel=channel, name="q", recurrence=rule("RRULE:FREQ=HOURLY;BYMINUTE=30")
        )
    )
    assert live(schedule) == {at(8, 30)}
    schedule.recurrence = rule("RRULE:FREQ=HOURLY;BYMINUTE=45")
    scheduling.schedule_save(schedule=schedule)
    canceled = Timeslot.objects.get(schedule=schedule, publish_at=at(8, 30))
    assert canceled.reason == ORIGINAL[Reason.SCHEDULE_CHANGED]

    # The words change after the row was written (an upgrade that rewords a message).
    for code in Reason:
        monkeypatch.setitem(reasons.TEXTS, code, reworded(code))
    schedule.recurrence = rule("RRULE:FREQ=HOURLY;BYMINUTE=30")
    scheduling.schedule_save(schedule=schedule)
    assert live(schedule) == {at(8, 30)}
    canceled.refresh_from_db()
    assert canceled.status == Timeslot.Status.SCHEDULED and canceled.reason_code == ""

    # Pausing and resuming under the new words: canceled with them, and back again.
    channel.is_paused = True
    scheduling.channel_save(channel=channel)
    slot = Timeslot.objects.get(schedule=schedule, publish_at=at(8, 30))
    assert (slot.reason_code, slot.reason) == (
        Reason.CHANNEL_PAUSED,
        "Reworded channel_paused:",
    )
    channel.is_paused = False
    scheduling.channel_save(channel=channel)
    assert live(schedule) == {at(8, 30)}

    # A slot a person canceled stays canceled, whatever its words.
    scheduling.timeslot_cancel(timeslot=Timeslot.objects.get(id=slot.id))
    scheduling.schedule_save(schedule=schedule)
    slot.refresh_from_db()
    assert (slot.status, slot.reason_code) == (Timeslot.Status.CANCELED, Reason.USER_CANCELED)


def run_slot(channel, when: dt.datetime) -> Timeslot:
    schedule = ScheduleFactory(channel=channel)
    slot = Timeslot.objects.create(
        channel=channel, schedule=schedule, publish_at=when, planned_for=when
    )
    with time_machine.travel(when, tick=False):
        publishing.timeslot_publish(timeslot_id=slot.id, token=str(slot.token))
        for delivery in Delivery.objects.filter(timeslot=slot):
            publishing.delivery_send(delivery_id=delivery.id)
    slot.refresh_from_db()
    return slot


@pytest.mark.django_db
def test_notices_and_problem_lists_follow_the_codes_under_new_words(new_words):
    empty = ChannelFactory()
    skipped = run_slot(empty, at(9))
    assert skipped.status == Timeslot.Status.SKIPPED
    assert (skipped.reason_code, skipped.reason) == (Reason.QUEUE_EMPTY, "Reworded queue_empty:")
    assert Notice.objects.get(workspace=empty.workspace).kind == Notice.Kind.QUEUE_EMPTY

    lonely = ChannelFactory(with_sandbox=False)
    QueueEntryFactory(channel=lonely)
    failed = run_slot(lonely, at(9))
    assert (failed.status, failed.reason_code) == (Timeslot.Status.FAILED, Reason.NO_ACCOUNTS)
    assert Notice.objects.get(workspace=lonely.workspace).kind == Notice.Kind.TIMESLOT_FAILED

    problems = publishing_selectors.problem_slots(workspace=lonely.workspace, since=at(0))
    assert [s.id for s in problems] == [failed.id]
    [shown] = calendar_reads.slots_between(
        workspace=lonely.workspace, start=at(8), end=at(10), now=at(9, 30)
    )
    assert shown.problem == "Reworded no_accounts:" and shown.is_warning

    # Missed slots: the details still go into the new words.
    late = ChannelFactory()
    slot = Timeslot.objects.create(
        channel=late, schedule=ScheduleFactory(channel=late), publish_at=at(6), planned_for=at(6)
    )
    scheduling.timeslots_mark_missed(now=at(9))
    slot.refresh_from_db()
    assert slot.reason_code == Reason.WORKERS_DOWN
    assert slot.reason.startswith("Reworded workers_down: ") and slot.reason[-1].isdigit()


@pytest.mark.django_db
def test_a_settled_slot_lists_its_deliveries_under_its_code(new_words):
    channel = ChannelFactory()
    QueueEntryFactory(channel=channel)
    slot = Timeslot.objects.create(
        channel=channel, schedule=ScheduleFactory(channel=channel), publish_at=at(9)
    )
    with time_machine.travel(at(9), tick=False):
        publishing.timeslot_publish(timeslot_id=slot.id, token=str(slot.token))
    Delivery.objects.filter(timeslot=slot).update(
        status=Delivery.Status.FAILED, last_error="The network said no."
    )
    assert publishing.timeslot_settle(timeslot_id=slot.id, now=at(9)) == Timeslot.Status.FAILED
    slot.refresh_from_db()
    assert slot.reason_code == Reason.DELIVERIES
    assert slot.reason.startswith("Reworded deliveries: ") and "The network said no." in slot.reason


# --- The data migration --------------------------------------------------------------------

OLD_ROWS = [
    ("canceled", "Canceled: the schedule no longer has this time.", Reason.SCHEDULE_CHANGED),
    ("canceled", "Canceled: the schedule was turned off.", Reason.SCHEDULE_OFF),
    ("canceled", "Canceled: the channel was paused.", Reason.CHANNEL_PAUSED),
    ("canceled", "Canceled by a user.", Reason.USER_CANCELED),
    ("canceled", "Canceled: the post was archived.", Reason.POST_ARCHIVED),
    (
        "missed",
        "Missed: not published within 15 minutes of its time (workers or broker were down), "
        "so it was not sent late.",
        Reason.WORKERS_DOWN,
    ),
    (
        "missed",
        "Missed: the planner (celery beat) was not running from 2026-05-31 22:00 to "
        "2026-06-01 07:50 UTC, so this slot was never planned and was not sent late.",
        Reason.PLANNER_DOWN,
    ),
    (
        "skipped",
        "Skipped: Mon 1 Jun 09:00 is 60 s from the slot at Mon 1 Jun 08:59: a channel's slots "
        "are at least 120 s apart (CHANNEL_MIN_INTERVAL).",
        Reason.OVER_LIMIT,
    ),
    (
        "skipped",
        "Skipped: 09:30 would be slot number 5 between 09:00 and 10:00: a channel publishes at "
        "most 4 slots an hour (CHANNEL_MAX_SLOTS_PER_HOUR).",
        Reason.OVER_LIMIT,
    ),
    ("skipped", "Skipped: the channel was paused.", Reason.PAUSED),
    ("skipped", "Skipped: queue empty (no active, unexpired post to publish).", Reason.QUEUE_EMPTY),
    ("skipped", "Skipped: the pinned post was archived or has expired.", Reason.POST_GONE),
    ("failed", "Failed: the channel has no active accounts.", Reason.NO_ACCOUNTS),
    (
        "failed",
        "Failed: the pinned post belongs to another workspace than the channel.",
        Reason.FOREIGN_POST,
    ),
    ("failed", "@acme: Failed — The network said no.", Reason.DELIVERIES),
    ("partial", "@a: Unconfirmed — Timed out mid-call.; @b: Failed — no", Reason.DELIVERIES),
    ("canceled", "Some words an admin once wrote.", Reason.OTHER),
    ("published", "", ""),
]


def _old_rows(model=Timeslot) -> list[Timeslot]:
    """`model`: the Timeslot of the schema the rows are written in (a later migration's
    columns do not exist yet when the executor has gone back)."""
    channel = ChannelFactory()
    schedule = ScheduleFactory(channel=channel)
    rows = [
        model.objects.create(
            channel_id=channel.id,
            schedule_id=schedule.id,
            publish_at=at(9) + dt.timedelta(minutes=n),
            status=status,
            reason=text,
        )
        for n, (status, text, _) in enumerate(OLD_ROWS)
    ]
    assert not Timeslot.objects.exclude(reason_code="").exists()
    return rows


@pytest.mark.django_db
def test_the_data_migration_gives_each_old_text_its_code():
    rows = _old_rows()
    codes_from_texts(apps, None)
    got = dict(Timeslot.objects.values_list("id", "reason_code"))
    assert [got[r.id] for r in rows] == [code for _, _, code in OLD_ROWS]
    # Run again (a re-applied migration): nothing changes.
    codes_from_texts(apps, None)
    assert dict(Timeslot.objects.values_list("id", "reason_code")) == got


@pytest.mark.django_db(transaction=True)
def test_the_migration_runs_through_django_s_executor():
    """Back to before the data step and forward again, as `manage.py migrate` does."""
    before = [("scheduling", "0005_timeslot_reason_code")]
    after = [("scheduling", "0006_timeslot_reason_codes")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        rows = _old_rows(
            executor.loader.project_state(before).apps.get_model("scheduling", "Timeslot")
        )
        executor = MigrationExecutor(connection)  # a fresh loader: the graph changed
        executor.migrate(after)
        got = dict(Timeslot.objects.values_list("id", "reason_code"))
        assert [got[r.id] for r in rows] == [code for _, _, code in OLD_ROWS]
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db
def test_old_empty_queue_warnings_get_their_subject_and_are_not_repeated():
    channel = ChannelFactory(name="#empty")
    ScheduleFactory(channel=channel)
    old = NoticeFactory(
        workspace=channel.workspace,
        kind=Notice.Kind.QUEUE_EMPTY,
        message="#empty will have nothing to publish at its next slot: its queue is empty.",
    )
    other = NoticeFactory(workspace=channel.workspace, kind=Notice.Kind.QUEUE_EMPTY)
    subjects_from_texts(apps, None)
    old.refresh_from_db()
    other.refresh_from_db()
    assert old.subject == f"channel:{channel.id}:empty-ahead" and other.subject == ""
    Timeslot.objects.create(
        channel=channel,
        schedule=channel.schedules.get(),
        publish_at=dt.datetime.now(UTC) + dt.timedelta(minutes=30),
    )
    now = dt.datetime.now(UTC)
    assert scheduling.channels_warn_empty_queues(now=now, until=now + dt.timedelta(hours=1)) == 0
