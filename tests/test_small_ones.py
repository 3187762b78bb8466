"""Issue 13, item 5: the small ones, one test (or two) each."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.db import connection
from django.test import RequestFactory, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Membership, Profile, SocialAccount
from channels.models import Channel, QueueEntry
from posts.models import Post, word_preview
from queueloop.urls import server_error
from tests.factories import (
    ChannelFactory,
    DeliveryFactory,
    MembershipFactory,
    PostFactory,
    QueueEntryFactory,
    ScheduleFactory,
    TimeslotFactory,
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


# --- Share now --------------------------------------------------------------------------------


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


# --- Accounts page ---------------------------------------------------------------------------


@override_settings(X_CLIENT_ID="")
def test_connect_with_x_is_not_offered_when_x_is_not_configured(web):
    page = web.get(reverse("account_list")).content.decode()
    assert "Connect with X" not in page
    assert "X_CLIENT_ID" in page and "X_CLIENT_SECRET" in page
    assert "Paste OAuth 1.0a keys" in page


@override_settings(X_CLIENT_ID="client-123")
def test_connect_with_x_is_offered_when_configured(web):
    page = web.get(reverse("account_list")).content.decode()
    assert "Connect with X" in page and "X_CLIENT_ID" not in page


def test_the_webhook_name_says_what_it_is(web):
    page = web.get(reverse("account_list")).content.decode()
    assert "Short name (letters, digits, dashes)" in page
    r = web.post(
        reverse("account_add_webhook"),
        {"handle": "Team chat!", "url": "https://203.0.113.5/hook", "secret": "s" * 20},
    )
    assert r.status_code == 400  # not a slug: a clear message, nothing saved
    assert "letters, numbers, underscores or hyphens" in r.content.decode()
    assert not SocialAccount.objects.filter(provider="webhook").exists()


# --- Channels ---------------------------------------------------------------------------------


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


# --- Error pages ------------------------------------------------------------------------------


def test_404_and_500_pages_are_styled(web):
    r = web.get("/no-such-page/")
    assert r.status_code == 404 and b"app.css" in r.content and b"<h1>Not found</h1>" in r.content
    response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    assert b"app.css" in response.content and b"Something went wrong" in response.content


# --- Deleting what never published -----------------------------------------------------------


def test_owner_deletes_a_channel_that_never_published(web, owner):
    channel = ChannelFactory(workspace=owner.workspace, name="#oops")
    QueueEntryFactory(channel=channel)
    assert (
        "Delete this channel"
        in web.get(reverse("channel_settings", args=[channel.id])).content.decode()
    )
    confirm = web.get(reverse("channel_delete", args=[channel.id]))
    assert confirm.status_code == 200 and b"Delete the channel #oops" in confirm.content
    assert Channel.objects.filter(id=channel.id).exists()  # GET changes nothing
    r = web.post(reverse("channel_delete", args=[channel.id]))
    assert r.status_code == 302
    assert not Channel.objects.filter(id=channel.id).exists()
    assert Post.objects.filter(workspace=owner.workspace).count() == 1  # posts stay


def test_a_channel_that_published_is_refused(web, owner):
    channel = ChannelFactory(workspace=owner.workspace)
    DeliveryFactory(timeslot=TimeslotFactory(channel=channel))
    r = web.post(reverse("channel_delete", args=[channel.id]))
    assert "Pause it instead" in " ".join(_messages(r))
    assert Channel.objects.filter(id=channel.id).exists()


def test_owner_deletes_a_post_that_never_published_but_not_one_that_did(web, owner):
    post = PostFactory(workspace=owner.workspace)
    assert (
        f'href="{reverse("post_delete", args=[post.id])}"'
        in web.get(reverse("post_list")).content.decode()
    )
    assert web.post(reverse("post_delete", args=[post.id])).status_code == 302
    assert not Post.objects.filter(id=post.id).exists()
    published = DeliveryFactory(
        timeslot=TimeslotFactory(channel=ChannelFactory(workspace=owner.workspace))
    ).post
    r = web.post(reverse("post_delete", args=[published.id]))
    assert "Archive it instead" in " ".join(_messages(r))
    assert Post.objects.filter(id=published.id).exists()


def test_editors_cannot_delete_and_other_workspaces_are_404(client, owner):
    channel = ChannelFactory(workspace=owner.workspace)
    post = PostFactory(workspace=owner.workspace)
    editor = MembershipFactory(workspace=owner.workspace, role=Membership.Role.EDITOR)
    client.force_login(editor.user)
    assert client.post(reverse("channel_delete", args=[channel.id])).status_code == 403
    assert client.post(reverse("post_delete", args=[post.id])).status_code == 403
    assert (
        reverse("post_delete", args=[post.id])
        not in client.get(reverse("post_list")).content.decode()
    )
    stranger = MembershipFactory(role=Membership.Role.OWNER)
    client.force_login(stranger.user)
    assert client.post(reverse("channel_delete", args=[channel.id])).status_code == 404
    assert client.post(reverse("post_delete", args=[post.id])).status_code == 404
    assert (
        Channel.objects.filter(id=channel.id).exists() and Post.objects.filter(id=post.id).exists()
    )
