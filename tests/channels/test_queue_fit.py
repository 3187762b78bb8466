"""A channel's queue against its accounts' networks: adding an account whose network refuses
queued posts warns and names them (settings, channel page, dashboard), in constant queries."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Membership
from tests.factories import (
    ChannelFactory,
    MembershipFactory,
    QueueEntryFactory,
    ScheduleFactory,
    XAccountFactory,
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


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


LONG = "A post written for Mastodon's 500 characters. " * 8  # 376 characters


def test_adding_an_account_whose_network_refuses_queued_posts_warns_and_names_them(web, owner):
    channel = ChannelFactory(workspace=owner.workspace, name="#long")
    ScheduleFactory(channel=channel)
    QueueEntryFactory(channel=channel, post__text=LONG)
    QueueEntryFactory(channel=channel, post__text="Short and fine")
    sandbox = channel.accounts.get()
    x = XAccountFactory(workspace=owner.workspace)
    r = web.post(
        reverse("channel_settings", args=[channel.id]),
        {"name": "#long", "timezone": "UTC", "mode": "loop", "accounts": [sandbox.id, x.id]},
    )
    assert r.status_code == 302
    [saved, warning] = _messages(r)
    assert saved == "Channel settings saved."
    assert "1 queued post(s) are too long" in warning
    assert "A post written for Mastodon" in warning and f"@{x.handle}" in warning
    assert "Short and fine" not in warning
    form = web.get(reverse("channel_settings", args=[channel.id])).content.decode()
    assert "Queued posts too long" in form
    with time_machine.travel(NOW, tick=False):
        detail = web.get(reverse("channel_detail", args=[channel.id])).content.decode()
        dashboard = web.get(reverse("dashboard")).content.decode()
    assert "Will fail:" in detail and f"@{x.handle}" in detail
    assert "Will fail:" in dashboard


def _dashboard_queries(web) -> int:
    with CaptureQueriesContext(connection) as ctx, time_machine.travel(NOW, tick=False):
        assert web.get(reverse("dashboard")).status_code == 200
    return len(ctx.captured_queries)


def test_the_fit_check_on_the_dashboard_does_not_grow_with_channels(web, owner):
    def channel_with_x(n):
        channel = ChannelFactory(workspace=owner.workspace, name=f"#c{n}")
        channel.accounts.add(XAccountFactory(workspace=owner.workspace, external_id=f"10{n}"))
        ScheduleFactory(channel=channel)
        QueueEntryFactory(channel=channel, post__text=LONG)

    channel_with_x(0)
    one = _dashboard_queries(web)
    for n in range(1, 5):
        channel_with_x(n)
    assert _dashboard_queries(web) == one


def test_no_warning_when_the_queue_fits(web, owner):
    channel = ChannelFactory(workspace=owner.workspace, name="#fits")
    QueueEntryFactory(channel=channel, post__text="Short and fine")
    x = XAccountFactory(workspace=owner.workspace)
    r = web.post(
        reverse("channel_settings", args=[channel.id]),
        {"name": "#fits", "timezone": "UTC", "mode": "loop", "accounts": [x.id]},
    )
    assert _messages(r) == ["Channel settings saved."]
    assert (
        "Queued posts too long"
        not in web.get(reverse("channel_settings", args=[channel.id])).content.decode()
    )
