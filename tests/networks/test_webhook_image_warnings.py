"""Images to a webhook need absolute URLs (PUBLIC_BASE_URL when MEDIA_URL is a path). In
production without it, the user is warned before anything is scheduled: when a webhook
account is added, in the composer's preview of a post with images, and on the upcoming
slots; with it set, nothing is said."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.test import override_settings
from django.urls import reverse

from accounts.models import Membership
from tests.factories import (
    ChannelFactory,
    MembershipFactory,
    QueueEntryFactory,
    ScheduleFactory,
    SocialAccountFactory,
    rule,
)
from tests.posts.test_images import add_image, png

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.UTC)
WARNING = "set PUBLIC_BASE_URL"
PRODUCTION = {"DEBUG": False, "PUBLIC_BASE_URL": "", "MEDIA_URL": "/media/"}
CONFIGURED = {**PRODUCTION, "PUBLIC_BASE_URL": "https://queueloop.example.com"}


@pytest.fixture
def member():
    return MembershipFactory(role=Membership.Role.OWNER)


@pytest.fixture
def hooked(member, settings, tmp_path):
    """A channel publishing to a webhook, whose queued post has an image."""
    settings.MEDIA_ROOT = tmp_path / "media"
    channel = ChannelFactory(workspace=member.workspace, name="#hooks", with_sandbox=False)
    channel.accounts.add(
        SocialAccountFactory(
            workspace=member.workspace,
            provider="webhook",
            handle="hook",
            credentials={"url": "http://127.0.0.1:9/hook", "secret": "s" * 20},
        )
    )
    ScheduleFactory(channel=channel, recurrence=rule("RRULE:FREQ=DAILY;BYHOUR=10;BYMINUTE=0"))
    entry = QueueEntryFactory(channel=channel, post__workspace=member.workspace)
    add_image(post=entry.post, data=png(), filename="a.png", alt_text="A blue square")
    return channel, entry.post


def add_webhook(web) -> list[str]:
    response = web.post(
        reverse("account_add_webhook"),
        {"handle": "receiver", "url": "http://127.0.0.1:9/hook", "secret": "x" * 24},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_adding_a_webhook_account_warns_in_production(web):
    with override_settings(**PRODUCTION):
        said = add_webhook(web)
    assert said[0] == "Webhook account @receiver added."
    assert len(said) == 2 and "Posts with images will fail on @receiver" in said[1]
    assert WARNING in said[1]


def test_no_warning_once_public_base_url_is_set(web):
    with override_settings(**CONFIGURED):
        assert add_webhook(web) == ["Webhook account @receiver added."]


def preview(web, channel, post) -> str:
    query = {"text": post.text, "channels": [channel.id], "post": post.id}
    return web.get(reverse("post_preview"), query).content.decode()


def test_the_composers_preview_warns_for_a_post_with_images(web, hooked):
    channel, post = hooked
    with override_settings(**PRODUCTION):
        assert WARNING in preview(web, channel, post)
        post.images.all().delete()
        assert WARNING not in preview(web, channel, post)


def test_the_composers_preview_says_nothing_when_configured(web, hooked):
    with override_settings(**CONFIGURED):
        assert WARNING not in preview(web, *hooked)


def test_the_upcoming_slots_say_it_will_fail_before_anything_is_sent(web, hooked):
    channel, _ = hooked
    with override_settings(**PRODUCTION), time_machine.travel(NOW, tick=False):
        page = web.get(reverse("channel_detail", args=[channel.id])).content.decode()
        dashboard = web.get(reverse("dashboard")).content.decode()
    assert "Will fail: @hook: This post has images" in page
    assert "Will fail: @hook: This post has images" in dashboard
    with override_settings(**CONFIGURED), time_machine.travel(NOW, tick=False):
        page = web.get(reverse("channel_detail", args=[channel.id])).content.decode()
    assert "Will fail" not in page


def test_the_preview_warns_for_images_chosen_but_not_uploaded_yet(web, hooked):
    channel, _ = hooked
    query = {"text": "New post", "channels": [channel.id], "has_images": "1"}
    with override_settings(**PRODUCTION):
        assert WARNING in web.get(reverse("post_preview"), query).content.decode()
        query["has_images"] = ""
        assert WARNING not in web.get(reverse("post_preview"), query).content.decode()
