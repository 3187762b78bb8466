"""One clock (issue 13, item 4): each person's display zone, stored on their profile (the
browser's by default), active for every request, with the channel's own time beside a
slot's where the two clocks differ."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership, Profile
from tests.factories import (
    ChannelFactory,
    MembershipFactory,
    NoticeFactory,
    PostFactory,
    QueueEntryFactory,
    TimeslotFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

UTC = dt.UTC
NOW = dt.datetime(2026, 6, 1, 11, 30, tzinfo=UTC)
SLOT = dt.datetime(2026, 6, 1, 12, 0, tzinfo=UTC)  # 08:00 EDT, 14:00 CEST


@pytest.fixture
def member():
    return MembershipFactory(role=Membership.Role.EDITOR)


def _set_zone(member, zone):
    Profile.objects.update_or_create(user=member.user, defaults={"timezone": zone})


def _berlin_slot(member):
    channel = ChannelFactory(workspace=member.workspace, timezone="Europe/Berlin")
    QueueEntryFactory(channel=channel, post__text="Hello")
    TimeslotFactory(channel=channel, publish_at=SLOT, planned_for=SLOT)
    return channel


def test_dashboard_next_up_in_my_zone_with_the_channel_time_beside(web, member):
    _berlin_slot(member)
    _set_zone(member, "America/New_York")
    with time_machine.travel(NOW, tick=False):
        page = web.get(reverse("dashboard")).content.decode()
    assert "08:00" in page and "EDT" in page
    assert "(14:00 CEST channel time)" in page


def test_no_second_clock_when_the_zones_agree(web, member):
    _berlin_slot(member)
    _set_zone(member, "Europe/Paris")  # same offset as Berlin
    with time_machine.travel(NOW, tick=False):
        page = web.get(reverse("dashboard")).content.decode()
    assert "14:00" in page and "channel time" not in page


def test_notices_channel_page_and_posts_list_use_my_zone(web, member):
    channel = _berlin_slot(member)
    _set_zone(member, "Asia/Tokyo")
    NoticeFactory(workspace=member.workspace)
    PostFactory(workspace=member.workspace)
    with time_machine.travel(NOW, tick=False):
        from accounts.models import Notice
        from posts.models import Post

        Notice.objects.update(created_at=SLOT)
        Post.objects.update(created_at=dt.datetime(2026, 5, 31, 20, 0, tzinfo=UTC))
        dashboard = web.get(reverse("dashboard")).content.decode()
        detail = web.get(reverse("channel_detail", args=[channel.id])).content.decode()
        posts = web.get(reverse("post_list")).content.decode()
    assert "Mon 1 Jun, 21:00 JST" in dashboard  # the notice, 12:00 UTC
    assert "21:00" in detail and "(14:00 CEST channel time)" in detail
    assert "1 Jun 2026" in posts  # 20:00 UTC on 31 May is 1 June in Tokyo


def test_the_browser_zone_is_stored_once_and_never_over_a_choice(web, member):
    web.cookies["ql_tz"] = "Australia/Sydney"
    web.get(reverse("dashboard"))
    assert Profile.objects.get(user=member.user).timezone == "Australia/Sydney"
    _set_zone(member, "Europe/Lisbon")
    web.cookies["ql_tz"] = "Asia/Tokyo"
    web.get(reverse("dashboard"))
    assert Profile.objects.get(user=member.user).timezone == "Europe/Lisbon"


def test_a_bogus_browser_zone_is_ignored(web, member):
    web.cookies["ql_tz"] = "Mars/Olympus"
    assert web.get(reverse("dashboard")).status_code == 200
    assert not Profile.objects.filter(user=member.user, timezone="Mars/Olympus").exists()


def test_profile_page_changes_the_zone_and_refuses_a_bad_one(web, member):
    page = web.get(reverse("profile")).content.decode()
    assert '<label for="id_timezone">Display time zone</label>' in page
    assert 'value="America/New_York"' in page
    r = web.post(reverse("profile"), {"timezone": "America/New_York"})
    assert r.status_code == 302
    assert Profile.objects.get(user=member.user).timezone == "America/New_York"
    r = web.post(reverse("profile"), {"timezone": "Not/AZone"})
    assert r.status_code == 400
    assert Profile.objects.get(user=member.user).timezone == "America/New_York"


def test_viewers_may_set_their_own_zone(client):
    viewer = MembershipFactory(role=Membership.Role.VIEWER)
    client.force_login(viewer.user)
    assert client.post(reverse("profile"), {"timezone": "Europe/Rome"}).status_code == 302
    assert Profile.objects.get(user=viewer.user).timezone == "Europe/Rome"


def test_the_admin_says_which_zone_its_times_are_in(client):
    admin = UserFactory(is_staff=True, is_superuser=True)
    Profile.objects.create(user=admin, timezone="Europe/Madrid")
    client.force_login(admin)
    page = client.get(reverse("admin:index")).content.decode()
    assert "Times in Europe/Madrid" in page


def test_the_zone_is_not_left_active_after_the_request(web, member):
    _set_zone(member, "Asia/Kolkata")
    web.get(reverse("dashboard"))
    assert timezone.get_current_timezone_name() == "UTC"


def test_when_tag_without_a_channel_and_with_nothing():
    t = Template("{% load clock %}[{% when value %}][{% when missing 'Europe/Berlin' %}]")
    with timezone.override("Europe/Berlin"):
        out = t.render(Context({"value": SLOT}))
    assert out == '[<time datetime="2026-06-01T12:00:00+00:00">Mon 1 Jun, 14:00 CEST</time>][]'
