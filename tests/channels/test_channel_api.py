"""The channel API validates like the web form: names unique per workspace, IANA zone names only."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import ApiToken, Membership
from channels.models import Channel
from tests.factories import (
    ChannelFactory,
    MembershipFactory,
)


def api_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {ApiToken.objects.create(user=user).key}")
    return client


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
