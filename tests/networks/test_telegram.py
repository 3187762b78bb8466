"""Telegram at its HTTP boundary: publishing, its errors and the account check against a fake
Bot API on 127.0.0.1 (tests/networks/fake_telegram.py), through the guarded transport;
deliveries go through publishing.services.delivery_send as the Celery task runs them.
Connecting: test_telegram_connect.py."""

from __future__ import annotations

import datetime as dt
import io
import threading

import pytest
import time_machine
from PIL import Image

from accounts.models import SocialAccount
from networks import AuthFailed, RateLimited, Rejected, Transient, get_provider
from networks.telegram import api
from publishing.models import Delivery
from publishing.services import deliveries_recover, delivery_send
from scheduling.models import Timeslot
from tests.factories import ChannelFactory, MembershipFactory, PostFactory, SocialAccountFactory
from tests.networks import fake_telegram as fakes
from tests.networks.fake_http import Scripted

fake_telegram = fakes.fake_telegram
pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)
FLAG = "\U0001f1e9\U0001f1ea"


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def assert_never_logged(caplog, secrets: list[str]) -> None:
    everything = "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records)
    assert [s for s in secrets if s in everything] == []


@pytest.fixture
def account(bot):
    token, chat_id = bot
    acc = SocialAccountFactory(
        provider="telegram",
        handle="queueloop_news",
        external_id=str(chat_id),
        credentials={"bot_token": token},
        options={
            "chat_id": str(chat_id),
            "chat_type": "channel",
            "chat_title": "Queue Loop News",
            "chat_username": "queueloop_news",
        },
    )
    MembershipFactory(workspace=acc.workspace, user__email="owner@example.com")
    return acc


@pytest.fixture
def network():
    return get_provider("telegram")


def make_delivery(account, text: str = "Hello, Telegram", *, parts=None) -> Delivery:
    channel = ChannelFactory(workspace=account.workspace, with_sandbox=False)
    channel.accounts.add(account)
    post = PostFactory(workspace=account.workspace, text=text, thread_parts=parts or [])
    slot = Timeslot.objects.create(
        channel=channel, post=post, publish_at=dt.datetime.now(dt.UTC), status="publishing"
    )
    return Delivery.objects.create(
        timeslot=slot, account=account, post=post, text=text, thread_parts=parts or []
    )


def add_image(post, n: int, *, size=(40, 30), fmt="JPEG"):
    from posts.images import post_image_add
    from posts.tasks import process_image

    out = io.BytesIO()
    Image.new("RGB", size, (200, 80, 40)).save(out, format=fmt)
    image = post_image_add(
        post=post, data=out.getvalue(), filename=f"{n}.{fmt.lower()}", alt_text=f"Alt {n}"
    )
    process_image(image.id)


def reload(obj):
    obj.refresh_from_db()
    return obj


def send_path(fake, token, method="sendMessage") -> str:
    return fake.path(token, method)


# --- Publishing --------------------------------------------------------------------------


def test_text_goes_out_with_sendmessage(network, account, fake_telegram, bot, logs):
    token, chat_id = bot

    published = network.publish(make_delivery(account))

    [call] = fake_telegram.calls
    assert call.path == f"/bot{token}/sendMessage"
    assert call.json == {"chat_id": str(chat_id), "text": "Hello, Telegram"}
    [message] = fake_telegram.posted()
    assert published.external_id == str(message["message_id"])
    assert published.url == f"https://t.me/queueloop_news/{message['message_id']}"
    assert_never_logged(logs, [token])


def test_a_thread_replies_to_the_part_before(network, account, fake_telegram):
    network.publish(make_delivery(account, "One", parts=["Two", "Three"]))

    posted = fake_telegram.posted()
    assert [m["text"] for m in posted] == ["One", "Two", "Three"]
    assert [m["reply_to"] for m in posted] == [
        None,
        posted[0]["message_id"],
        posted[1]["message_id"],
    ]


