"""Discord at its HTTP boundary: a fake Discord (tests/networks/fake_discord.py) on 127.0.0.1
speaks the webhook API's shapes; deliveries go through publishing.services.delivery_send as
the Celery task runs them. What is particular to Discord: images as multipart attachments
with their alt text as `description`, Discord's own messages shown, 429's `retry_after`, a
thread as consecutive messages, and, with no idempotency, a lost answer ending
`unconfirmed`, never sent again; the account check. Connecting and the address rules are in
test_discord_connect.py (which shares this module's fixtures), the shared cases in
test_contract.py."""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest
import time_machine
from django.db import connection
from django.test import override_settings

from accounts.models import SocialAccount
from networks import AuthFailed, Rejected, get_provider
from publishing.models import Delivery
from publishing.services import deliveries_recover, delivery_send
from scheduling.models import Timeslot
from tests.factories import ChannelFactory, PostFactory, SocialAccountFactory
from tests.networks import fake_discord as fakes
from tests.networks.fake_http import Scripted
from tests.networks.test_contract import add_ready_image

fake_discord = fakes.fake_discord
pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def secrets_never_logged(caplog, fake_discord):
    """Everything logs at DEBUG; afterwards no webhook token the fake handed out may appear
    in any record."""
    caplog.set_level(logging.DEBUG)
    yield
    records = [r for when in ("setup", "call") for r in caplog.get_records(when)]
    logged = "\n".join(f"{r.getMessage()} {r.args!r}" for r in records)
    leaked = [token for token in fake_discord.issued if token in logged]
    assert not leaked, f"{len(leaked)} webhook token(s) appeared in the logs"


@pytest.fixture
def hook(fake_discord):
    return fake_discord.add_webhook("Announcements")


@pytest.fixture
def account(hook):
    return SocialAccountFactory(
        provider="discord",
        handle="announcements",
        external_id=hook["id"],
        credentials={"url": hook["url"]},
        options={"guild_id": hook["guild_id"], "channel_id": hook["channel_id"]},
    )


def make_delivery(account, text: str = "Hello, Discord", *, parts: list[str] | None = None):
    channel = ChannelFactory(workspace=account.workspace, with_sandbox=False)
    channel.accounts.add(account)
    post = PostFactory(workspace=account.workspace, text=text, thread_parts=parts or [])
    slot = Timeslot.objects.create(
        channel=channel, post=post, publish_at=dt.datetime.now(dt.UTC), status="publishing"
    )
    return Delivery.objects.create(
        timeslot=slot, account=account, post=post, text=text, thread_parts=parts or []
    )


def reload(obj):
    obj.refresh_from_db()
    return obj


