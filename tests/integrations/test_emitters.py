"""Each event type is recorded by its trigger, in the trigger's transaction, and the
settle path pays one INSERT per chunk for its events, not one per slot."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import EventType, OutboxEvent, SocialAccount
from accounts.services import account_mark_needs_reconnect
from bulk import imports
from channels.models import Channel
from integrations import payloads, sending
from integrations.models import Endpoint
from publishing import services as publishing
from publishing.models import Delivery
from publishing.settle import timeslots_settle
from scheduling.models import Timeslot
from scheduling.services import timeslots_mark_missed
from tests.factories import (
    ChannelFactory,
    MembershipFactory,
    QueueEntryFactory,
    SocialAccountFactory,
)
from tests.integrations.conftest import PATH, endpoint_for
from tests.networks.fake_http import Scripted
from tests.publishing.slots import due_slot

pytestmark = pytest.mark.django_db


def listens(workspace) -> Endpoint:
    """An active endpoint, so that the workspace's events are recorded (never sent here)."""
    return Endpoint.objects.create(
        workspace=workspace, url="http://127.0.0.2/in", credentials={"secret": "s"}
    )


def events(kind: EventType) -> list[OutboxEvent]:
    return list(OutboxEvent.objects.filter(type=kind).order_by("id"))


def publish(slots, now):
    publishing.timeslots_publish(pairs=[(s.id, str(s.token)) for s in slots], now=now)
    ids = list(Delivery.objects.filter(timeslot__in=slots).values_list("id", flat=True))
    if ids:
        publishing.deliveries_send(delivery_ids=ids, now=now)


def test_published_with_the_slot_as_the_api_shows_it():
    channel = ChannelFactory()
    listens(channel.workspace)
    QueueEntryFactory(channel=channel)
    now = timezone.now()
    slot = due_slot(channel, now)
    publish([slot], now)
    [event] = events(EventType.TIMESLOT_PUBLISHED)
    assert event.workspace_id == channel.workspace_id
    assert event.facts["timeslot_id"] == slot.id
    data = payloads.data_for(event)
    assert (data["id"], data["status"], data["channel"]["slug"]) == (
        slot.id,
        "published",
        channel.slug,
    )
    assert data["published_text"]
    assert OutboxEvent.objects.count() == 1


def test_partial_when_one_account_refused(receiver):
    channel = ChannelFactory()  # a sandbox account, and a webhook that answers 400
    listens(channel.workspace)
    channel.accounts.add(
        SocialAccountFactory(
            workspace=channel.workspace,
            provider="webhook",
            credentials={"url": receiver.hook, "secret": "s" * 20},
        )
    )
    receiver.script("POST", PATH, Scripted(400, {"error": "no"}))
    QueueEntryFactory(channel=channel)
    now = timezone.now()
    slot = due_slot(channel, now)
    publish([slot], now)
    [event] = events(EventType.TIMESLOT_PARTIAL)
    assert event.facts["timeslot_id"] == slot.id
    assert event.facts["reason_code"] == "deliveries"
    assert not events(EventType.TIMESLOT_PUBLISHED)


def test_failed_and_skipped_at_the_claim():
    lonely = ChannelFactory(with_sandbox=False)  # no account: failed
    QueueEntryFactory(channel=lonely)
    empty = ChannelFactory()  # no post: skipped
    listens(lonely.workspace), listens(empty.workspace)
    now = timezone.now()
    failed, skipped = due_slot(lonely, now), due_slot(empty, now)
    publish([failed, skipped], now)
    [f] = events(EventType.TIMESLOT_FAILED)
    [s] = events(EventType.TIMESLOT_SKIPPED)
    assert (f.facts["timeslot_id"], f.facts["reason_code"]) == (failed.id, "no_accounts")
    assert (s.facts["timeslot_id"], s.facts["reason_code"]) == (skipped.id, "queue_empty")
    assert (f.workspace_id, s.workspace_id) == (lonely.workspace_id, empty.workspace_id)