def test_one_image_goes_with_sendphoto_and_the_text_as_caption(
    network, account, fake_telegram, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    delivery = make_delivery(account, "A picture")
    add_image(delivery.post, 0)

    network.publish(delivery)

    [call] = fake_telegram.calls
    assert call.path.endswith("/sendPhoto")
    [message] = fake_telegram.posted()
    assert message["text"] == "A picture"
    assert Image.open(io.BytesIO(message["photo"])).size == (40, 30)


def test_an_album_goes_with_sendmediagroup_the_caption_on_the_first(
    network, account, fake_telegram, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    delivery = make_delivery(account, "An album", parts=["And a reply"])
    for n in range(3):
        add_image(delivery.post, n, fmt="PNG" if n == 2 else "JPEG")

    published = network.publish(delivery)

    album, reply = fake_telegram.posted()[:3], fake_telegram.posted()[3]
    assert [m["text"] for m in album] == ["An album", "", ""]
    assert len({m["media_group_id"] for m in album}) == 1
    assert published.external_id == str(album[0]["message_id"])
    assert reply["reply_to"] == album[0]["message_id"]
    assert [c.path.rsplit("/", 1)[-1] for c in fake_telegram.calls] == [
        "sendMediaGroup",
        "sendMessage",
    ]


def test_a_gif_goes_as_a_still_and_a_huge_image_within_telegrams_sides(
    network, account, fake_telegram, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    delivery = make_delivery(account, "Converted")
    add_image(delivery.post, 0, fmt="GIF")
    add_image(delivery.post, 1, size=(9000, 1200))

    network.publish(delivery)

    still, huge = fake_telegram.posted()
    assert Image.open(io.BytesIO(still["photo"])).format == "JPEG"
    width, height = Image.open(io.BytesIO(huge["photo"])).size
    assert width + height <= 10_000


def test_a_caption_over_1024_characters_is_refused_before_anything_is_sent(
    network, account, fake_telegram, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    delivery = make_delivery(account, "é" * 1025)
    add_image(delivery.post, 0)

    with pytest.raises(Rejected) as refused:
        network.publish(delivery)

    assert "at most 1024 characters under images; this text has 1025" in refused.value.message
    assert fake_telegram.calls == []


def test_length_is_counted_in_characters_as_telegram_counts_a_bots_text(network, account):
    # TDLib checks a bot's text with utf8_length (code points): an emoji is one, a flag two.
    assert network.text_length(FLAG) == 2
    assert network.text_length("\U0001f600" * 4096) == 4096
    assert network.validate("\U0001f600" * 4096, account=account) == []
    [error] = network.validate("a" * 4097, account=account)
    assert "4096" in error and "4097" in error


# --- Errors, through the delivery as the worker runs it ---------------------------------


def test_a_refused_call_shows_telegrams_description(account, fake_telegram, bot, clock):
    token, _ = bot
    fake_telegram.script(
        "POST",
        send_path(fake_telegram, token),
        Scripted(400, {"ok": False, "error_code": 400, "description": "Bad Request: TOPIC_CLOSED"}),
    )
    delivery = make_delivery(account)

    assert delivery_send(delivery_id=delivery.id) == "failed"

    assert "Telegram refused the post: Bad Request: TOPIC_CLOSED" in reload(delivery).last_error
    assert fake_telegram.posted() == []


def test_429_waits_for_retry_after_then_sends(account, fake_telegram, bot, clock):
    token, _ = bot
    fake_telegram.script(
        "POST",
        send_path(fake_telegram, token),
        Scripted(
            429,
            {
                "ok": False,
                "error_code": 429,
                "description": "Too Many Requests: retry after 35",
                "parameters": {"retry_after": 35},
            },
        ),
    )
    delivery = make_delivery(account)

    assert delivery_send(delivery_id=delivery.id) == "pending"

    delivery = reload(delivery)
    assert delivery.next_attempt_at == T0 + dt.timedelta(seconds=35)
    assert "Too Many Requests: retry after 35" in delivery.last_error
    clock.move_to(T0 + dt.timedelta(seconds=36))
    assert delivery_send(delivery_id=delivery.id) == "sent"
    assert len(fake_telegram.posted()) == 1


def test_429_is_rate_limited_with_its_retry_after(network, account, fake_telegram, bot, clock):
    token, _ = bot
    fake_telegram.script(
        "POST",
        send_path(fake_telegram, token),
        Scripted(429, {"ok": False, "error_code": 429, "description": "Too Many Requests"}),
    )

    with pytest.raises(RateLimited) as limited:
        network.publish(make_delivery(account))

    # No retry_after: Telegram's flood control is waited out for DEFAULT_RATE_LIMIT_WAIT.
    assert limited.value.reset_at == T0 + api.DEFAULT_RATE_LIMIT_WAIT


def test_a_lost_answer_ends_unconfirmed_and_is_never_sent_again(account, fake_telegram, bot, clock):
    token, _ = bot
    # Telegram posts the message, then the connection drops before its answer.
    fake_telegram.script("POST", send_path(fake_telegram, token), Scripted(drop=True, after=True))
    delivery = make_delivery(account)

    assert delivery_send(delivery_id=delivery.id) == "unconfirmed"

    assert "may have gone out" in reload(delivery).last_error
    clock.move_to(T0 + dt.timedelta(minutes=10))
    assert delivery_send(delivery_id=delivery.id) == "not claimed"
    deliveries_recover(now=T0 + dt.timedelta(minutes=10))
    assert reload(delivery).status == Delivery.Status.UNCONFIRMED
    assert len(fake_telegram.calls_to("POST", send_path(fake_telegram, token))) == 1
    assert len(fake_telegram.posted()) == 1


def test_a_read_timeout_may_have_posted(network, account, fake_telegram, monkeypatch):
    monkeypatch.setattr(api, "HTTP_TIMEOUT", 1)
    api.reset_session()  # the next one is made with the 1 s timeout
    release = threading.Event()
    original = fake_telegram.handle

    def slow(request):
        release.wait(10)  # held until the client gave up (after its 1 s timeout)
        return original(request)

    monkeypatch.setattr(fake_telegram, "handle", slow)
    try:
        with pytest.raises(Transient) as caught:
            network.publish(make_delivery(account))
    finally:
        release.set()

    assert caught.value.maybe_sent is True
    assert network.idempotent is False


def test_a_server_error_is_retried_and_a_gateway_timeout_is_unconfirmed(
    account, fake_telegram, bot, clock
):
    token, _ = bot
    path = send_path(fake_telegram, token)
    fake_telegram.script("POST", path, Scripted(502, b"<html>Bad Gateway</html>"))
    first = make_delivery(account)

    assert delivery_send(delivery_id=first.id) == "pending"
    assert "answered 502" in reload(first).last_error

    fake_telegram.script("POST", path, Scripted(504, b"<html>Gateway Time-out</html>"))
    second = make_delivery(account, "Second")
    assert delivery_send(delivery_id=second.id) == "unconfirmed"


def test_a_connection_refused_sent_nothing(network, account, fake_telegram, settings):
    fake_telegram.stop()

    with pytest.raises(Transient) as caught:
        network.publish(make_delivery(account))

    assert caught.value.maybe_sent is False
    assert "nothing was sent" in caught.value.message


def test_a_revoked_token_marks_the_account_for_reconnecting(account, fake_telegram, bot, clock):
    token, _ = bot
    del fake_telegram.bots[token]
    delivery = make_delivery(account)

    assert delivery_send(delivery_id=delivery.id) == "failed"

    assert reload(account).status == SocialAccount.Status.NEEDS_RECONNECT
    assert "@BotFather" in reload(delivery).last_error


def test_a_bot_removed_from_the_channel_marks_the_account_for_reconnecting(
    account, fake_telegram, bot, clock
):
    token, chat_id = bot
    fake_telegram.set_member(chat_id, token, status="left")
    delivery = make_delivery(account)

    assert delivery_send(delivery_id=delivery.id) == "failed"

    assert reload(account).status == SocialAccount.Status.NEEDS_RECONNECT
    assert "bot is not a member of the channel chat" in reload(delivery).last_error


def test_a_host_the_policy_refuses_is_never_called(network, account, settings):
    settings.INSTANCE_ALLOWED_HOSTS = []

    with pytest.raises(Rejected) as refused:
        network.publish(make_delivery(account))

    assert "INSTANCE_ALLOWED_HOSTS" in refused.value.message


# --- The account check ------------------------------------------------------------------


def test_check_says_the_bot_may_post(network, account, fake_telegram):
    assert (
        network.check(account) == "The bot @queueloop_bot may post to @queueloop_news on Telegram."
    )
    assert [c.path.rsplit("/", 1)[-1] for c in fake_telegram.calls] == ["getMe", "getChatMember"]


def test_check_fails_when_the_bot_lost_its_rights(network, account, fake_telegram, bot):
    token, chat_id = bot
    fake_telegram.set_member(chat_id, token, can_post_messages=False)

    with pytest.raises(AuthFailed) as failed:
        network.check(account)

    assert "may not post messages" in failed.value.message
