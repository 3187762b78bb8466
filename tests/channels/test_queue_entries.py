"""Adding to a channel's queue: two posts added at once to an empty queue get distinct positions."""

from __future__ import annotations

import pytest

from channels import services as channel_services
from channels.models import QueueEntry
from tests.conftest import race
from tests.factories import (
    ChannelFactory,
    PostFactory,
)


@pytest.mark.django_db(transaction=True)
def test_two_posts_added_to_an_empty_queue_at_once_get_distinct_positions():
    channel = ChannelFactory()
    posts = [PostFactory(workspace=channel.workspace) for _ in range(2)]
    race(*[(lambda p=p: channel_services.queue_entry_add(channel=channel, post=p)) for p in posts])
    positions = sorted(
        QueueEntry.objects.filter(channel=channel).values_list("position", flat=True)
    )
    assert positions == [1, 2]
