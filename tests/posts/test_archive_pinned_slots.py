"""Archiving a post through the web form and the API cancels its pinned slots."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from scheduling import services as scheduling
from scheduling.models import Timeslot
from tests.factories import (
    ChannelFactory,
    PostFactory,
)


def test_archiving_through_the_web_form_and_the_api_cancels_pinned_slots(client, db):
    from accounts.models import ApiToken
    from tests.factories import MembershipFactory

    member = MembershipFactory()
    channel = ChannelFactory(workspace=member.workspace)
    client.force_login(member.user)
    token = ApiToken.objects.create(user=member.user)
    later = timezone.now() + dt.timedelta(days=1)
    for via in ("web", "api"):
        post = PostFactory(workspace=member.workspace)
        slot = scheduling.timeslot_pin(post=post, channel=channel, publish_at=later)
        if via == "web":
            response = client.post(
                f"/posts/{post.id}/",
                {"text": post.text, "status": "archived", "expires_at": ""},
            )
            assert response.status_code in (200, 302), response.content[:500]
        else:
            response = client.delete(
                f"/api/v1/posts/{post.id}/", HTTP_AUTHORIZATION=f"Token {token.key}"
            )
            assert response.status_code in (200, 204), response.content[:500]
        slot.refresh_from_db()
        post.refresh_from_db()
        assert post.status == "archived", via
        assert slot.status == Timeslot.Status.CANCELED, via
        assert slot.reason == "Canceled: the post was archived.", via
