"""Channel pages: a new channel starts in my display zone; projected slots do not count coming
slots as published."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.urls import reverse

from accounts.models import Membership, Profile
from channels.models import QueueEntry
from tests.factories import (
    ChannelFactory,
    MembershipFactory,
    QueueEntryFactory,
    ScheduleFactory,
)

pytestmark = pytest.mark.django_db

UTC = dt.UTC
NOW = dt.datetime(2026, 6, 1, 7, 0, tzinfo=UTC)


@pytest.fixture
def owner():
    return MembershipFactory(role=Membership.Role.OWNER)


@pytest.fixture
def web(client, owner):
    client.force_login(owner.user)
    return client


def test_a_new_channel_starts_in_my_display_zone(web, owner):
    Profile.objects.create(user=owner.user, timezone="America/Chicago")
    page = web.get(reverse("channel_create")).content.decode()
    selected = re.findall(r'<option value="([^"]+)" selected[ >]', page)
    assert selected == ["America/Chicago"], selected


def test_projected_slots_do_not_count_coming_slots_as_published(web, owner):
    channel = ChannelFactory(workspace=owner.workspace)
    ScheduleFactory(channel=channel)  # daily at 09:00
    QueueEntryFactory(channel=channel, post__text="Only post")
    with time_machine.travel(NOW, tick=False):
        page = web.get(reverse("channel_detail", args=[channel.id])).content.decode()
    assert page.count("Only post") >= 3  # the one post loops over the coming days
    assert "here so far" not in page and "here before" not in page
    assert "Not published here yet" in page
    QueueEntry.objects.update(times_published=2, last_published_at=NOW - dt.timedelta(days=1))
    with time_machine.travel(NOW, tick=False):
        page = web.get(reverse("channel_detail", args=[channel.id])).content.decode()
    assert "Published 2\u00d7 here so far" in page and "Published 3\u00d7" not in page
