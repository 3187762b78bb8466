"""Issue 10, finding 7: the smaller ones, each from outside (web client or API)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import ApiToken, Membership
from channels import services as channel_services
from channels.models import Channel, QueueEntry
from posts.models import Post
from tests.conftest import race
from tests.factories import (
    ChannelFactory,
    DeliveryFactory,
    MembershipFactory,
    PostFactory,
    SocialAccountFactory,
    TimeslotFactory,
)


def api_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {ApiToken.objects.create(user=user).key}")
    return client


@pytest.mark.django_db
def test_a_viewer_can_switch_workspace_but_still_not_change_anything(client):
    viewer = MembershipFactory(role=Membership.Role.VIEWER)
    other = MembershipFactory(user=viewer.user, role=Membership.Role.VIEWER)
    client.force_login(viewer.user)
    response = client.post(reverse("workspace_switch"), {"workspace": other.workspace_id})
    assert response.status_code == 302
    assert client.session["workspace_id"] == other.workspace_id
    assert client.post(reverse("account_add_sandbox"), {"handle": "x"}).status_code == 403


@pytest.mark.django_db
def test_the_web_form_caps_text_like_the_api(client):
    owner = MembershipFactory(role=Membership.Role.OWNER)
    client.force_login(owner.user)
    response = client.post(reverse("post_create"), {"text": "x" * 1_000_000, "status": "ready"})
    assert response.status_code == 400
    assert not Post.objects.exists()


@pytest.mark.django_db
def test_channel_names_are_unique_per_workspace_through_the_api_too():
    owner = MembershipFactory(role=Membership.Role.OWNER)
    ChannelFactory(workspace=owner.workspace, name="#tech", slug="tech")
    news = ChannelFactory(workspace=owner.workspace, name="#news", slug="news")
    response = api_for(owner.user).patch(
        f"/api/v1/channels/{news.id}/", {"name": "#tech"}, format="json"
    )
    assert response.status_code == 400, response.content
    assert Channel.objects.get(pk=news.pk).name == "#news"


@pytest.mark.django_db
@pytest.mark.parametrize("zone", ["localtime", "posixrules", "Factory/../UTC"])
def test_only_iana_zone_names_are_accepted(zone):
    owner = MembershipFactory(role=Membership.Role.OWNER)
    channel = ChannelFactory(workspace=owner.workspace, timezone="UTC")
    response = api_for(owner.user).patch(
        f"/api/v1/channels/{channel.id}/", {"timezone": zone}, format="json"
    )
    assert response.status_code == 400
    assert Channel.objects.get(pk=channel.pk).timezone == "UTC"


@pytest.mark.django_db
def test_a_delivery_without_a_url_shows_null_not_an_empty_string():
    owner = MembershipFactory(role=Membership.Role.OWNER)
    channel = ChannelFactory(workspace=owner.workspace)
    DeliveryFactory(timeslot=TimeslotFactory(channel=channel), url="")
    [row] = api_for(owner.user).get("/api/v1/deliveries/").json()["results"]
    assert row["url"] is None


@pytest.mark.django_db
def test_viewers_do_not_see_webhook_urls(client):
    viewer = MembershipFactory(role=Membership.Role.VIEWER)
    SocialAccountFactory(
        workspace=viewer.workspace,
        provider="webhook",
        handle="hook",
        credentials={"url": "https://hooks.example.com/in?token=SECRET123", "secret": "s" * 20},
    )
    client.force_login(viewer.user)
    body = client.get(reverse("account_list")).content.decode()
    assert "@hook" in body or "hook" in body
    assert "hooks.example.com" not in body and "SECRET123" not in body


@pytest.mark.django_db(transaction=True)
def test_two_posts_added_to_an_empty_queue_at_once_get_distinct_positions():
    channel = ChannelFactory()
    posts = [PostFactory(workspace=channel.workspace) for _ in range(2)]
    race(*[(lambda p=p: channel_services.queue_entry_add(channel=channel, post=p)) for p in posts])
    positions = sorted(
        QueueEntry.objects.filter(channel=channel).values_list("position", flat=True)
    )
    assert positions == [1, 2]
