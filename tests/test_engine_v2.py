"""Engine v2 (DESIGN §3-§4): one publish message per ETA second and chunk, claimed with one
conditional UPDATE, posts chosen for many channels at once, deliveries sent in chunks.

Most of these run on PostgreSQL with a real Celery worker and the real broker.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid

import pytest
import time_machine
from celery.signals import task_postrun
from django.test import override_settings
from django.utils import timezone

from channels.models import QueueEntry
from publishing import services as publishing
from publishing.models import Delivery, SandboxPost
from queueloop.celery import app as celery_app
from scheduling import enqueue, planner, selectors
from scheduling import services as scheduling
from scheduling.models import PlannerChunk, PlannerState, Timeslot
from tests.conftest import race, wait_for
from tests.factories import (
    ChannelFactory,
    PostFactory,
    QueueEntryFactory,
    ScheduleFactory,
    SocialAccountFactory,
    rule,
)
from tests.receiver import Receiver

_outcomes: dict[int, list[str]] = {}


@task_postrun.connect
def _record(sender=None, args=None, retval=None, **kwargs):
    """Each pair's outcome, from the batch task's own return value (Celery's signal)."""
    if sender is not None and sender.name == "publishing.publish_timeslots" and retval:
        for timeslot_id, _token in args[0]:
            _outcomes.setdefault(timeslot_id, []).append(retval.get(str(timeslot_id)))
    elif sender is not None and sender.name == "publishing.publish_timeslot":
        _outcomes.setdefault(args[0], []).append(retval)


def soon(seconds: float) -> dt.datetime:
    return timezone.now() + dt.timedelta(seconds=seconds)


def due_slot(channel, at, *, post=None) -> Timeslot:
    """A scheduled slot whose message we send ourselves (as the planner would)."""
    if post is None:
        schedule = ScheduleFactory(channel=channel, name=f"s-{uuid.uuid4().hex[:6]}")
        return Timeslot.objects.create(
            channel=channel, schedule=schedule, publish_at=at, planned_for=at, enqueued_at=at
        )
    return Timeslot.objects.create(channel=channel, post=post, publish_at=at, enqueued_at=at)


def message(slot: Timeslot) -> enqueue.Message:
    return enqueue.Message(slot.id, slot.token, slot.publish_at)


# --- Batches -------------------------------------------------------------------------------


def test_send_now_groups_slots_by_eta_second_in_chunks(broker, db):
    channel = ChannelFactory()
    at = (timezone.now() + dt.timedelta(minutes=5)).replace(microsecond=0)
    slots = [due_slot(channel, at + dt.timedelta(milliseconds=10 * i)) for i in range(5)]
    later = due_slot(channel, at + dt.timedelta(seconds=1))
    with override_settings(PUBLISH_BATCH_SIZE=2):
        sent = enqueue.send_now([message(s) for s in [*slots, later]])
    assert sent == 6
    batches = broker.publish_batches()
    # 5 slots in one second → chunks of 2, 2, 1; the next second its own message.
    assert [len(b["args"][0]) for b in batches] == [2, 2, 1, 1]
    assert [pair for b in batches[:3] for pair in b["args"][0]] == [
        [s.id, str(s.token)] for s in slots
    ]
    assert batches[3]["args"][0] == [[later.id, str(later.token)]]


@pytest.mark.worker
def test_batch_mixing_fresh_stale_moved_and_canceled_pairs(worker):
    channels = [ChannelFactory() for _ in range(4)]
    for channel in channels:
        QueueEntryFactory(channel=channel)
    at = soon(1.5)
    fresh, stale, moved, canceled = (due_slot(c, at) for c in channels)
    batch = [message(s) for s in (fresh, stale, moved, canceled)]
    # After the batch was put on the broker: one token rotated (requeued), one slot moved,
    # one canceled. The batch still carries the old tokens.
    enqueue.send_now(batch)
    Timeslot.objects.filter(id=stale.id).update(token=uuid.uuid4())
    new_time = soon(3)
    scheduling.timeslot_reschedule(timeslot=moved, publish_at=new_time)
    scheduling.timeslot_cancel(timeslot=canceled)

    wait_for(lambda: fresh.id in _outcomes and stale.id in _outcomes, what="the batch to run")
    assert _outcomes[fresh.id] == ["dispatched"]
    assert _outcomes[stale.id] == ["stale"]
    assert _outcomes[canceled.id] == ["stale"]
    assert _outcomes[moved.id][0] == "stale"  # the batch's pair; its own message comes later
    wait_for(
        lambda: Timeslot.objects.get(id=moved.id).status == Timeslot.Status.PUBLISHED,
        what="the moved slot, at its new time",
    )
    assert Timeslot.objects.get(id=moved.id).published_at >= new_time
    wait_for(lambda: Timeslot.objects.get(id=fresh.id).status == Timeslot.Status.PUBLISHED)
    assert Timeslot.objects.get(id=canceled.id).status == Timeslot.Status.CANCELED
    assert Timeslot.objects.get(id=stale.id).status == Timeslot.Status.SCHEDULED
    assert not Delivery.objects.filter(timeslot_id__in=[stale.id, canceled.id]).exists()
    assert SandboxPost.objects.count() == 2  # fresh and moved, once each


@pytest.mark.worker
@override_settings(CHANNEL_MIN_INTERVAL=0)  # an operator may allow slots at the same second
def test_two_slots_of_one_channel_in_one_second_take_two_posts_as_predicted(worker):
    channel = ChannelFactory()
    for i in range(3):
        QueueEntryFactory(channel=channel, position=i, post__text=f"post {i}")
    at = (timezone.now() + dt.timedelta(seconds=3)).replace(microsecond=0)
    for name in ("a", "b"):
        ScheduleFactory(channel=channel, name=name, recurrence=rule(f"RDATE:{at:%Y%m%dT%H%M%S}"))
    result = scheduling.planner_run()
    assert result.created == 2
    predicted = [
        s.post.text for s in selectors.upcoming_for_channel(channel=channel, now=timezone.now())
    ][:2]
    wait_for(
        lambda: Timeslot.objects.filter(status=Timeslot.Status.PUBLISHED).count() == 2,
        what="both slots",
    )
    published = list(
        Timeslot.objects.order_by("publish_at", "id").values_list("published_text", flat=True)
    )
    assert published == predicted == ["post 0", "post 1"]


@pytest.mark.worker
def test_batch_spanning_three_workspaces_publishes_each_to_its_own(worker):
    at = soon(1.5)
    slots = []
    for i in range(3):
        channel = ChannelFactory()
        QueueEntryFactory(channel=channel, post__text=f"workspace {i}")
        slots.append(due_slot(channel, at))
    enqueue.send_now([message(s) for s in slots])
    wait_for(
        lambda: Timeslot.objects.filter(status=Timeslot.Status.PUBLISHED).count() == 3,
        what="the three slots",
    )
    for i, slot in enumerate(slots):
        [delivery] = Delivery.objects.filter(timeslot=slot).select_related("account", "post")
        assert delivery.text == f"workspace {i}"
        assert delivery.account.workspace_id == slot.channel.workspace_id
        assert delivery.post.workspace_id == slot.channel.workspace_id
    assert len({tuple(_outcomes.get(s.id, [])) for s in slots}) == 1  # one batch, same answer


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_batches_racing_for_overlapping_channels_do_not_deadlock():
    channels = [ChannelFactory() for _ in range(4)]
    for channel in channels:
        for i in range(4):
            QueueEntryFactory(channel=channel, position=i)
    now = timezone.now()
    first = [due_slot(c, now) for c in channels]
    second = [due_slot(c, now) for c in reversed(channels)]
    pairs = [[(s.id, str(s.token)) for s in batch] for batch in (first, second)]
    results = race(*[lambda p=p: publishing.timeslots_publish(pairs=p, now=now) for p in pairs * 2])
    for slot in first + second:
        outcomes = [r[slot.id] for r in results if slot.id in r]
        assert outcomes.count("dispatched") == 1, (slot.id, outcomes)
    # Every channel's two slots took two different posts.
    for channel in channels:
        posts = list(Timeslot.objects.filter(channel=channel).values_list("published_post_id"))
        assert len(set(posts)) == 2


@pytest.mark.django_db(transaction=True)
def test_stale_or_malformed_pairs_change_nothing_for_the_others(broker):
    channel = ChannelFactory()
    QueueEntryFactory(channel=channel)
    now = timezone.now()
    good = due_slot(channel, now)
    early = due_slot(channel, now + dt.timedelta(minutes=5))
    late = due_slot(channel, now - dt.timedelta(hours=1))
    outcomes = publishing.timeslots_publish(
        pairs=[
            (good.id, str(good.token)),
            (early.id, str(early.token)),
            (late.id, str(late.token)),
            (999_999, str(uuid.uuid4())),
            (2**63, str(uuid.uuid4())),  # no 64-bit key: dropped, not an error for the batch
            ("not", "a pair"),
            (good.id + 1_000_000, "not-a-uuid"),
        ],
        now=now,
    )
    assert outcomes[good.id] == "dispatched"
    assert outcomes[early.id] == "early"
    assert outcomes[late.id] == "missed"
    assert outcomes[999_999] == "stale" and 2**63 not in outcomes
    late.refresh_from_db()
    assert late.status == Timeslot.Status.MISSED and late.reason.startswith("Missed")
    # The early slot went back on the broker with its own token, for its own time.
    assert [m["args"] for m in broker.publish_messages()] == [[early.id, str(early.token)]]
    early.refresh_from_db()
    assert early.status == Timeslot.Status.SCHEDULED


# --- Delivery chunks ------------------------------------------------------------------------


@pytest.fixture
def receivers():
    made = [Receiver().start() for _ in range(3)]
    yield made
    for r in made:
        r.stop()


@pytest.mark.django_db(transaction=True)
def test_chunk_with_one_rate_limited_account_and_one_timeout(receivers, broker):
    ok, limited, slow = receivers
    limited.status = 429
    slow.delay = 2.0
    channel = ChannelFactory(with_sandbox=False)
    accounts = {}
    for name, r in (("ok", ok), ("limited", limited), ("slow", slow)):
        accounts[name] = SocialAccountFactory(
            workspace=channel.workspace,
            provider="webhook",
            handle=name,
            credentials={"url": r.url, "secret": "s"},
        )
        channel.accounts.add(accounts[name])
    QueueEntryFactory(channel=channel)
    QueueEntryFactory(channel=channel)
    now = timezone.now()
    slots = [due_slot(channel, now), due_slot(channel, now)]
    publishing.timeslots_publish(pairs=[(s.id, str(s.token)) for s in slots], now=now)
    ids = list(Delivery.objects.values_list("id", flat=True))
    assert len(ids) == 6
    broker.purge()
    with override_settings(WEBHOOK_HTTP_TIMEOUT=0.5):
        statuses = publishing.deliveries_send(delivery_ids=ids, now=now)

    by_account = {
        name: list(Delivery.objects.filter(account=a).order_by("id"))
        for name, a in accounts.items()
    }
    assert [d.status for d in by_account["ok"]] == ["sent", "sent"]
    # The rate-limited account was called once: its second delivery waits for the reset
    # without a call, and both come back after it.
    assert len(limited.requests) == 1
    assert [d.status for d in by_account["limited"]] == ["pending", "pending"]
    assert all(d.next_attempt_at > now + dt.timedelta(seconds=30) for d in by_account["limited"])
    # The timeout: webhooks are idempotent (Idempotency-Key), so it is retried, with backoff.
    assert [d.status for d in by_account["slow"]] == ["pending", "pending"]
    assert "did not answer in time" in by_account["slow"][0].last_error
    assert set(statuses.values()) == {"sent", "pending"}
    # Retries are messages with an ETA; the slots wait for them, still publishing.
    retry_ids = {i for m in broker.messages() for i in m["args"][0]}
    assert retry_ids == {d.id for d in by_account["limited"] + by_account["slow"]}
    assert set(Timeslot.objects.values_list("status", flat=True)) == {"publishing"}


@pytest.mark.django_db(transaction=True)
def test_chunk_settles_its_slots_in_bulk(broker):
    channels = [ChannelFactory() for _ in range(3)]
    for channel in channels:
        QueueEntryFactory(channel=channel)
    now = timezone.now()
    slots = [due_slot(c, now) for c in channels]
    publishing.timeslots_publish(pairs=[(s.id, str(s.token)) for s in slots], now=now)
    statuses = publishing.deliveries_send(
        delivery_ids=list(Delivery.objects.values_list("id", flat=True)), now=now
    )
    assert set(statuses.values()) == {"sent"}
    assert set(Timeslot.objects.values_list("status", flat=True)) == {"published"}
    # A second run of the same chunk (a redelivered message) claims nothing.
    again = publishing.deliveries_send(
        delivery_ids=list(Delivery.objects.values_list("id", flat=True)), now=now
    )
    assert again == {}
    assert SandboxPost.objects.count() == 3


@pytest.mark.django_db
def test_settling_leaves_a_slot_without_deliveries_and_one_not_all_sent():
    """Closed as published only with deliveries, every one sent: a publishing slot with
    none yet stays publishing, and one with an unfinished delivery waits for it."""
    from publishing.settle import timeslots_settle

    channel = ChannelFactory()
    now = timezone.now()
    empty, waiting, done = (due_slot(channel, now + dt.timedelta(seconds=i)) for i in range(3))
    account = channel.accounts.get()
    Timeslot.objects.filter(id__in=[empty.id, waiting.id, done.id]).update(status="publishing")
    Delivery.objects.create(timeslot=waiting, account=account, text="t", status="sent")
    Delivery.objects.create(
        timeslot=waiting, account=SocialAccountFactory(workspace=channel.workspace), text="t"
    )
    Delivery.objects.create(timeslot=done, account=account, text="t", status="sent")

    assert timeslots_settle(timeslot_ids=[empty.id, waiting.id, done.id], now=now) == 1
    status = dict(Timeslot.objects.values_list("id", "status"))
    assert status == {empty.id: "publishing", waiting.id: "publishing", done.id: "published"}


# --- Upgrades: messages of the first engine ---------------------------------------------------


@pytest.mark.worker
def test_old_format_message_is_still_published_once(worker):
    channel = ChannelFactory()
    QueueEntryFactory(channel=channel)
    at = soon(1.5)
    slot = due_slot(channel, at)
    # The first engine's per-slot message, twice (a redelivery), and the new batch message.
    for _ in range(2):
        celery_app.send_task("publishing.publish_timeslot", args=(slot.id, str(slot.token)), eta=at)
    enqueue.send_now([message(slot)])
    wait_for(lambda: len(_outcomes.get(slot.id, [])) >= 3, what="all three messages to run")
    assert sorted(_outcomes[slot.id]).count("dispatched") == 1
    wait_for(lambda: Timeslot.objects.get(id=slot.id).status == Timeslot.Status.PUBLISHED)
    assert SandboxPost.objects.count() == 1


@pytest.mark.worker
def test_old_format_deliver_message_still_sends(worker):
    channel = ChannelFactory()
    QueueEntryFactory(channel=channel)
    now = timezone.now()
    slot = due_slot(channel, now)
    with pytest.MonkeyPatch.context() as mp:
        # Keep the new chunk message off the broker: only the old one should send it.
        mp.setattr("publishing.delivery.dispatch", lambda ids, eta=None: None)
        publishing.timeslots_publish(pairs=[(slot.id, str(slot.token))], now=now)
    delivery = Delivery.objects.get(timeslot=slot)
    celery_app.send_task("publishing.deliver", args=(delivery.id,))
    wait_for(lambda: Delivery.objects.get(id=delivery.id).status == "sent")
    wait_for(lambda: Timeslot.objects.get(id=slot.id).status == Timeslot.Status.PUBLISHED)


# --- Planner fan-out --------------------------------------------------------------------------


@pytest.mark.worker
def test_planner_fans_out_in_chunks_and_moves_the_watermark_once(worker):
    at = (timezone.now() + dt.timedelta(minutes=10)).replace(second=0, microsecond=0)
    for _ in range(5):
        channel = ChannelFactory()
        ScheduleFactory(channel=channel, recurrence=rule(f"RDATE:{at:%Y%m%dT%H%M%S}"))
    now = timezone.now()
    with override_settings(PLANNER_CHUNK_SIZE=2):
        assert planner.planner_fan_out(now=now) == 3
    # The fan-in moves the watermark, then enqueues the window: wait for the second step
    # (checking right after the first raced it on a loaded CI machine).
    wait_for(
        lambda: (
            PlannerState.objects.filter(last_run_at=now).exists()
            and Timeslot.objects.exclude(enqueued_at=None).count() == 5
        ),
        what="the last chunk to finish the run and enqueue its slots",
    )
    state = PlannerState.objects.get()
    assert state.last_run_created == 5
    assert state.planned_until == now + dt.timedelta(minutes=75)
    assert Timeslot.objects.filter(status="scheduled").exclude(enqueued_at=None).count() == 5
    # A chunk run again (its message redelivered) plans nothing and changes no watermark.
    chunk = PlannerChunk.objects.filter(run_at=now).first()
    again = planner.planner_chunk_run(chunk_id=chunk.id)
    assert again.created == 0
    assert PlannerState.objects.get().last_run_at == now
    assert Timeslot.objects.count() == 5


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


# --- The queue rule in bulk ---------------------------------------------------------------------


def test_queue_entries_are_used_once_per_slot_in_bulk(db):
    channel = ChannelFactory(mode="once")
    entries = [QueueEntryFactory(channel=channel, position=i) for i in range(3)]
    now = timezone.now()
    slots = [due_slot(channel, now) for _ in range(2)]
    with time_machine.travel(now, tick=False):
        publishing.timeslots_publish(pairs=[(s.id, str(s.token)) for s in slots], now=now)
    used = list(QueueEntry.objects.order_by("position").values_list("is_active", "times_published"))
    assert used == [(False, 1), (False, 1), (True, 0)]
    assert {s.published_post_id for s in Timeslot.objects.all()} == {e.post_id for e in entries[:2]}


def test_foreign_workspace_post_is_never_published_in_a_channel(db):
    channel = ChannelFactory()
    foreign = PostFactory()  # another workspace
    QueueEntry.objects.create(channel=channel, post=foreign, position=0)
    own = QueueEntryFactory(channel=channel, position=5).post
    now = timezone.now()
    slot = due_slot(channel, now)
    pinned = due_slot(channel, now, post=foreign)
    outcomes = publishing.timeslots_publish(
        pairs=[(slot.id, str(slot.token)), (pinned.id, str(pinned.token))], now=now
    )
    slot.refresh_from_db()
    pinned.refresh_from_db()
    assert outcomes[slot.id] == "dispatched" and slot.published_post_id == own.id
    assert outcomes[pinned.id] == "failed" and "another workspace" in pinned.reason


# --- A failed slot does not spend its post (issue 11, item 4) ---------------------------------


def _failing_webhook_channel(mode: str):
    channel = ChannelFactory(with_sandbox=False, mode=mode)
    account = SocialAccountFactory(
        workspace=channel.workspace,
        provider="webhook",
        handle="hook",
        credentials={"url": "", "secret": ""},  # refused for good: Rejected, nothing sent
    )
    channel.accounts.add(account)
    return channel


@pytest.mark.parametrize("mode", ["loop", "once"])
def test_failed_slot_gives_its_post_back(db, mode):
    channel = _failing_webhook_channel(mode)
    first = QueueEntryFactory(channel=channel, position=1)
    QueueEntryFactory(channel=channel, position=2)
    now = timezone.now()
    predicted = selectors.upcoming_for_channel(channel=channel, now=now)
    slot = due_slot(channel, now)
    with time_machine.travel(now, tick=False):
        publishing.timeslots_publish(pairs=[(slot.id, str(slot.token))], now=now)
        publishing.deliveries_send(
            delivery_ids=list(Delivery.objects.values_list("id", flat=True)), now=now
        )
    slot.refresh_from_db()
    assert slot.status == Timeslot.Status.FAILED
    first.refresh_from_db()
    # Not used: still active (once), not moved to the back (loop), count unchanged.
    assert (first.is_active, first.times_published, first.last_published_at) == (True, 0, None)
    # The next slot takes the same post again, and the UI predicted exactly that post.
    assert selectors.upcoming_for_channel(channel=channel, now=now)[0].post == first.post
    assert predicted == [] or predicted[0].post in (None, first.post)


@pytest.mark.parametrize("mode", ["loop", "once"])
def test_slot_without_accounts_does_not_spend_its_post(db, mode):
    channel = ChannelFactory(with_sandbox=False, mode=mode)
    entry = QueueEntryFactory(channel=channel)
    now = timezone.now()
    slot = due_slot(channel, now)
    publishing.timeslots_publish(pairs=[(slot.id, str(slot.token))], now=now)
    slot.refresh_from_db()
    entry.refresh_from_db()
    assert slot.status == Timeslot.Status.FAILED
    assert (entry.is_active, entry.times_published) == (True, 0)


def test_partly_published_slot_keeps_the_use(db, receivers):
    channel = _failing_webhook_channel("once")
    channel.accounts.add(SocialAccountFactory(workspace=channel.workspace))  # sandbox: works
    entry = QueueEntryFactory(channel=channel)
    now = timezone.now()
    slot = due_slot(channel, now)
    publishing.timeslots_publish(pairs=[(slot.id, str(slot.token))], now=now)
    publishing.deliveries_send(
        delivery_ids=list(Delivery.objects.values_list("id", flat=True)), now=now
    )
    slot.refresh_from_db()
    entry.refresh_from_db()
    assert slot.status == Timeslot.Status.PARTIAL
    assert (entry.is_active, entry.times_published) == (False, 1)


# --- One archive service (issue 11, item 5) -----------------------------------------------------


def test_archiving_through_the_web_form_and_the_api_cancels_pinned_slots(client, db):
    from accounts.models import ApiToken
    from tests.factories import MembershipFactory

    member = MembershipFactory()
    channel = ChannelFactory(workspace=member.workspace)
    client.force_login(member.user)
    token = ApiToken.objects.create(user=member.user)
    later = timezone.now() + dt.timedelta(days=1)
    for via in ("web", "api"):
        post = PostFactory(workspace=member.workspace)
        slot = scheduling.timeslot_pin(post=post, channel=channel, publish_at=later)
        if via == "web":
            response = client.post(
                f"/posts/{post.id}/",
                {"text": post.text, "status": "archived", "expires_at": ""},
            )
            assert response.status_code in (200, 302), response.content[:500]
        else:
            response = client.delete(
                f"/api/v1/posts/{post.id}/", HTTP_AUTHORIZATION=f"Token {token.key}"
            )
            assert response.status_code in (200, 204), response.content[:500]
        slot.refresh_from_db()
        post.refresh_from_db()
        assert post.status == "archived", via
        assert slot.status == Timeslot.Status.CANCELED, via
        assert slot.reason == "Canceled: the post was archived.", via


# --- Structured logs: one line per publish step (issue 11, item 6) -----------------------------


def test_each_publish_step_logs_one_event_with_its_ids(db, caplog):
    import logging

    channel = ChannelFactory()
    QueueEntryFactory(channel=channel)
    now = timezone.now()
    slot = due_slot(channel, now)
    stale = due_slot(channel, now)
    with caplog.at_level(logging.INFO, logger="queueloop.events"):
        publishing.timeslots_publish(
            pairs=[(slot.id, str(slot.token)), (stale.id, str(uuid.uuid4()))], now=now
        )
        publishing.deliveries_send(
            delivery_ids=list(Delivery.objects.values_list("id", flat=True)), now=now
        )
    steps = [(r.event, getattr(r, "timeslot_id", None)) for r in caplog.records]
    assert ("claimed", slot.id) in steps
    assert ("stale", stale.id) in steps
    sent = [r for r in caplog.records if r.event == "delivery_sent"]
    assert [r.timeslot_id for r in sent] == [slot.id]
    assert sent[0].lateness_ms >= 0 and sent[0].provider == "sandbox"
    claimed = next(r for r in caplog.records if r.event == "claimed")
    assert claimed.workspace_id == channel.workspace_id
    assert any(r.event == "settled" and r.status == "published" for r in caplog.records)


@pytest.mark.django_db(transaction=True)
def test_x_delivery_claimed_but_never_begun_is_sent_again_not_unconfirmed(broker):
    """At most once without false alarms: a chunk claims its deliveries at once but begins
    each X call only when its lane gets there. A worker that dies in between never called
    X for the rest: recovery sends those again; only a begun call becomes unconfirmed."""
    channel = ChannelFactory(with_sandbox=False)
    for handle in ("begun", "waiting"):
        channel.accounts.add(
            SocialAccountFactory(workspace=channel.workspace, provider="x", handle=handle)
        )
    QueueEntryFactory(channel=channel)
    now = timezone.now()
    slot = due_slot(channel, now)
    publishing.timeslots_publish(pairs=[(slot.id, str(slot.token))], now=now)
    # The chunk claimed both, began the first call, and the worker died.
    Delivery.objects.update(status="sending", claimed_at=now, attempts=1)
    Delivery.objects.filter(account__handle="begun").update(sending_started_at=now)
    broker.purge()
    later = now + dt.timedelta(minutes=3)
    result = publishing.deliveries_recover(now=later)
    begun = Delivery.objects.get(account__handle="begun")
    waiting = Delivery.objects.get(account__handle="waiting")
    assert (begun.status, waiting.status) == ("unconfirmed", "pending")
    assert result.unconfirmed == 1 and result.redispatched == 1
    sent_again = [
        m["args"][0] for m in broker.messages() if m["task"] == "publishing.deliver_batch"
    ]
    assert sent_again == [[waiting.id]]


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