def test_missed_by_the_watchdog():
    channel = ChannelFactory()
    listens(channel.workspace)
    now = timezone.now()
    slot = due_slot(channel, now - dt.timedelta(hours=2))
    assert timeslots_mark_missed(now=now) == 1
    [event] = events(EventType.TIMESLOT_MISSED)
    assert event.facts["timeslot_id"] == slot.id
    assert payloads.data_for(event)["status"] == "missed"


def test_unconfirmed_when_a_worker_died_mid_call():
    channel = ChannelFactory(with_sandbox=False)
    listens(channel.workspace)
    channel.accounts.add(SocialAccountFactory(workspace=channel.workspace, provider="x"))
    QueueEntryFactory(channel=channel)
    now = timezone.now()
    slot = due_slot(channel, now)
    publishing.timeslots_publish(pairs=[(slot.id, str(slot.token))], now=now)
    Delivery.objects.update(status="sending", claimed_at=now, sending_started_at=now)
    publishing.deliveries_recover(now=now + dt.timedelta(minutes=3))
    [event] = events(EventType.DELIVERY_UNCONFIRMED)
    delivery = Delivery.objects.get()
    assert (event.facts["delivery_id"], delivery.status) == (delivery.id, "unconfirmed")
    data = payloads.data_for(event)
    assert (data["id"], data["status"], data["timeslot"]) == (delivery.id, "unconfirmed", slot.id)
    # The slot then ended failed (nothing known to be out): its own event.
    assert [e.facts["timeslot_id"] for e in events(EventType.TIMESLOT_FAILED)] == [slot.id]


def test_needs_reconnect_once_per_incident():
    account = SocialAccountFactory(provider="x")
    listens(account.workspace)
    now = timezone.now()
    account_mark_needs_reconnect(account=account, error="401 from X", now=now)
    account_mark_needs_reconnect(account=account, error="401 again", now=now)
    [event] = events(EventType.ACCOUNT_NEEDS_RECONNECT)
    data = payloads.data_for(event)
    assert (data["id"], data["status"], data["last_error"]) == (
        account.id,
        SocialAccount.Status.NEEDS_RECONNECT,
        "401 from X",
    )


def test_import_finished():
    member = MembershipFactory(role="owner")
    listens(member.workspace)
    ChannelFactory(workspace=member.workspace, slug="tech")
    data = b"text,channels\nHello,tech\nWorld,tech\n"
    job = imports.import_preview(
        workspace=member.workspace, user=member.user, filename="a.csv", data=data
    )
    imports.import_start(job=job)
    imports.import_chunk_run(job_id=job.id, first_line=2, last_line=3)
    imports.import_chunk_run(job_id=job.id, first_line=2, last_line=3)  # run twice: one event
    [event] = events(EventType.IMPORT_FINISHED)
    assert event.facts | {"finished_at": None} == {
        "import_id": job.id,
        "filename": "a.csv",
        "status": "done",
        "total": 2,
        "imported": 2,
        "errors": 0,
        "finished_at": None,
    }


@pytest.mark.parametrize(
    "decide, kind",
    [
        (lambda review, post, user: review.post_approve(post=post, user=user), "approved"),
        (
            lambda review, post, user: review.post_request_changes(
                post=post, user=user, note="Shorter, please."
            ),
            "changes_requested",
        ),
    ],
)
def test_an_approvers_decision(decide, kind):
    from posts import review
    from tests.factories import PostFactory

    member = MembershipFactory(role="owner")
    listens(member.workspace)
    post = PostFactory(workspace=member.workspace, needs_approval=True, review_state="in_review")

    decide(review, post, member.user)
    with pytest.raises(Exception, match="only a post in review"):
        decide(review, post, member.user)  # a second decision changes nothing: no event

    [event] = events(EventType(f"post.{kind}"))
    assert event.workspace_id == member.workspace_id
    assert event.facts["post"] == post.id and event.facts["review_state"] == kind
    assert event.facts["reviewed_by"] == member.user.get_username()


def test_the_body_is_frozen_at_fan_out(receiver):
    channel = ChannelFactory()
    endpoint_for(channel.workspace, receiver.hook)
    QueueEntryFactory(channel=channel)
    now = timezone.now()
    slot = due_slot(channel, now)
    publish([slot], now)
    [event] = events(EventType.TIMESLOT_PUBLISHED)
    sending.events_fan_out(event_ids=[event.id])
    Timeslot.objects.filter(id=slot.id).update(reason="changed later")
    event.refresh_from_db()
    assert event.data["status"] == "published" and event.data["reason"] == ""


