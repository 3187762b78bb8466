"""The emergency stop and the calls themselves (publishing/stopping/services.py): no call
of the scope begins after the stop, a call begun before it is waited for so the cutoff
follows its answer, and first comments still due are not sent."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.utils import timezone

from publishing import services as publishing
from publishing.delivery import NOT_SENT_STOPPED
from publishing.models import Delivery, SandboxPost
from publishing.stop_answer import in_flight
from publishing.stopping.services import publishing_stop
from scheduling import stops
from scheduling.models import Stop
from tests.factories import ChannelFactory, PostFactory, XAccountFactory
from tests.networks import fake_x as x_fakes
from tests.publishing.slots import due_slot

fake_x = x_fakes.fake_x
C = Delivery.CommentStatus


def _claimed(channel, **post_fields) -> Delivery:
    """A slot claimed (its delivery made, `pending`), as a batch leaves it."""
    post = PostFactory(workspace=channel.workspace, **post_fields)
    slot = due_slot(channel, timezone.now(), post=post)
    publishing.timeslots_publish(pairs=[(slot.id, str(slot.token))])
    return Delivery.objects.get(timeslot=slot)


@pytest.mark.django_db
def test_no_call_begins_under_a_stop_in_force():
    """A delivery made pending after the stop (as read-back's resend makes one) reaches
    the chunk, whose begin UPDATE sees the stop: failed, nothing sent."""
    channel = ChannelFactory()
    stops.publishing_stop(workspace=channel.workspace, label="ops")
    delivery = _claimed(ChannelFactory(workspace=channel.workspace))

    statuses = publishing.deliveries_send(delivery_ids=[delivery.id])

    delivery.refresh_from_db()
    assert statuses == {delivery.id: Delivery.Status.FAILED}
    assert (delivery.status, delivery.last_error) == ("failed", NOT_SENT_STOPPED)
    assert not SandboxPost.objects.exists()


@pytest.mark.django_db
def test_another_workspaces_calls_go_on():
    stopped, running = ChannelFactory(), ChannelFactory()
    stops.publishing_stop(workspace=stopped.workspace, label="ops")
    delivery = _claimed(running)

    publishing.deliveries_send(delivery_ids=[delivery.id])

    assert Delivery.objects.get(id=delivery.id).status == Delivery.Status.SENT
    assert SandboxPost.objects.count() == 1


@pytest.mark.django_db
def test_on_a_network_that_is_not_idempotent_no_call_begins_either(fake_x):
    """X's calls begin one by one in their lane (publishing/lanes.py): the same check."""
    keys = fake_x.issue_oauth1_keys("1001")
    account = XAccountFactory(handle="queueloop", credentials={"auth": "oauth1", **keys})
    stops.publishing_stop(workspace=None, label="ops (the instance)")
    channel = ChannelFactory(workspace=account.workspace, with_sandbox=False)  # made after
    channel.accounts.add(account)
    delivery = _claimed(channel)

    publishing.deliveries_send(delivery_ids=[delivery.id])

    delivery.refresh_from_db()
    assert (delivery.status, delivery.last_error) == ("failed", NOT_SENT_STOPPED)
    assert fake_x.calls_to("POST", "/2/tweets") == []


@pytest.mark.django_db
def test_a_first_comment_still_due_is_not_sent():
    channel = ChannelFactory()
    delivery = _claimed(channel, text="Launch", first_comment="#later")
    Delivery.objects.filter(id=delivery.id).update(
        status=Delivery.Status.SENT, sent_at=timezone.now(), comment_status=C.DUE
    )
    stops.publishing_stop(workspace=channel.workspace, label="ops")

    # The comment's message, after the stop: its claim sees the stop.
    assert publishing.comments_send(delivery_ids=[delivery.id]) == {}
    assert Delivery.objects.get(id=delivery.id).comment_status == C.DUE


@pytest.mark.django_db(transaction=True)
def test_the_stop_fails_due_comments_and_waits_for_a_call_under_way():
    """Outside a transaction the stop drains: a call begun before it is waited for, and
    the cutoff is read after its answer was recorded — so after the arrival."""
    channel = ChannelFactory()
    begun = _claimed(channel)
    Delivery.objects.filter(id=begun.id).update(
        status=Delivery.Status.SENDING, sending_started_at=timezone.now()
    )
    commented = _claimed(channel, first_comment="#later")
    Delivery.objects.filter(id=commented.id).update(
        status=Delivery.Status.SENT, sent_at=timezone.now(), comment_status=C.DUE
    )
    answered: dict = {}

    def worker_answers():
        # The worker's side: its call is answered once the stop has committed.
        try:
            while not Stop.objects.exists():
                pass
            Delivery.objects.filter(id=begun.id).update(
                status=Delivery.Status.SENT, sent_at=timezone.now()
            )
            answered["at"] = timezone.now()
        finally:
            connection.close()

    thread = threading.Thread(target=worker_answers)
    thread.start()
    stop = publishing_stop(workspace=channel.workspace, label="ops")
    thread.join(30)

    assert stop.cutoff_at >= answered["at"]
    assert begun.timeslot_id in stop.claimed_before
    assert in_flight(stop) == []
    commented.refresh_from_db()
    assert commented.comment_status == C.FAILED and "stopped" in commented.comment_error


@pytest.mark.django_db(transaction=True)
def test_a_call_that_outlives_the_drain_is_listed_in_flight(settings):
    settings.STOP_DRAIN = timezone.timedelta(0)
    channel = ChannelFactory()
    begun = _claimed(channel)
    Delivery.objects.filter(id=begun.id).update(
        status=Delivery.Status.SENDING, sending_started_at=timezone.now()
    )

    stop = publishing_stop(workspace=channel.workspace, label="ops")

    assert [d.delivery_id for d in in_flight(stop)] == [begun.id]
