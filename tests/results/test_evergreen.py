"""Evergreen hygiene: a looping queue marks the posts whose last N publications each did worse
than the channel's median publication, offers to stop looping them (POST, CSRF, editors
only) or to add a variation, and the mark costs one query whatever the queue's size."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import Membership
from channels.models import Channel, QueueEntry
from results import audience
from tests.factories import (
    ChannelFactory,
    MembershipFactory,
    PostFactory,
    QueueEntryFactory,
    SocialAccountFactory,
)
from tests.results.audience_seed import NOW, publish_many

pytestmark = pytest.mark.django_db

# Each post's publications, oldest first. All twelve: 5,5,9,10,10,11,12,50,60,70,80,100, so
# the median is (11 + 12) / 2 = 11.5.
HISTORY = {
    "fading": [100, 10, 11, 10],  # its last three are all below: marked
    "strong": [50, 60, 70],
    "young": [5, 5],  # below, but only two publications: not judged at N = 3
    "mixed": [12, 80, 9],  # one of its last three is above: not marked
}


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def _seed(workspace, *, extra_posts: int = 0, mode=Channel.Mode.LOOP):
    channel = ChannelFactory(workspace=workspace, mode=mode, with_sandbox=False)
    account = SocialAccountFactory(workspace=workspace)
    entries, rows, n = {}, [], 0
    for name, values in HISTORY.items():
        post = PostFactory(workspace=workspace, text=f"The {name} post")
        entries[name] = QueueEntryFactory(channel=channel, post=post)
        for value in values:
            n += 1
            rows.append((post, NOW - dt.timedelta(days=60 - n), value))
    # More queued posts, each published once (too few to judge): the queue grows, not the marks.
    for i in range(extra_posts):
        post = PostFactory(workspace=workspace, text=f"Filler {i}")
        QueueEntryFactory(channel=channel, post=post)
        rows.append((post, NOW - dt.timedelta(days=70, minutes=i), 11))
    publish_many(channel, account, rows)
    return channel, entries


def test_exactly_the_underperformers_are_marked(member, web):
    channel, entries = _seed(member.workspace)
    marks = audience.underperformers(
        audience.channel_publications(channel_id=channel.id, now=NOW), lookback=3
    )
    assert set(marks) == {entries["fading"].post_id}
    assert marks[entries["fading"].post_id].recent == [10, 11, 10]
    assert marks[entries["fading"].post_id].median == 11.5

    response = web.get(f"/channels/{channel.id}/")
    html = response.content.decode()
    assert html.count("Below median") == 1
    assert (
        "Its last 3 publications earned 10, 11, 10, each below this channel&#x27;s median of 11.5"
        in html
    )
    fading = entries["fading"]
    assert f'action="/channels/{channel.id}/queue/{fading.id}/stop/"' in html
    assert f'href="/posts/{fading.post_id}/#variations"' in html
    assert html.count("Stop looping") == 1


def test_the_channel_setting_changes_n(member, web):
    channel, entries = _seed(member.workspace)
    Channel.objects.filter(id=channel.id).update(hygiene_lookback=2)
    marked = {
        e.post_id
        for e in web.get(f"/channels/{channel.id}/").context["active_entries"]
        if e.underperformer
    }
    # N = 2: "young" (5, 5) is judged now; "mixed" ends 80, 9.
    assert marked == {entries["fading"].post_id, entries["young"].post_id}


def test_a_once_queue_marks_nothing(member, web):
    channel, _ = _seed(member.workspace, mode=Channel.Mode.ONCE)
    assert "Below median" not in web.get(f"/channels/{channel.id}/").content.decode()


def test_stop_looping_takes_it_out_of_rotation_and_keeps_it(member, web):
    channel, entries = _seed(member.workspace)
    fading = entries["fading"]
    response = web.post(f"/channels/{channel.id}/queue/{fading.id}/stop/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    fading.refresh_from_db()
    assert not fading.is_active
    assert QueueEntry.objects.filter(id=fading.id).exists()  # listed with the finished posts
    assert "Below median" not in response.content.decode()
    assert web.get(f"/channels/{channel.id}/queue/{fading.id}/stop/").status_code == 405


@pytest.mark.parametrize("role", [Membership.Role.VIEWER, Membership.Role.APPROVER])
def test_only_editors_stop_looping(role):
    member = MembershipFactory(role=role)
    channel, entries = _seed(member.workspace)
    client = Client()
    client.force_login(member.user)
    response = client.post(f"/channels/{channel.id}/queue/{entries['fading'].id}/stop/")
    assert response.status_code == 403
    assert QueueEntry.objects.get(id=entries["fading"].id).is_active
    # Readers see the mark, not the actions.
    html = client.get(f"/channels/{channel.id}/").content.decode()
    assert "Below median" in html and "Stop looping" not in html


def test_stop_looping_needs_the_csrf_token(member):
    channel, entries = _seed(member.workspace)
    client = Client(enforce_csrf_checks=True)
    client.force_login(member.user)
    response = client.post(f"/channels/{channel.id}/queue/{entries['fading'].id}/stop/")
    assert response.status_code == 403
    assert QueueEntry.objects.get(id=entries["fading"].id).is_active


def test_another_workspaces_entry_is_a_404(web):
    channel, entries = _seed(MembershipFactory().workspace)
    response = web.post(f"/channels/{channel.id}/queue/{entries['fading'].id}/stop/")
    assert response.status_code == 404


def _queries(web, channel) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert web.get(f"/channels/{channel.id}/").status_code == 200
    return len(ctx)


def test_the_mark_costs_one_query_whatever_the_queue(member, web):
    small, _ = _seed(member.workspace)
    big, _ = _seed(member.workspace, extra_posts=40)
    once, _ = _seed(member.workspace, mode=Channel.Mode.ONCE)
    with_mark = _queries(web, small)
    assert _queries(web, big) == with_mark
    # The same page without the feature (a once queue is never marked): one query less.
    assert _queries(web, once) == with_mark - 1
