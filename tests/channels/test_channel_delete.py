"""Deleting a channel that never published; one that did is refused (pause it instead)."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from accounts.models import Membership
from channels.models import Channel
from posts.models import Post
from tests.factories import (
    ChannelFactory,
    DeliveryFactory,
    MembershipFactory,
    QueueEntryFactory,
    TimeslotFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner():
    return MembershipFactory(role=Membership.Role.OWNER)


@pytest.fixture
def web(client, owner):
    client.force_login(owner.user)
    return client


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_owner_deletes_a_channel_that_never_published(web, owner):
    channel = ChannelFactory(workspace=owner.workspace, name="#oops")
    QueueEntryFactory(channel=channel)
    assert (
        "Delete this channel"
        in web.get(reverse("channel_settings", args=[channel.id])).content.decode()
    )
    confirm = web.get(reverse("channel_delete", args=[channel.id]))
    assert confirm.status_code == 200 and b"Delete the channel #oops" in confirm.content
    assert Channel.objects.filter(id=channel.id).exists()  # GET changes nothing
    r = web.post(reverse("channel_delete", args=[channel.id]))
    assert r.status_code == 302
    assert not Channel.objects.filter(id=channel.id).exists()
    assert Post.objects.filter(workspace=owner.workspace).count() == 1  # posts stay


def test_a_channel_that_published_is_refused(web, owner):
    channel = ChannelFactory(workspace=owner.workspace)
    DeliveryFactory(timeslot=TimeslotFactory(channel=channel))
    r = web.post(reverse("channel_delete", args=[channel.id]))
    assert "Pause it instead" in " ".join(_messages(r))
    assert Channel.objects.filter(id=channel.id).exists()
