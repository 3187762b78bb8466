"""First comments through the engine on the networks' loopback fakes: a reply to the post's
first part, once; on X (no idempotency key) a comment whose answer was lost is never
repeated, and a refused one leaves the post sent."""

from __future__ import annotations

import pytest
import requests
from django.utils import timezone

from accounts.models import SocialAccount
from publishing import services as publishing
from publishing.models import Delivery
from tests.factories import ChannelFactory, PostFactory, SocialAccountFactory, XAccountFactory
from tests.networks import fake_bluesky as bluesky_fakes
from tests.networks import fake_x as x_fakes
from tests.publishing.slots import due_slot

fake_x = x_fakes.fake_x
fake_bluesky = bluesky_fakes.fake_bluesky

pytestmark = pytest.mark.django_db
C = Delivery.CommentStatus
APP_PASSWORD = "abcd-efgh-ijkl-mnop"


def send(account, *, comment: str, parts: list[str] | None = None) -> Delivery:
    channel = ChannelFactory(workspace=account.workspace, with_sandbox=False)
    channel.accounts.add(account)
    post = PostFactory(
        workspace=account.workspace,
        text="The post",
        thread_parts=parts or [],
        first_comment=comment,
    )
    now = timezone.now()
    slot = due_slot(channel, now, post=post)
    publishing.timeslots_publish(pairs=[(slot.id, str(slot.token))], now=now)
    delivery = Delivery.objects.get(timeslot=slot)
    publishing.deliveries_send(delivery_ids=[delivery.id], now=now)
    delivery.refresh_from_db()
    return delivery


@pytest.fixture
def x_account(fake_x):
    keys = fake_x.issue_oauth1_keys("1001")
    return XAccountFactory(handle="queueloop", credentials={"auth": "oauth1", **keys})


def test_on_x_the_comment_replies_to_the_threads_first_tweet(fake_x, x_account):
    delivery = send(x_account, comment="#launch", parts=["Part two"])

    post, part_two, comment = fake_x.tweets("1001")
    assert (delivery.status, delivery.comment_status) == ("sent", C.SENT)
    assert (comment["text"], comment["in_reply_to"]) == ("#launch", post["id"])
    assert part_two["in_reply_to"] == post["id"]
    assert delivery.network_state["comment"]["id"] == comment["id"]
    assert delivery.network_state["comment"]["url"].endswith(f"/status/{comment['id']}")


def test_on_x_a_comment_whose_answer_was_lost_is_never_repeated(fake_x, x_account):
    fake_x.script_exception("POST", "/2/tweets", requests.ReadTimeout("X never answered"), passes=1)

    delivery = send(x_account, comment="#maybe")

    assert (delivery.status, delivery.comment_status) == ("sent", C.UNCONFIRMED)
    assert "never posted twice" in delivery.comment_error
    assert publishing.comments_send(delivery_ids=[delivery.id]) == {}
    assert len(fake_x.calls_to("POST", "/2/tweets")) == 2  # the post, one comment try


def test_on_x_a_refused_comment_leaves_the_post_sent(fake_x, x_account):
    fake_x.script(
        "POST",
        "/2/tweets",
        403,
        {"title": "Forbidden", "detail": "You are not permitted to perform this action."},
        passes=1,
    )

    delivery = send(x_account, comment="#nope")

    assert (delivery.status, delivery.comment_status) == ("sent", C.FAILED)
    assert delivery.comment_error
    assert [t["text"] for t in fake_x.tweets("1001")] == ["The post"]


def test_on_bluesky_the_comment_is_a_reply_record_to_a_single_post(fake_bluesky):
    from networks.bluesky import adapter

    did = fake_bluesky.add_account("alice.test", APP_PASSWORD)
    _, info = adapter.sign_in(fake_bluesky.url, "alice.test", APP_PASSWORD)
    account = SocialAccountFactory(
        provider=SocialAccount.Provider.BLUESKY,
        handle="alice.test",
        external_id=did,
        credentials={
            "identifier": "alice.test",
            "app_password": APP_PASSWORD,
            "session": info["session"],
        },
        options={"service": fake_bluesky.url},
    )

    delivery = send(account, comment="#sky")

    post, comment = sorted(fake_bluesky.posts_of(did), key=lambda p: p["uri"])
    assert delivery.comment_status == C.SENT
    assert comment["text"] == "#sky"
    assert comment["reply"]["root"]["uri"] == comment["reply"]["parent"]["uri"] == post["uri"]
    assert delivery.network_state["comment"]["uri"] == comment["uri"]
