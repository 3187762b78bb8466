"""Deleting a post that never published (one that did is refused: archive it instead); editors
cannot delete posts or channels, and other workspaces' are 404."""

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
    PostFactory,
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


def test_owner_deletes_a_post_that_never_published_but_not_one_that_did(web, owner):
    post = PostFactory(workspace=owner.workspace)
    assert (
        f'href="{reverse("post_delete", args=[post.id])}"'
        in web.get(reverse("post_list")).content.decode()
    )
    assert web.post(reverse("post_delete", args=[post.id])).status_code == 302
    assert not Post.objects.filter(id=post.id).exists()
    published = DeliveryFactory(
        timeslot=TimeslotFactory(channel=ChannelFactory(workspace=owner.workspace))
    ).post
    r = web.post(reverse("post_delete", args=[published.id]))
    assert "Archive it instead" in " ".join(_messages(r))
    assert Post.objects.filter(id=published.id).exists()


def test_editors_cannot_delete_and_other_workspaces_are_404(client, owner):
    channel = ChannelFactory(workspace=owner.workspace)
    post = PostFactory(workspace=owner.workspace)
    editor = MembershipFactory(workspace=owner.workspace, role=Membership.Role.EDITOR)
    client.force_login(editor.user)
    assert client.post(reverse("channel_delete", args=[channel.id])).status_code == 403
    assert client.post(reverse("post_delete", args=[post.id])).status_code == 403
    assert (
        reverse("post_delete", args=[post.id])
        not in client.get(reverse("post_list")).content.decode()
    )
    stranger = MembershipFactory(role=Membership.Role.OWNER)
    client.force_login(stranger.user)
    assert client.post(reverse("channel_delete", args=[channel.id])).status_code == 404
    assert client.post(reverse("post_delete", args=[post.id])).status_code == 404
    assert (
        Channel.objects.filter(id=channel.id).exists() and Post.objects.filter(id=post.id).exists()
    )