# --- The hot path's cost -------------------------------------------------------------------


def _settle_queries(n: int, *, listening: int) -> list[str]:
    """Settle n published slots of n workspaces, the first `listening` of them with an
    endpoint; the queries it made."""
    channels = [ChannelFactory() for _ in range(n)]
    for channel in channels[:listening]:
        listens(channel.workspace)
    now = timezone.now()
    slots = [due_slot(c, now) for c in channels]
    Timeslot.objects.filter(id__in=[s.id for s in slots]).update(status="publishing")
    for slot, channel in zip(slots, channels, strict=True):
        Delivery.objects.create(
            timeslot=slot, account=channel.accounts.get(), text="t", status="sent"
        )
    with CaptureQueriesContext(connection) as ctx:
        assert timeslots_settle(timeslot_ids=[s.id for s in slots], now=now) == n
    return [
        q["sql"]
        for q in ctx.captured_queries
        if not q["sql"].upper().startswith(("SAVEPOINT", "RELEASE"))
    ]


@pytest.mark.parametrize("n", [1, 25])
def test_settling_a_chunk_adds_one_insert_whatever_its_size(n):
    queries = _settle_queries(n, listening=n)
    table = OutboxEvent._meta.db_table
    inserts = [q for q in queries if q.startswith(f'INSERT INTO "{table}"')]
    assert len(inserts) == 1
    # The close (an UPDATE returning each slot's workspace), which workspaces listen, and
    # the events' INSERT: three.
    assert len(queries) == 3, queries
    assert OutboxEvent.objects.filter(type=EventType.TIMESLOT_PUBLISHED).count() == n
    assert set(OutboxEvent.objects.values_list("workspace_id", flat=True)) == set(
        Channel.objects.values_list("workspace_id", flat=True)
    )


def test_only_the_workspaces_with_an_active_endpoint_get_events():
    queries = _settle_queries(4, listening=2)
    listening = set(Endpoint.objects.values_list("workspace_id", flat=True))
    assert len(listening) == 2
    assert set(OutboxEvent.objects.values_list("workspace_id", flat=True)) == listening
    assert len(queries) == 3
    # A workspace whose endpoint is switched off stops getting them.
    Endpoint.objects.update(is_active=False)
    account = SocialAccountFactory(provider="x", workspace_id=min(listening))
    account_mark_needs_reconnect(account=account, error="401 from X", now=timezone.now())
    assert not events(EventType.ACCOUNT_NEEDS_RECONNECT)


def test_nobody_listening_costs_one_select_and_no_insert():
    queries = _settle_queries(25, listening=0)
    assert not OutboxEvent.objects.exists()
    # The close and the question who listens: no INSERT, no fan-out message.
    assert len(queries) == 2, queries
    assert not any(q.startswith("INSERT") for q in queries)


def test_missed_for_an_outages_gap_at_planning():
    """The planner records an outage's occurrences missed in bulk: each gets its event,
    with one SELECT and one INSERT for the batch."""
    from scheduling import services as scheduling
    from tests.factories import ScheduleFactory, rule

    start = dt.datetime(2026, 6, 1, 10, 0, tzinfo=dt.UTC)
    schedule = ScheduleFactory(recurrence=rule("RRULE:FREQ=HOURLY;BYMINUTE=0"))
    listens(schedule.channel.workspace)
    with time_machine.travel(start, tick=False):
        scheduling.planner_run()
    assert not OutboxEvent.objects.exists()
    with time_machine.travel(start + dt.timedelta(hours=6), tick=False):
        result = scheduling.planner_run()
    missed = set(Timeslot.objects.filter(status="missed").values_list("id", flat=True))
    assert result.missed == len(missed) >= 4
    got = events(EventType.TIMESLOT_MISSED)
    assert {e.facts["timeslot_id"] for e in got} == missed
    assert {e.workspace_id for e in got} == {schedule.channel.workspace_id}
    assert {e.facts["reason_code"] for e in got} == {"planner_down"}
