"""Share now from the posts list: the post's own channel preselected, the message quoting
the post cut at a word boundary."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from accounts.models import Membership
from posts.models import word_preview
from tests.factories import (
    ChannelFactory,
    MembershipFactory,
    PostFactory,
    QueueEntryFactory,
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


def test_share_now_preselects_the_posts_own_channel(web, owner):
    ChannelFactory(workspace=owner.workspace, name="#aaa first")
    mine = ChannelFactory(workspace=owner.workspace, name="#zzz mine")
    QueueEntryFactory(channel=mine)
    page = web.get(reverse("post_list")).content.decode()
    assert f'<option value="{mine.id}" selected>' in page
    assert page.count(" selected>") == 1


def test_share_now_message_is_cut_at_a_word_boundary(web, owner):
    channel = ChannelFactory(workspace=owner.workspace)
    text = "Evergreen tip: schedule your best posts again and again, because nobody saw them"
    post = PostFactory(workspace=owner.workspace, text=text)
    r = web.post(reverse("post_share", args=[post.id]), {"channel": channel.id})
    [message] = _messages(r)
    assert "“Evergreen tip: schedule your best posts again and again…”" in message
    assert word_preview("short") == "short"
    assert word_preview("a" * 80) == "a" * 60 + "…"  # one long word: cut anyway
