"""The post form caps a post's text as the API does: a 400, nothing saved."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import Membership
from posts.models import Post
from tests.factories import MembershipFactory


@pytest.mark.django_db
def test_the_web_form_caps_text_like_the_api(client):
    owner = MembershipFactory(role=Membership.Role.OWNER)
    client.force_login(owner.user)
    response = client.post(reverse("post_create"), {"text": "x" * 1_000_000, "status": "ready"})
    assert response.status_code == 400
    assert not Post.objects.exists()
