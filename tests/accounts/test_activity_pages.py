"""The activity pages, CSV export and API (issue 27, item 4): filters, keyset pages with a
constant number of queries, owners-only export, one workspace never sees another's log."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.activity import activity_context, activity_record
from accounts.models import ActivityAction, ActivityEntry, ActivitySource, ApiToken, Membership
from tests.factories import ChannelFactory, MembershipFactory, PostFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner():
    return MembershipFactory(role=Membership.Role.OWNER)


def _record(m, n=1, *, action=ActivityAction.POST_EDITED, post=None, channel=None, user=None):
    with activity_context(source=ActivitySource.WEB, user=user or m.user):
        for _ in range(n):
            activity_record(
                workspace_id=m.workspace_id, action=action, post=post, channel=channel, target="t"
            )


def _queries(client, url) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, response.content[:500]
    return len(ctx.captured_queries), response


# --- Pages ----------------------------------------------------------------------------------


def test_workspace_page_lists_newest_first_and_pages_by_keyset(client, owner):
    client.force_login(owner.user)
    _record(owner, 120)
    ids = list(ActivityEntry.objects.order_by("-id").values_list("id", flat=True))
    seen, url = [], "/activity/"
    counts = []
    while url:
        n, response = _queries(client, url)
        counts.append(n)
        seen += [e.id for e in response.context["entries"]]
        nxt = response.context["next_query"]
        url = f"/activity/?{nxt}" if nxt else None
    assert seen == ids
    assert len(counts) == 3 and len(set(counts)) == 1, counts  # every page costs the same


def test_filters_by_actor_action_source_and_dates(client, owner):
    client.force_login(owner.user)
    other = MembershipFactory(workspace=owner.workspace, role=Membership.Role.EDITOR)
    with time_machine.travel(dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC), tick=False):
        _record(owner, action=ActivityAction.SLOT_MOVED)
    with time_machine.travel(dt.datetime(2026, 3, 5, 12, tzinfo=dt.UTC), tick=False):
        _record(other, action=ActivityAction.SLOT_MOVED, user=other.user)
        _record(owner, action=ActivityAction.POST_CREATED)
    with activity_context(source=ActivitySource.API, user=owner.user):
        activity_record(workspace_id=owner.workspace_id, action=ActivityAction.POST_EDITED)

    def shown(**params):
        response = client.get("/activity/", params)
        assert response.status_code == 200
        return [(e.actor_id, e.action) for e in response.context["entries"]]

    assert shown(actor=other.user.id) == [(other.user.id, "slot.moved")]
    assert len(shown(action="slot.moved")) == 2
    assert shown(source="api") == [(owner.user.id, "post.edited")]
    assert shown(**{"from": "2026-03-02", "to": "2026-03-05", "action": "slot.moved"}) == [
        (other.user.id, "slot.moved")
    ]
    assert shown(**{"to": "2026-03-01"}) == [(owner.user.id, "slot.moved")]


@pytest.mark.parametrize(
    "params",
    [{"actor": "x"}, {"action": "nope"}, {"from": "2026-13-01"}, {"from": "2026-03-05",
     "to": "2026-03-01"}, {"before": "-1"}, {"from": "0001-01-01"}],
)  # fmt: skip
def test_bad_filters_are_a_400_with_a_message(client, owner, params):
    client.force_login(owner.user)
    response = client.get("/activity/", params)
    assert response.status_code == 400
    assert response.context["errors"]


def test_post_and_channel_pages_show_only_theirs(client, owner):
    client.force_login(owner.user)
    post = PostFactory(workspace=owner.workspace)
    channel = ChannelFactory(workspace=owner.workspace)
    _record(owner, 2, post=post)
    _record(owner, 3, channel=channel)
    _record(owner, 4)
    assert len(client.get(f"/posts/{post.id}/activity/").context["entries"]) == 2
    assert len(client.get(f"/channels/{channel.id}/activity/").context["entries"]) == 3
    assert len(client.get("/activity/").context["entries"]) == 9


@pytest.mark.parametrize("page", ["workspace", "post", "channel"])
def test_queries_do_not_grow_with_entries(client, owner, page):
    client.force_login(owner.user)
    post = PostFactory(workspace=owner.workspace)
    channel = ChannelFactory(workspace=owner.workspace)
    url = {
        "workspace": "/activity/",
        "post": f"/posts/{post.id}/activity/",
        "channel": f"/channels/{channel.id}/activity/",
    }[page]
    _record(owner, post=post, channel=channel)
    client.get(url)
    one, _ = _queries(client, url)
    for i in range(30):
        member = MembershipFactory(workspace=owner.workspace, role=Membership.Role.EDITOR)
        _record(member, post=post, channel=channel, user=member.user)
        assert i >= 0
    many, _ = _queries(client, url)
    assert many == one


def test_another_workspaces_log_is_never_shown(client, owner):
    theirs = MembershipFactory()
    post = PostFactory(workspace=theirs.workspace)
    channel = ChannelFactory(workspace=theirs.workspace)
    _record(theirs, post=post, channel=channel)
    client.force_login(owner.user)
    assert client.get(f"/posts/{post.id}/activity/").status_code == 404
    assert client.get(f"/channels/{channel.id}/activity/").status_code == 404
    assert client.get("/activity/").context["entries"] == []
    body = client.get("/activity/export.csv")
    assert len(list(csv.reader(io.StringIO(b"".join(body.streaming_content).decode())))) == 1


def test_viewers_read_the_log(client, owner):
    viewer = MembershipFactory(workspace=owner.workspace, role=Membership.Role.VIEWER)
    _record(owner)
    client.force_login(viewer.user)
    assert len(client.get("/activity/").context["entries"]) == 1
    assert client.post("/activity/").status_code in (403, 405)


# --- CSV export -----------------------------------------------------------------------------


def test_owners_export_the_filtered_log_as_streamed_csv(client, owner):
    client.force_login(owner.user)
    _record(owner, 3, action=ActivityAction.SLOT_CANCELED)
    with activity_context(source=ActivitySource.WEB, user=owner.user):
        activity_record(
            workspace_id=owner.workspace_id, action=ActivityAction.POST_CREATED, target="=1+1"
        )
    response = client.get("/activity/export.csv", {"action": "post.created"})
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["id", "at", "actor"]
    assert len(rows) == 2
    assert rows[1][5] == "post.created"
    assert rows[1][6] == "'=1+1"  # never run as a formula by a spreadsheet


def test_export_walks_every_row_in_chunks(client, owner, monkeypatch):
    from accounts import activity_reads

    monkeypatch.setattr(activity_reads, "EXPORT_CHUNK", 7)
    client.force_login(owner.user)
    _record(owner, 20)
    response = client.get("/activity/export.csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [int(r[0]) for r in rows[1:]] == list(
        ActivityEntry.objects.order_by("-id").values_list("id", flat=True)
    )


@pytest.mark.parametrize("role", [Membership.Role.EDITOR, Membership.Role.VIEWER])
def test_only_owners_export(client, owner, role):
    member = MembershipFactory(workspace=owner.workspace, role=role)
    client.force_login(member.user)
    assert client.get("/activity/export.csv").status_code == 403


def test_export_with_a_bad_filter_is_a_400(client, owner):
    client.force_login(owner.user)
    assert client.get("/activity/export.csv", {"to": "soon"}).status_code == 400


# --- API ------------------------------------------------------------------------------------


def _api(user) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {ApiToken.objects.create(user=user).key}")
    return api


def test_api_lists_with_filters_and_cursor_pages(owner):
    post = PostFactory(workspace=owner.workspace)
    _record(owner, 60, post=post)
    _record(owner, 5, action=ActivityAction.SLOT_MOVED)
    api = _api(owner.user)
    first = api.get("/api/v1/activity/")
    assert first.status_code == 200
    body = first.json()
    assert len(body["results"]) == 50 and body["next"]
    assert body["results"][0]["action"] == "slot.moved"
    assert body["results"][0]["source"] == "web"
    with CaptureQueriesContext(connection) as one:
        api.get("/api/v1/activity/")
    with CaptureQueriesContext(connection) as two:
        second = api.get(body["next"])
    assert len(second.json()["results"]) == 15
    assert len(one.captured_queries) == len(two.captured_queries)
    moved = api.get("/api/v1/activity/", {"action": "slot.moved"}).json()["results"]
    assert len(moved) == 5
    mine = api.get("/api/v1/activity/", {"post": post.id, "actor": owner.user.id}).json()
    assert len(mine["results"]) == 50


def test_api_is_read_only_and_scoped(owner):
    theirs = MembershipFactory()
    _record(theirs)
    _record(owner)
    api = _api(owner.user)
    rows = api.get("/api/v1/activity/").json()["results"]
    assert [r["workspace"] for r in rows] == [owner.workspace.slug]
    foreign = ActivityEntry.objects.get(workspace=theirs.workspace)
    assert api.get(f"/api/v1/activity/{foreign.id}/").status_code == 404
    assert api.post("/api/v1/activity/", {"action": "post.created"}).status_code == 405
    mine = ActivityEntry.objects.get(workspace=owner.workspace)
    assert api.delete(f"/api/v1/activity/{mine.id}/").status_code == 405
    assert api.patch(f"/api/v1/activity/{mine.id}/", {"target": "x"}).status_code == 405


@pytest.mark.parametrize("params", [{"action": "nope"}, {"from": "x"}, {"actor": "-3"}])
def test_api_bad_filter_is_a_400(owner, params):
    response = _api(owner.user).get("/api/v1/activity/", params)
    assert response.status_code == 400
    assert response.json()


def test_workspace_filter_by_slug(owner):
    second = WorkspaceFactory()
    MembershipFactory(workspace=second, user=owner.user, role=Membership.Role.VIEWER)
    _record(owner)
    with activity_context(source=ActivitySource.ENGINE):
        activity_record(workspace_id=second.id, action=ActivityAction.SLOT_CANCELED)
    rows = _api(owner.user).get("/api/v1/activity/", {"workspace": second.slug}).json()
    assert [r["action"] for r in rows["results"]] == ["slot.canceled"]
    assert rows["results"][0]["actor"] is None
