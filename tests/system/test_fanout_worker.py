"""Fan-out / fan-in with a real worker: one slot, three networks (X, webhook, sandbox)."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from django.utils import timezone

from publishing.models import Delivery, SandboxPost
from scheduling import services
from scheduling.models import Timeslot
from tests.conftest import wait_for
from tests.factories import ChannelFactory, QueueEntryFactory, SocialAccountFactory, XAccountFactory
from tests.networks import fake_x as fakes
from tests.receiver import Receiver

fake_x = fakes.fake_x
WEBHOOK_SECRET = "whsec-fanout-secret-0123456789"


@pytest.fixture
def receiver():
    r = Receiver().start()
    yield r
    r.stop()


@pytest.mark.worker
def test_one_slot_publishes_one_post_to_x_webhook_and_sandbox(worker, fake_x, receiver, caplog):
    caplog.set_level(logging.DEBUG)
    fake_x.add_user("1001", "queueloop")
    tokens = fake_x.issue_tokens("1001")
    channel = ChannelFactory(slug="tech")  # comes with one sandbox account
    x_account = XAccountFactory(
        workspace=channel.workspace,
        handle="queueloop",
        external_id="1001",
        credentials={
            "auth": "oauth2",
            "access_token": tokens["access_token"],
            "refresh_token": tokens["refresh_token"],
            "token_type": "bearer",
            "scope": tokens["scope"],
            "expires_at": int(timezone.now().timestamp()) + tokens["expires_in"],
            "user_id": "1001",
        },
    )
    hook = SocialAccountFactory(
        workspace=channel.workspace,
        provider="webhook",
        handle="hook",
        credentials={"url": receiver.url, "secret": WEBHOOK_SECRET},
    )
    channel.accounts.add(x_account, hook)
    post = QueueEntryFactory(channel=channel, post__text="One post, three networks").post

    at = (timezone.now() + dt.timedelta(seconds=1)).replace(microsecond=0)
    slot = services.timeslot_pin(post=post, channel=channel, publish_at=at)
    wait_for(
        lambda: Timeslot.objects.get(id=slot.id).status == Timeslot.Status.PUBLISHED,
        what="the slot to publish on all three networks",
    )
    slot.refresh_from_db()
    assert slot.published_post == post
    deliveries = {
        d.account.provider: d
        for d in Delivery.objects.filter(timeslot=slot).select_related("account")
    }
    assert set(deliveries) == {"x", "webhook", "sandbox"}
    assert all(d.status == Delivery.Status.SENT for d in deliveries.values())
    [tweet] = fake_x.tweets("1001")
    assert tweet["text"] == "One post, three networks"
    assert deliveries["x"].external_id == tweet["id"]
    assert deliveries["x"].url == f"https://x.com/queueloop/status/{tweet['id']}"
    assert receiver.keys() == [str(deliveries["webhook"].id)]
    assert deliveries["sandbox"].external_id.startswith("sandbox-") and deliveries["sandbox"].url
    assert SandboxPost.objects.get().text == "One post, three networks"
    # Secrets never reach the logs, whatever logged at DEBUG during the whole flow.
    logged = "\n".join(r.getMessage() + repr(r.args) for r in caplog.records)
    for secret in (tokens["access_token"], tokens["refresh_token"], WEBHOOK_SECRET):
        assert secret not in logged
