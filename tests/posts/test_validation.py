"""Post validation reaches every network the post will be sent to."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from editor import services
from posts.models import Post
from scheduling.services import timeslot_pin
from tests.factories import ChannelFactory, PostFactory, XAccountFactory

LONG = "word " * 70  # 350 weighted characters


@pytest.mark.django_db
def test_too_long_for_x_is_refused_with_the_weighted_count_and_nothing_saved():
    channel = ChannelFactory()
    channel.accounts.add(XAccountFactory(workspace=channel.workspace))
    with pytest.raises(
        ValidationError, match="X counts this text as 350 characters; the limit is 280"
    ):
        services.post_create(workspace=channel.workspace, text=LONG, channels=[channel])
    assert not Post.objects.exists()


@pytest.mark.django_db
def test_editing_a_pinned_post_checks_the_pinned_channels_networks_too():
    channel = ChannelFactory()
    channel.accounts.add(XAccountFactory(workspace=channel.workspace))
    post = PostFactory(workspace=channel.workspace, text="short")
    timeslot_pin(
        post=post, channel=channel, publish_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    )
    with pytest.raises(ValidationError, match="350 characters"):
        services.post_update(post=post, text=LONG)
    post.refresh_from_db()
    assert post.text == "short"


@pytest.mark.django_db
def test_nul_characters_are_refused_with_a_message_not_a_crash():
    channel = ChannelFactory()
    with pytest.raises(ValidationError, match="NUL character"):
        services.post_create(workspace=channel.workspace, text="a\x00b", channels=[channel])
    assert not Post.objects.exists()
