"""The webhook provider against a real local HTTP receiver."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import threading

import pytest
import time_machine
from django.test import Client, override_settings

from publishing import services
from publishing.models import Delivery
from scheduling.models import Timeslot
from tests.factories import ChannelFactory, QueueEntryFactory, ScheduleFactory, SocialAccountFactory
from tests.receiver import Receiver

UTC = dt.UTC
T0 = dt.datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
SECRET = "whsec-test-0123456789"


@pytest.fixture
def receiver():
    r = Receiver().start()
    yield r
    r.stop()


def webhook_channel(receiver, *, sandbox: bool = False):
    channel = ChannelFactory(with_sandbox=sandbox, slug="tech")
    account = SocialAccountFactory(
        workspace=channel.workspace,
        provider="webhook",
        handle="hook",
        credentials={"url": receiver.url, "secret": SECRET},
    )
    channel.accounts.add(account)
    QueueEntryFactory(channel=channel, post__text="Hello from Queue Loop")
    return channel, account


def publish(channel) -> Timeslot:
    slot = Timeslot.objects.create(
        channel=channel, schedule=ScheduleFactory(channel=channel), publish_at=T0, planned_for=T0
    )
    with time_machine.travel(T0, tick=False):
        services.timeslot_publish(timeslot_id=slot.id, token=str(slot.token))
    return slot


def send_all(slot, at=T0):
    with time_machine.travel(at, tick=False):
        for delivery in Delivery.objects.filter(timeslot=slot):
            services.delivery_send(delivery_id=delivery.id)


@pytest.mark.django_db
def test_webhook_posts_signed_json_with_the_idempotency_key(receiver):
    channel, _ = webhook_channel(receiver)
    slot = publish(channel)
    send_all(slot)
    delivery = Delivery.objects.get(timeslot=slot)
    assert delivery.status == Delivery.Status.SENT
    [request] = receiver.requests
    assert request.key == str(delivery.id)
    assert request.payload == {
        "text": "Hello from Queue Loop",
        "post_id": delivery.post_id,
        "timeslot_id": slot.id,
        "delivery_id": delivery.id,
        "channel": "tech",
        "account": "hook",
        "images": [],
        "thread_parts": [],
    }
    # The documented recipe, computed independently of our code.
    expected = "sha256=" + hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.signature == expected
    slot.refresh_from_db()
    assert slot.status == Timeslot.Status.PUBLISHED


@pytest.mark.django_db
def test_server_error_is_retried_with_backoff_then_sent(receiver):
    channel, _ = webhook_channel(receiver)
    slot = publish(channel)
    receiver.status = 503
    send_all(slot)
    delivery = Delivery.objects.get(timeslot=slot)
    assert delivery.status == Delivery.Status.PENDING
    assert delivery.next_attempt_at == T0 + dt.timedelta(seconds=5)
    assert "503" in delivery.last_error
    # Too early: the retry is refused until next_attempt_at.
    send_all(slot, at=T0 + dt.timedelta(seconds=2))
    assert len(receiver.requests) == 1
    receiver.status = 200
    send_all(slot, at=T0 + dt.timedelta(seconds=6))
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SENT and delivery.attempts == 2
    assert set(receiver.keys()) == {str(delivery.id)}


@pytest.mark.django_db
@override_settings(WEBHOOK_HTTP_TIMEOUT=0.5)
def test_call_that_timed_out_is_resent_with_the_same_key_and_acted_on_once(receiver):
    channel, _ = webhook_channel(receiver)
    slot = publish(channel)
    receiver.hang = threading.Event()  # the receiver got the request but never answered
    send_all(slot)
    delivery = Delivery.objects.get(timeslot=slot)
    assert delivery.status == Delivery.Status.PENDING  # idempotent: safe to send again
    receiver.hang.set()
    receiver.hang = None
    send_all(slot, at=T0 + dt.timedelta(seconds=10))
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SENT
    assert receiver.keys() == [str(delivery.id)] * 2
    assert list(receiver.acted_on) == [str(delivery.id)]


@pytest.mark.django_db
def test_refused_post_fails_and_one_of_two_failing_makes_the_slot_partial(receiver):
    channel, _ = webhook_channel(receiver, sandbox=True)
    receiver.status = 422
    slot = publish(channel)
    send_all(slot)
    slot.refresh_from_db()
    assert slot.status == Timeslot.Status.PARTIAL
    assert "HTTP 422" in slot.reason
    statuses = dict(Delivery.objects.values_list("account__provider", "status"))
    assert statuses == {"webhook": "failed", "sandbox": "sent"}


@pytest.mark.django_db
def test_retries_stop_at_missed_after_with_a_reason(receiver):
    channel, _ = webhook_channel(receiver)
    receiver.status = 500
    slot = publish(channel)
    send_all(slot, at=T0 + dt.timedelta(minutes=29, seconds=58))
    delivery = Delivery.objects.get(timeslot=slot)
    assert delivery.status == Delivery.Status.FAILED
    assert "too late" in delivery.last_error
    slot.refresh_from_db()
    assert slot.status == Timeslot.Status.FAILED and "too late" in slot.reason


@pytest.mark.django_db
def test_images_go_as_absolute_urls_with_their_alt_text(receiver, settings, tmp_path):
    from tests.posts.test_images import add_image, png

    # Through the `settings` fixture, never @override_settings beside it: the fixture's undo
    # would restore the decorator's values after the decorator ended (a leak into later tests).
    settings.PUBLIC_BASE_URL = "https://queueloop.example.com"
    settings.MEDIA_ROOT = tmp_path / "media"
    channel, _ = webhook_channel(receiver)
    post = channel.entries.get().post
    image = add_image(post=post, data=png(), filename="a.png", alt_text="A blue square")
    slot = publish(channel)
    send_all(slot)
    [request] = receiver.requests
    [sent] = request.payload["images"]
    url = sent.pop("url")
    assert sent == {
        "alt_text": "A blue square",
        "content_type": "image/png",
        "width": 32,
        "height": 32,
    }
    # An absolute, signed URL that the receiver can fetch without a session (here through
    # the test client: the web app is not listening), until MEDIA_FETCH_URL_MAX_AGE ends.
    base, query = url.split("?")
    assert base == f"https://queueloop.example.com/media/{image.file.name}"
    assert "e=" in query and "s=" in query
    path = url.removeprefix("https://queueloop.example.com")
    fetch_until = T0 + dt.timedelta(seconds=settings.MEDIA_FETCH_URL_MAX_AGE)
    with time_machine.travel(fetch_until - dt.timedelta(seconds=1), tick=False):
        fetched = Client().get(path)
        assert fetched.status_code == 200
        assert b"".join(fetched.streaming_content) == image.file.open("rb").read()
    with time_machine.travel(fetch_until + dt.timedelta(hours=3), tick=False):
        assert Client().get(path).status_code == 403
    assert Client().get(base.removeprefix("https://queueloop.example.com")).status_code == 403


@pytest.mark.django_db
def test_a_threads_later_parts_are_copied_to_the_delivery_and_sent(receiver):
    channel, _ = webhook_channel(receiver)
    post = channel.entries.get().post
    post.thread_parts = ["Part two", "Part three"]
    post.save()
    slot = publish(channel)
    send_all(slot)
    [request] = receiver.requests
    assert request.payload["thread_parts"] == ["Part two", "Part three"]
    post.thread_parts = ["Edited after the slot ran"]
    post.save()
    assert Delivery.objects.get(timeslot=slot).thread_parts == ["Part two", "Part three"]


@pytest.mark.django_db
def test_images_without_a_public_base_url_fail_with_the_setting_to_set(
    receiver, settings, tmp_path
):
    from tests.posts.test_images import add_image, png

    settings.PUBLIC_BASE_URL = ""
    settings.MEDIA_ROOT = tmp_path / "media"
    channel, _ = webhook_channel(receiver)
    add_image(post=channel.entries.get().post, data=png(), filename="a.png")
    slot = publish(channel)
    send_all(slot)
    delivery = Delivery.objects.get(timeslot=slot)
    assert delivery.status == Delivery.Status.FAILED
    assert "PUBLIC_BASE_URL" in delivery.last_error
    assert receiver.requests == []


def _chunk_queries(receiver, tmp_path, settings, k: int) -> int:
    """Queries of one delivery chunk sending k posts, each with an image and a variation,
    through one webhook account (one lane: run in this thread, so every query is seen)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from posts.models import Variation
    from tests.posts.test_images import add_image, png

    settings.MEDIA_ROOT = tmp_path / f"media-{k}"
    first, account = webhook_channel(receiver)
    slots = []
    for i in range(k):
        channel = first if i == 0 else ChannelFactory(workspace=first.workspace, with_sandbox=False)
        if i:
            channel.accounts.add(account)
            QueueEntryFactory(channel=channel, post__text=f"Post {i}")
        post = channel.entries.get().post
        Variation.objects.create(post=post, text=f"Variation of {i}", position=1)
        add_image(post=post, data=png(), filename="a.png", alt_text=f"Image {i}")
        slots.append(publish(channel))
    ids = list(Delivery.objects.filter(timeslot__in=slots).values_list("id", flat=True))
    with time_machine.travel(T0, tick=False), CaptureQueriesContext(connection) as queries:
        services.deliveries_send(delivery_ids=ids)
    assert len(receiver.requests) == k
    assert all(r.payload["images"] for r in receiver.requests)
    receiver.requests.clear()
    return len(queries)


@pytest.mark.django_db
def test_a_chunks_queries_do_not_grow_with_its_posts_images(receiver, settings, tmp_path):
    """The chunk loads every post's images in one query (providers.delivery_images reads
    them), not one per delivery."""
    settings.PUBLIC_BASE_URL = "https://queueloop.example.com"
    two = _chunk_queries(receiver, tmp_path, settings, 2)
    Delivery.objects.all().delete()
    Timeslot.objects.all().delete()
    assert _chunk_queries(receiver, tmp_path, settings, 5) == two
