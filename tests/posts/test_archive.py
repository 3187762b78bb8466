"""Archiving a post is one service (posts.services.post_archive) whichever door it comes
through: the web form, the API (PATCH status or DELETE) and the admin all cancel the
post's pinned slots, with a reason and a new token, so their messages become no-ops."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import ApiToken, Membership
from posts.models import Post
from scheduling.models import Timeslot
from scheduling.reasons import Reason
from tests.factories import (
    ChannelFactory,
    MembershipFactory,
    PostFactory,
    QueueEntryFactory,
    TimeslotFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def member():
    return MembershipFactory(role=Membership.Role.OWNER)


@pytest.fixture
def setup(member):
    channel = ChannelFactory(workspace=member.workspace)
    post = PostFactory(workspace=member.workspace, text="evergreen")
    QueueEntryFactory(channel=channel, post=post)
    pinned = TimeslotFactory(channel=channel, schedule=None, post=post)
    other = TimeslotFactory(
        channel=channel, schedule=None, post=PostFactory(workspace=channel.workspace)
    )
    return {"channel": channel, "post": post, "pinned": pinned, "other": other}


def api_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {ApiToken.objects.create(user=user).key}")
    return client


def archive_by_web_form(client, member, s):
    client.force_login(member.user)
    return client.post(
        reverse("post_edit", args=[s["post"].id]),
        {"text": s["post"].text, "channels": [s["channel"].id], "status": "archived"},
    )


def archive_by_api_patch(client, member, s):
    return api_for(member.user).patch(
        f"/api/v1/posts/{s['post'].id}/", {"status": "archived"}, format="json"
    )


def archive_by_api_put(client, member, s):
    return api_for(member.user).put(
        f"/api/v1/posts/{s['post'].id}/",
        {"text": "evergreen, edited", "status": "archived"},
        format="json",
    )


def archive_by_api_delete(client, member, s):
    return api_for(member.user).delete(f"/api/v1/posts/{s['post'].id}/")


def archive_by_admin(client, member, s):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    post = s["post"]
    return client.post(
        reverse("admin:posts_post_change", args=[post.id]),
        {
            "workspace": post.workspace_id,
            "author": "",
            "text": post.text,
            "status": "archived",
            "expires_at_0": "",
            "expires_at_1": "",
            "variations-TOTAL_FORMS": "0",
            "variations-INITIAL_FORMS": "0",
            "variations-MIN_NUM_FORMS": "0",
            "variations-MAX_NUM_FORMS": "1000",
        },
    )


@pytest.mark.parametrize(
    "archive",
    [
        archive_by_web_form,
        archive_by_api_patch,
        archive_by_api_put,
        archive_by_api_delete,
        archive_by_admin,
    ],
)
def test_every_door_cancels_the_pinned_slots(client, member, setup, archive):
    token = setup["pinned"].token
    response = archive(client, member, setup)
    assert response.status_code in (200, 204, 302), response.content[:2000]
    post = Post.objects.get(id=setup["post"].id)
    pinned = Timeslot.objects.get(id=setup["pinned"].id)
    assert post.status == Post.Status.ARCHIVED
    assert pinned.status == Timeslot.Status.CANCELED
    assert pinned.reason_code == Reason.POST_ARCHIVED
    assert pinned.token != token  # the slot's queued message is now a no-op
    # Another post's pinned slot on the same channel is untouched.
    assert Timeslot.objects.get(id=setup["other"].id).status == Timeslot.Status.SCHEDULED