def raw_credentials(account_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM accounts_socialaccount WHERE id = %s", [account_id])
        return str(cursor.fetchone()[0])


# --- Publishing --------------------------------------------------------------------------------


def test_publish_sends_the_text_and_records_the_message_and_its_link(
    fake_discord, account, hook, clock, secrets_never_logged
):
    delivery = make_delivery(account, "Launch day! 🚀")

    assert delivery_send(delivery_id=delivery.id) == "sent"

    [message] = fake_discord.messages_of(hook["id"])
    assert message["content"] == "Launch day! 🚀"
    delivery = reload(delivery)
    assert delivery.external_id == message["id"]
    assert delivery.url == (
        f"https://discord.com/channels/{hook['guild_id']}/{hook['channel_id']}/{message['id']}"
    )
    assert reload(delivery.timeslot).status == Timeslot.Status.PUBLISHED
    [call] = fake_discord.calls
    assert call.path == fake_discord.path_of(hook)
    assert call.query == {"wait": "true"}
    assert call.headers["content-type"] == "application/json"
    assert json.loads(call.body) == {"content": "Launch day! 🚀"}


def test_images_go_as_attachments_with_their_alt_text(
    fake_discord, account, hook, clock, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    delivery = make_delivery(account, "Four pictures")
    for n in range(4):
        add_ready_image(delivery.post, n)

    assert delivery_send(delivery_id=delivery.id) == "sent"

    [message] = fake_discord.messages_of(hook["id"])
    assert message["content"] == "Four pictures"
    assert [a["description"] for a in message["attachments"]] == [f"Alt {n}" for n in range(4)]
    assert [a["filename"] for a in message["attachments"]] == [
        f"image-{n + 1}.jpg" for n in range(4)
    ]
    assert all(a["content_type"] == "image/jpeg" and a["size"] > 0 for a in message["attachments"])
    [call] = fake_discord.calls
    assert call.headers["content-type"].startswith("multipart/form-data; boundary=")
    parts = call.multipart()
    assert sorted(parts) == ["files[0]", "files[1]", "files[2]", "files[3]", "payload_json"]
    payload = json.loads(parts["payload_json"][2])
    assert payload["attachments"][0] == {"id": 0, "filename": "image-1.jpg", "description": "Alt 0"}
    assert parts["files[0]"][2][:2] == b"\xff\xd8"  # the JPEG itself


def test_a_thread_goes_out_as_consecutive_messages(fake_discord, account, hook, clock):
    delivery = make_delivery(account, "One", parts=["Two", "Three"])

    assert delivery_send(delivery_id=delivery.id) == "sent"

    messages = fake_discord.messages_of(hook["id"])
    assert [m["content"] for m in messages] == ["One", "Two", "Three"]
    delivery = reload(delivery)
    assert [p["id"] for p in delivery.thread_sent] == [m["id"] for m in messages]
    assert delivery.external_id == messages[0]["id"]


def test_a_thread_rate_limited_at_part_2_resumes_at_part_2(fake_discord, account, hook, clock):
    fake_discord.script(
        "POST", fake_discord.path_of(hook), Scripted(429, fakes.rate_limited(2.5), passes=1)
    )
    delivery = make_delivery(account, "One", parts=["Two"])

    assert delivery_send(delivery_id=delivery.id) == "pending"
    assert "Part 1 of 2 went out" in reload(delivery).last_error

    clock.shift(dt.timedelta(seconds=4))
    assert delivery_send(delivery_id=delivery.id) == "sent"
    assert [m["content"] for m in fake_discord.messages_of(hook["id"])] == ["One", "Two"]


def test_a_text_over_2000_characters_is_refused_without_calling_discord(fake_discord, account):
    delivery = make_delivery(account, "a" * 2001)

    assert delivery_send(delivery_id=delivery.id) == "failed"

    assert "Discord takes at most 2000 characters; this text has 2001." in (
        reload(delivery).last_error
    )
    assert fake_discord.calls == []


def test_a_refused_post_fails_with_discords_own_message(fake_discord, account, hook, clock):
    fake_discord.script(
        "POST",
        fake_discord.path_of(hook),
        Scripted(
            400,
            fakes.invalid_form_body(
                {"content": fakes.field_error("CONTENT_BLOCKED", "Blocked by AutoMod.")}
            ),
        ),
    )
    delivery = make_delivery(account)

    assert delivery_send(delivery_id=delivery.id) == "failed"

    error = reload(delivery).last_error
    assert "Discord refused the post (400): Invalid Form Body (code 50035)" in error
    assert "content: Blocked by AutoMod." in error
    assert reload(account).status == SocialAccount.Status.ACTIVE
    assert fake_discord.messages == []


def test_a_deleted_webhook_asks_for_a_reconnect(fake_discord, account, hook, clock):
    fake_discord.delete_webhook(hook["id"])
    delivery = make_delivery(account)

    assert delivery_send(delivery_id=delivery.id) == "failed"

    account = reload(account)
    assert account.status == SocialAccount.Status.NEEDS_RECONNECT
    assert "Unknown Webhook" in reload(delivery).last_error
    assert hook["token"] not in reload(delivery).last_error + account.last_error


def test_429_waits_for_retry_after_then_sends(fake_discord, account, hook, clock):
    fake_discord.script(
        "POST",
        fake_discord.path_of(hook),
        Scripted(429, fakes.rate_limited(12.5), headers={"Retry-After": "13"}),
    )
    delivery = make_delivery(account)

    assert delivery_send(delivery_id=delivery.id) == "pending"

    delivery = reload(delivery)
    assert delivery.next_attempt_at == T0 + dt.timedelta(seconds=13)
    assert "Discord rate limit reached (429: You are being rate limited.)" in delivery.last_error
    clock.move_to(T0 + dt.timedelta(seconds=5))
    assert delivery_send(delivery_id=delivery.id) == "not claimed"
    clock.move_to(T0 + dt.timedelta(seconds=14))
    assert delivery_send(delivery_id=delivery.id) == "sent"
    assert len(fake_discord.messages_of(hook["id"])) == 1


def test_a_cloudflare_429_without_json_waits_its_retry_after_header(
    fake_discord, account, hook, clock
):
    fake_discord.script(
        "POST",
        fake_discord.path_of(hook),
        Scripted(429, b"<html>error 1015</html>", headers={"Retry-After": "600"}),
    )
    delivery = make_delivery(account)

    assert delivery_send(delivery_id=delivery.id) == "pending"
    assert reload(delivery).next_attempt_at == T0 + dt.timedelta(seconds=600)


def test_502_made_no_message_and_is_retried(fake_discord, account, hook, clock):
    fake_discord.script(
        "POST", fake_discord.path_of(hook), Scripted(502, {"message": "502: Bad Gateway"})
    )
    delivery = make_delivery(account)

    assert delivery_send(delivery_id=delivery.id) == "pending"

    clock.shift(dt.timedelta(minutes=1))
    assert delivery_send(delivery_id=delivery.id) == "sent"
    assert len(fake_discord.messages_of(hook["id"])) == 1


def test_a_500_may_have_posted_so_it_ends_unconfirmed(fake_discord, account, hook, clock):
    fake_discord.script(
        "POST", fake_discord.path_of(hook), Scripted(500, {"message": "500: Internal"}, after=True)
    )
    delivery = make_delivery(account)

    assert delivery_send(delivery_id=delivery.id) == "unconfirmed"
    assert len(fake_discord.messages_of(hook["id"])) == 1


def test_a_lost_answer_ends_unconfirmed_and_is_never_sent_again(
    fake_discord, account, hook, clock, secrets_never_logged
):
    # Discord made the message, then the connection closed before its answer.
    fake_discord.script("POST", fake_discord.path_of(hook), Scripted(drop=True, after=True))
    delivery = make_delivery(account)

    assert delivery_send(delivery_id=delivery.id) == "unconfirmed"

    delivery = reload(delivery)
    assert "may have gone through" in delivery.last_error
    assert reload(delivery.timeslot).status == Timeslot.Status.FAILED
    clock.move_to(T0 + dt.timedelta(minutes=10))
    assert delivery_send(delivery_id=delivery.id) == "not claimed"
    deliveries_recover(now=T0 + dt.timedelta(minutes=10))
    assert reload(delivery).status == Delivery.Status.UNCONFIRMED
    assert len(fake_discord.calls_to("POST", fake_discord.path_of(hook))) == 1
    assert len(fake_discord.messages_of(hook["id"])) == 1


def test_a_connection_refused_sent_nothing_and_is_retried(account, clock):
    # The fake is gone: nothing listens on its port.
    from tests.networks.fake_discord import FakeDiscord

    gone = FakeDiscord().start()
    url = gone.url
    gone.stop()
    account.credentials = {
        "url": f"{url}/api/webhooks/{account.external_id}/{'a' * 68}",
    }
    account.save()
    delivery = make_delivery(account)

    assert delivery_send(delivery_id=delivery.id) == "pending"
    assert "nothing was sent" in reload(delivery).last_error


# --- Checking ----------------------------------------------------------------------------------


def test_check_reads_the_webhook_and_keeps_its_channel(fake_discord, account, hook):
    fake_discord.webhooks[hook["id"]]["channel_id"] = "555555555555555555"

    message = get_provider("discord").check(account)

    assert message == "The Discord webhook “Announcements” posts to channel 555555555555555555."
    assert reload(account).options["channel_id"] == "555555555555555555"
    [call] = fake_discord.calls
    assert call.method == "GET" and call.query == {}


def test_check_of_a_deleted_webhook_is_an_auth_failure(fake_discord, account, hook):
    fake_discord.delete_webhook(hook["id"])

    with pytest.raises(AuthFailed, match="Unknown Webhook"):
        get_provider("discord").check(account)


@override_settings(DISCORD_WEBHOOK_HOSTS=["discord.com"])
def test_a_stored_url_the_operator_no_longer_allows_is_refused_uncalled(fake_discord, account):
    with pytest.raises(AuthFailed, match="not accepted any more"):
        get_provider("discord").check(account)
    assert fake_discord.calls == []


def test_a_post_with_more_images_than_discord_takes_is_refused(account, monkeypatch):
    from networks.discord import adapter

    monkeypatch.setattr(adapter, "delivery_images", lambda delivery: [object()] * 11)
    delivery = make_delivery(account)

    with pytest.raises(Rejected, match="at most 10 images"):
        adapter.network.publish(delivery)


def test_an_image_that_cannot_be_read_refuses_the_post_before_any_call(
    fake_discord, account, monkeypatch, settings, tmp_path
):
    from networks.discord import adapter

    settings.MEDIA_ROOT = tmp_path / "media"
    delivery = make_delivery(account)
    add_ready_image(delivery.post, 0)

    def gone(image):
        raise FileNotFoundError(image.file.name)

    monkeypatch.setattr(adapter, "read_image", gone)

    with pytest.raises(Rejected, match="Image 1 of the post could not be read"):
        adapter.network.publish(delivery)
    assert fake_discord.calls == []


def test_check_accounts_marks_a_deleted_webhook_for_reconnecting(fake_discord, account, hook):
    from django.core.management import CommandError, call_command

    fake_discord.delete_webhook(hook["id"])

    with pytest.raises(CommandError):
        call_command("check_accounts", "--account", str(account.id))

    account = reload(account)
    assert account.status == SocialAccount.Status.NEEDS_RECONNECT
    assert "Unknown Webhook" in account.last_error
