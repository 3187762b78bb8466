"""Problems at once (issue 13, item 3): a delivery that failed an attempt shows on the
dashboard and the Accounts page with what happens next, and each button does what it
says without ever re-sending something that may have gone out."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Membership
from channels.models import QueueEntry
from publishing import services
from publishing.models import Delivery
from scheduling.models import Timeslot
from tests.factories import (
    ChannelFactory,
    DeliveryFactory,
    MembershipFactory,
    QueueEntryFactory,
    ScheduleFactory,
    SocialAccountFactory,
    TimeslotFactory,
)
from tests.receiver import Receiver

pytestmark = pytest.mark.django_db

UTC = dt.UTC
T0 = dt.datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def receiver():
    r = Receiver(status=500).start()
    yield r
    r.stop()


@pytest.fixture
def setup(receiver, client):
    channel = ChannelFactory(with_sandbox=False, slug="tech", timezone="UTC")
    account = SocialAccountFactory(
        workspace=channel.workspace,
        provider="webhook",
        handle="hook",
        credentials={"url": receiver.url, "secret": "whsec-test-0123456789"},
    )
    channel.accounts.add(account)
    entry = QueueEntryFactory(channel=channel, post__text="Hello from Queue Loop")
    member = MembershipFactory(workspace=channel.workspace, role=Membership.Role.EDITOR)
    client.force_login(member.user)
    return {"channel": channel, "account": account, "entry": entry, "client": client}


def publish(channel) -> Timeslot:
    slot = Timeslot.objects.create(
        channel=channel, schedule=ScheduleFactory(channel=channel), publish_at=T0, planned_for=T0
    )
    with time_machine.travel(T0, tick=False):
        services.timeslot_publish(timeslot_id=slot.id, token=str(slot.token))
    return slot


def attempt(slot, at=T0):
    with time_machine.travel(at, tick=False):
        for d in Delivery.objects.filter(timeslot=slot):
            services.delivery_send(delivery_id=d.id)


def test_failing_webhook_shows_on_the_dashboard_after_one_attempt(setup, receiver):
    slot = publish(setup["channel"])
    attempt(slot)  # one real call to a receiver that answers 500
    assert len(receiver.requests) == 1
    with time_machine.travel(T0 + dt.timedelta(seconds=1), tick=False):
        page = setup["client"].get(reverse("dashboard")).content.decode()
    assert "All good" not in page
    assert "retrying, next try at 09:00 UTC, attempt 2 of 11" in page
    assert "Last error: The webhook answered 500." in page
    assert "Retry now" in page and "Give up" in page


def test_retry_now_lets_the_next_claim_send_it_at_once(setup, receiver):
    slot = publish(setup["channel"])
    attempt(slot)
    d = Delivery.objects.get(timeslot=slot)
    assert d.next_attempt_at == T0 + dt.timedelta(seconds=5)
    receiver.status = 200
    with time_machine.travel(T0 + dt.timedelta(seconds=1), tick=False):
        r = setup["client"].post(reverse("delivery_retry_now", args=[d.id]))
        assert r.status_code == 302
        d.refresh_from_db()
        assert d.next_attempt_at is None
        services.delivery_send(delivery_id=d.id)  # what the dispatched message does
    d.refresh_from_db()
    slot.refresh_from_db()
    assert d.status == Delivery.Status.SENT and slot.status == Timeslot.Status.PUBLISHED
    assert len(receiver.requests) == 2


def test_give_up_fails_the_delivery_settles_the_slot_and_gives_the_post_back(setup):
    slot = publish(setup["channel"])
    attempt(slot)
    d = Delivery.objects.get(timeslot=slot)
    assert QueueEntry.objects.get().times_published == 1
    r = setup["client"].post(reverse("delivery_give_up", args=[d.id]))
    assert r.status_code == 302
    d.refresh_from_db()
    slot.refresh_from_db()
    assert d.status == Delivery.Status.FAILED and "Given up by" in d.last_error
    assert slot.status == Timeslot.Status.FAILED
    assert QueueEntry.objects.get().times_published == 0  # nothing went out
    # A second click finds nothing waiting: it says so and changes nothing.
    r = setup["client"].post(reverse("delivery_give_up", args=[d.id]), follow=True)
    assert "nothing was changed" in r.content.decode()


def test_failed_delivery_retry_reopens_the_slot_and_takes_the_post_again(setup, receiver):
    slot = publish(setup["channel"])
    attempt(slot)
    d = Delivery.objects.get(timeslot=slot)
    setup["client"].post(reverse("delivery_give_up", args=[d.id]))
    assert QueueEntry.objects.get().times_published == 0
    with time_machine.travel(T0 + dt.timedelta(minutes=1), tick=False):
        page = setup["client"].get(reverse("dashboard")).content.decode()
    assert reverse("delivery_retry", args=[d.id]) in page
    r = setup["client"].post(reverse("delivery_retry", args=[d.id]))
    assert r.status_code == 302
    slot.refresh_from_db()
    d.refresh_from_db()
    assert slot.status == Timeslot.Status.PUBLISHING and d.status == Delivery.Status.PENDING
    assert QueueEntry.objects.get().times_published == 1
    receiver.status = 200
    attempt(slot, at=T0 + dt.timedelta(minutes=1))
    slot.refresh_from_db()
    assert slot.status == Timeslot.Status.PUBLISHED
    assert QueueEntry.objects.get().times_published == 1


def _unconfirmed(channel, *, sent_too: bool = False):
    entry = QueueEntry.objects.filter(channel=channel).first()
    slot = TimeslotFactory(
        channel=channel,
        publish_at=T0,
        status=Timeslot.Status.PARTIAL if sent_too else Timeslot.Status.FAILED,
        entry_use={"entry": entry.id, "at": T0.isoformat(), "last": None, "active": True},
    )
    QueueEntry.objects.filter(id=entry.id).update(times_published=1, last_published_at=T0)
    d = DeliveryFactory(
        timeslot=slot,
        account=channel.accounts.get(),
        status=Delivery.Status.UNCONFIRMED,
        last_error="Timed out mid-call: it may or may not have posted. Check the account.",
    )
    if sent_too:
        DeliveryFactory(timeslot=slot, status=Delivery.Status.SENT)
    return slot, d


def test_mark_sent_settles_the_slot_published(setup):
    slot, d = _unconfirmed(setup["channel"])
    page = setup["client"].get(reverse("dashboard")).content.decode()
    assert "Mark sent" in page and "Mark failed" in page and "Retry now" not in page
    setup["client"].post(reverse("delivery_mark_sent", args=[d.id]))
    d.refresh_from_db()
    slot.refresh_from_db()
    assert d.status == Delivery.Status.SENT and "after checking" in d.last_error
    assert slot.status == Timeslot.Status.PUBLISHED and slot.reason == ""
    assert QueueEntry.objects.get().times_published == 1


def test_mark_failed_settles_the_slot_failed_and_gives_the_post_back(setup):
    slot, d = _unconfirmed(setup["channel"])
    setup["client"].post(reverse("delivery_mark_failed", args=[d.id]))
    d.refresh_from_db()
    slot.refresh_from_db()
    assert d.status == Delivery.Status.FAILED
    assert slot.status == Timeslot.Status.FAILED and "Marked not sent" in slot.reason
    assert QueueEntry.objects.get().times_published == 0


def test_mark_failed_with_another_sent_keeps_the_slot_partial_and_the_use(setup):
    slot, d = _unconfirmed(setup["channel"], sent_too=True)
    setup["client"].post(reverse("delivery_mark_failed", args=[d.id]))
    slot.refresh_from_db()
    assert slot.status == Timeslot.Status.PARTIAL
    assert QueueEntry.objects.get().times_published == 1


def test_unconfirmed_is_never_retried_without_a_mark(setup):
    _slot, d = _unconfirmed(setup["channel"])
    for name in ("delivery_retry_now", "delivery_retry", "delivery_give_up"):
        setup["client"].post(reverse(name, args=[d.id]))
        d.refresh_from_db()
        assert d.status == Delivery.Status.UNCONFIRMED, name


@pytest.mark.parametrize("role", [Membership.Role.VIEWER, Membership.Role.APPROVER])
def test_viewers_get_403_and_other_workspaces_404(setup, client, role):
    _slot, d = _unconfirmed(setup["channel"])
    viewer = MembershipFactory(workspace=setup["channel"].workspace, role=role)
    client.force_login(viewer.user)
    assert "Mark sent" not in client.get(reverse("dashboard")).content.decode()
    assert client.post(reverse("delivery_mark_sent", args=[d.id])).status_code == 403
    stranger = MembershipFactory(role=Membership.Role.OWNER)
    client.force_login(stranger.user)
    assert client.post(reverse("delivery_mark_sent", args=[d.id])).status_code == 404
    d.refresh_from_db()
    assert d.status == Delivery.Status.UNCONFIRMED


def test_accounts_page_marks_a_failing_account_and_lists_the_problem(setup):
    slot = publish(setup["channel"])
    attempt(slot)
    with time_machine.travel(T0 + dt.timedelta(seconds=1), tick=False):
        page = setup["client"].get(reverse("account_list")).content.decode()
    assert "Recent attempts fail" in page and "The webhook answered 500." in page
    assert "Retry now" in page


def _dashboard_queries(client) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(reverse("dashboard")).status_code == 200
    return len(ctx.captured_queries)


def test_dashboard_queries_do_not_grow_with_problems(setup):
    channel = setup["channel"]
    _unconfirmed(channel)
    few = _dashboard_queries(setup["client"])
    for status in ("unconfirmed", "failed", "pending"):
        for _ in range(4):
            DeliveryFactory(
                timeslot=TimeslotFactory(channel=channel, status=Timeslot.Status.PARTIAL),
                status=status,
                last_error="boom",
            )
    assert _dashboard_queries(setup["client"]) == few


def test_accounts_page_queries_do_not_grow_with_problems(setup):
    channel = setup["channel"]
    _unconfirmed(channel)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert setup["client"].get(reverse("account_list")).status_code == 200
        return len(ctx.captured_queries)

    few = count()
    for n in range(4):
        account = SocialAccountFactory(workspace=channel.workspace, handle=f"more{n}")
        DeliveryFactory(
            timeslot=TimeslotFactory(channel=channel, status=Timeslot.Status.FAILED),
            account=account,
            status="failed",
            last_error="boom",
        )
    assert count() == few


def test_a_partly_sent_thread_is_a_problem_and_a_mark_keeps_its_slot_partial(setup):
    """A thread cut short (a delivery `partial`) shows on the dashboard; marking another
    delivery of its slot settles the slot by the engine's rule: partial, the use kept."""
    slot, d = _unconfirmed(setup["channel"])
    DeliveryFactory(
        timeslot=slot,
        status=Delivery.Status.PARTIAL,
        last_error="Part 2 of 3 refused by X; part 1 went out.",
    )
    with time_machine.travel(T0 + dt.timedelta(minutes=5), tick=False):
        page = setup["client"].get(reverse("dashboard")).content.decode()
    assert "Partly sent: the thread stopped" in page
    setup["client"].post(reverse("delivery_mark_failed", args=[d.id]))
    slot.refresh_from_db()
    assert slot.status == Timeslot.Status.PARTIAL
    assert QueueEntry.objects.get().times_published == 1
