"""A post without an image cannot go to Instagram (capabilities.requires_image): the
composer's preview says so before anything is scheduled, the upcoming slots say the post
will fail there, and when its slot comes the Instagram delivery is skipped with that reason
— nothing sent to Instagram — while the channel's other accounts publish."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.urls import reverse

from accounts.models import Membership
from channels.fit import queue_misfits
from publishing.models import Delivery
from publishing.services import delivery_send
from scheduling.models import Timeslot
from tests.factories import (
    ChannelFactory,
    MembershipFactory,
    QueueEntryFactory,
    ScheduleFactory,
    SocialAccountFactory,
    rule,
)
from tests.networks import fake_meta_graph as fakes
from tests.posts.test_images import add_image, png

fake_meta = fakes.fake_meta
pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.UTC)
SAID = "Instagram needs an image: every post there has one, and this post has none."


@pytest.fixture
def member():
    return MembershipFactory(role=Membership.Role.OWNER)


@pytest.fixture
def channel(member, fake_meta, settings, tmp_path):
    """A channel publishing to Instagram and the sandbox, with a queued post (no image)."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PUBLIC_BASE_URL = "https://queueloop.example"
    page = fake_meta.add_page("Queue Loop News", instagram="queueloop")
    channel = ChannelFactory(workspace=member.workspace, name="#insta", with_sandbox=True)
    channel.accounts.add(
        SocialAccountFactory(
            workspace=member.workspace,
            provider="instagram",
            handle="queueloop",
            external_id=page["instagram"],
            credentials={"page_token": page["token"]},
            options={"ig_user_id": page["instagram"], "page_id": page["id"]},
        )
    )
    ScheduleFactory(channel=channel, recurrence=rule("RRULE:FREQ=DAILY;BYHOUR=10;BYMINUTE=0"))
    QueueEntryFactory(channel=channel, post__workspace=member.workspace, post__text="No picture")
    return channel


def test_the_composers_preview_says_instagram_needs_an_image(web, channel):
    query = {"text": "New post", "channels": [channel.id]}

    assert SAID in web.get(reverse("post_preview"), query).content.decode()
    query["has_images"] = "1"
    assert SAID not in web.get(reverse("post_preview"), query).content.decode()


def test_the_composers_preview_says_a_png_will_fail_on_instagram(web, channel):
    from channels.models import QueueEntry

    post = QueueEntry.objects.get(channel=channel).post
    query = {"text": post.text, "channels": [channel.id], "post": post.id}
    said = "Instagram takes JPEG images only: image 1 will fail there."
    assert said not in web.get(reverse("post_preview"), query).content.decode()

    add_image(post=post, data=png(40, 30), filename="a.png", alt_text="A")

    assert said in web.get(reverse("post_preview"), query).content.decode()


def test_the_queue_says_the_post_will_fail_on_instagram(web, channel):
    [misfit] = queue_misfits(channel=channel).values()
    assert misfit.errors == [f"@queueloop: {SAID}"]
    with time_machine.travel(NOW, tick=False):
        page = web.get(reverse("channel_detail", args=[channel.id])).content.decode()
    assert "Will fail: @queueloop: Instagram needs an image" in page

    add_image(post=misfit.post, data=png(), filename="a.png", alt_text="A square")
    assert queue_misfits(channel=channel) == {}


def test_at_its_slot_the_instagram_delivery_is_skipped_and_the_others_publish(channel, fake_meta):
    post = channel.entries.get().post
    slot = Timeslot.objects.create(
        channel=channel, post=post, publish_at=dt.datetime.now(dt.UTC), status="publishing"
    )
    deliveries = [
        Delivery.objects.create(timeslot=slot, account=account, post=post, text=post.text)
        for account in channel.accounts.order_by("provider")
    ]

    statuses = [delivery_send(delivery_id=d.id) for d in deliveries]

    assert statuses == ["failed", "sent"]  # instagram, sandbox
    skipped = Delivery.objects.get(account__provider="instagram")
    assert skipped.last_error == f"Skipped: {SAID} Nothing was sent."
    assert fake_meta.calls == []
    slot.refresh_from_db()
    assert slot.status == Timeslot.Status.PARTIAL
    assert f"Skipped: {SAID}" in slot.reason
