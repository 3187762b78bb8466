"""Labels (issue 27, item 5): a fixed accessible palette, the labels page (owners and
editors write, viewers read), the composer, the API, and the label filter of the posts
list, a channel's queue and the calendar (kept in the URL, in the same queries)."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.models import ApiToken, Membership
from posts import labels as services
from posts.models import LABEL_TEXT_COLOR, Label, LabelColor, Post
from scheduling.models import Timeslot
from tests.factories import (
    ChannelFactory,
    MembershipFactory,
    PostFactory,
    QueueEntryFactory,
    ScheduleFactory,
    TimeslotFactory,
    rule,
)

pytestmark = pytest.mark.django_db


# --- The palette ----------------------------------------------------------------------------


def _luminance(hex_color: str) -> float:
    """WCAG 2.x relative luminance of an sRGB colour."""
    channels = [int(hex_color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    r, g, b = linear
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_the_contrast_formula_knows_the_extremes():
    assert contrast("#000000", "#FFFFFF") == pytest.approx(21.0)
    assert contrast("#777777", "#FFFFFF") < 4.5  # a grey that fails AA, so the check can fail


@pytest.mark.parametrize("color", LabelColor.values)
def test_every_palette_colour_meets_wcag_aa_with_its_text(color):
    assert contrast(color, LABEL_TEXT_COLOR) >= 4.5, LabelColor(color).label


# --- The service --------------------------------------------------------------------------


@pytest.fixture
def owner():
    return MembershipFactory(role=Membership.Role.OWNER)


def test_names_are_unique_per_workspace_whatever_the_case(owner):
    services.label_create(workspace=owner.workspace, name="Evergreen")
    with pytest.raises(Exception, match="already has a label"):
        services.label_create(workspace=owner.workspace, name=" evergreen ")
    other = MembershipFactory().workspace
    assert services.label_create(workspace=other, name="Evergreen").name == "Evergreen"


@pytest.mark.parametrize(
    "name, color", [("", LabelColor.RED), ("x" * 51, LabelColor.RED), ("ok", "#FFFFFF")]
)
def test_bad_names_and_colours_are_refused(owner, name, color):
    with pytest.raises(Exception, match=r"name|colour"):
        services.label_create(workspace=owner.workspace, name=name, color=color)
    assert not Label.objects.exists()


def test_a_post_never_carries_another_workspaces_label(owner):
    foreign = services.label_create(workspace=MembershipFactory().workspace, name="theirs")
    with pytest.raises(Exception, match="Unknown label"):
        services.post_labels_set(post=PostFactory(workspace=owner.workspace), labels=[foreign])


# --- The labels page ----------------------------------------------------------------------


@pytest.mark.parametrize("role", [Membership.Role.OWNER, Membership.Role.EDITOR])
def test_owners_and_editors_manage_labels(client, owner, role):
    member = MembershipFactory(workspace=owner.workspace, role=role)
    client.force_login(member.user)
    response = client.post("/labels/", {"name": "campaign: launch", "color": LabelColor.TEAL})
    assert response.status_code == 302
    label = Label.objects.get()
    assert (label.workspace_id, label.color) == (owner.workspace_id, LabelColor.TEAL)
    client.post(f"/labels/{label.id}/", {"name": "launch", "color": LabelColor.PINK})
    label.refresh_from_db()
    assert (label.name, label.color) == ("launch", LabelColor.PINK)
    page = client.get("/labels/").content.decode()
    assert "launch" in page and LabelColor.PINK in page
    client.post(f"/labels/{label.id}/delete/")
    assert not Label.objects.exists()


def test_a_bad_label_is_a_400_with_its_message(client, owner):
    client.force_login(owner.user)
    services.label_create(workspace=owner.workspace, name="evergreen")
    response = client.post("/labels/", {"name": "Evergreen", "color": LabelColor.RED})
    assert response.status_code == 400
    assert "already has a label" in response.content.decode()
    assert client.post("/labels/", {"name": "x", "color": "red"}).status_code == 400


def test_viewers_see_labels_but_cannot_write(client, owner):
    label = services.label_create(workspace=owner.workspace, name="evergreen")
    viewer = MembershipFactory(workspace=owner.workspace, role=Membership.Role.VIEWER)
    client.force_login(viewer.user)
    page = client.get("/labels/")
    assert page.status_code == 200 and "evergreen" in page.content.decode()
    assert client.post("/labels/", {"name": "new", "color": LabelColor.RED}).status_code == 403
    assert client.post(f"/labels/{label.id}/", {"name": "x"}).status_code == 403
    assert client.post(f"/labels/{label.id}/delete/").status_code == 403
    assert list(Label.objects.values_list("name", flat=True)) == ["evergreen"]


def test_another_workspaces_label_is_a_404(client, owner):
    foreign = services.label_create(workspace=MembershipFactory().workspace, name="theirs")
    client.force_login(owner.user)
    assert (
        client.post(f"/labels/{foreign.id}/", {"name": "mine", "color": "#B91C1C"}).status_code
        == 404
    )
    assert client.post(f"/labels/{foreign.id}/delete/").status_code == 404
    assert "theirs" not in client.get("/labels/").content.decode()
    Label.objects.get(name="theirs")


# --- The composer --------------------------------------------------------------------------


def test_the_composer_puts_labels_on_a_post_and_edits_them(client, owner):
    a = services.label_create(workspace=owner.workspace, name="launch")
    b = services.label_create(workspace=owner.workspace, name="evergreen")
    client.force_login(owner.user)
    assert "launch" in client.get("/posts/new/").content.decode()
    response = client.post("/posts/new/", {"text": "Hi", "status": "ready", "labels": [a.id]})
    assert response.status_code == 302
    post = Post.objects.get()
    assert list(post.labels.all()) == [a]
    client.post(f"/posts/{post.id}/", {"text": "Hi", "status": "ready", "labels": [b.id]})
    assert list(post.labels.all()) == [b]


def test_the_composer_refuses_another_workspaces_label(client, owner):
    foreign = services.label_create(workspace=MembershipFactory().workspace, name="theirs")
    client.force_login(owner.user)
    response = client.post("/posts/new/", {"text": "Hi", "status": "ready", "labels": [foreign.id]})
    assert response.status_code == 400
    assert not Post.objects.exists()


# --- API ----------------------------------------------------------------------------------


def _api(user) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {ApiToken.objects.create(user=user).key}")
    return api


def test_api_labels_endpoint_reads_and_writes(owner):
    api = _api(owner.user)
    created = api.post(
        "/api/v1/labels/", {"name": "launch", "color": LabelColor.RED}, format="json"
    )
    assert created.status_code == 201, created.content
    label_id = created.json()["id"]
    assert created.json()["workspace"] == owner.workspace.slug
    changed = api.patch(f"/api/v1/labels/{label_id}/", {"color": LabelColor.GREEN}, format="json")
    assert changed.json()["color"] == LabelColor.GREEN
    assert [r["name"] for r in api.get("/api/v1/labels/").json()] == ["launch"]
    assert api.delete(f"/api/v1/labels/{label_id}/").status_code == 204
    assert not Label.objects.exists()


@pytest.mark.parametrize(
    "body", [{"name": ""}, {"name": "x", "color": "red"}, {"name": "x" * 51}, {"color": "#B91C1C"}]
)
def test_api_bad_label_is_a_400(owner, body):
    response = _api(owner.user).post("/api/v1/labels/", body, format="json")
    assert response.status_code == 400
    assert not Label.objects.exists()


def test_api_duplicate_name_is_a_400(owner):
    services.label_create(workspace=owner.workspace, name="launch")
    response = _api(owner.user).post("/api/v1/labels/", {"name": "LAUNCH"}, format="json")
    assert response.status_code == 400
    assert "already" in str(response.json())


def test_api_viewer_reads_but_cannot_write_labels(owner):
    label = services.label_create(workspace=owner.workspace, name="launch")
    viewer = MembershipFactory(workspace=owner.workspace, role=Membership.Role.VIEWER)
    api = _api(viewer.user)
    assert len(api.get("/api/v1/labels/").json()) == 1
    assert api.post("/api/v1/labels/", {"name": "x"}, format="json").status_code == 403
    assert api.patch(f"/api/v1/labels/{label.id}/", {"name": "y"}, format="json").status_code == 403
    assert api.delete(f"/api/v1/labels/{label.id}/").status_code == 403


def test_api_another_workspaces_labels_are_invisible(owner):
    foreign = services.label_create(workspace=MembershipFactory().workspace, name="theirs")
    api = _api(owner.user)
    assert api.get("/api/v1/labels/").json() == []
    assert api.get(f"/api/v1/labels/{foreign.id}/").status_code == 404
    assert (
        api.patch(f"/api/v1/labels/{foreign.id}/", {"name": "x"}, format="json").status_code == 404
    )
    assert api.delete(f"/api/v1/labels/{foreign.id}/").status_code == 404


def test_api_posts_carry_and_write_labels(owner):
    a = services.label_create(workspace=owner.workspace, name="launch")
    b = services.label_create(workspace=owner.workspace, name="evergreen")
    api = _api(owner.user)
    created = api.post("/api/v1/posts/", {"text": "Hi", "labels": [a.id]}, format="json")
    assert created.status_code == 201, created.content
    assert [lb["name"] for lb in created.json()["labels"]] == ["launch"]
    post_id = created.json()["id"]
    patched = api.patch(f"/api/v1/posts/{post_id}/", {"labels": [a.id, b.id]}, format="json")
    assert sorted(lb["name"] for lb in patched.json()["labels"]) == ["evergreen", "launch"]
    cleared = api.patch(f"/api/v1/posts/{post_id}/", {"labels": []}, format="json")
    assert cleared.json()["labels"] == []
    untouched = api.patch(f"/api/v1/posts/{post_id}/", {"text": "Hello"}, format="json")
    assert untouched.json()["labels"] == []


def test_api_post_with_a_foreign_or_unknown_label_is_a_400(owner):
    foreign = services.label_create(workspace=MembershipFactory().workspace, name="theirs")
    api = _api(owner.user)
    for ids in ([foreign.id], [999_999], ["x"]):
        response = api.post("/api/v1/posts/", {"text": "Hi", "labels": ids}, format="json")
        assert response.status_code == 400, response.content
        assert "labels" in response.json()
    assert not Post.objects.exists()


def test_api_posts_list_filters_by_label_in_the_same_queries(owner):
    label = services.label_create(workspace=owner.workspace, name="launch")
    api = _api(owner.user)
    for n in range(3):
        post = PostFactory(workspace=owner.workspace)
        if n:
            services.post_labels_set(post=post, labels=[label])
    with CaptureQueriesContext(connection) as plain:
        assert len(api.get("/api/v1/posts/").json()["results"]) == 3
    with CaptureQueriesContext(connection) as filtered:
        rows = api.get("/api/v1/posts/", {"label": label.id}).json()["results"]
    assert len(rows) == 2
    assert len(filtered.captured_queries) == len(plain.captured_queries)


# --- Filters of the pages -------------------------------------------------------------------


def _get(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return response, len(ctx.captured_queries)


def test_posts_list_filters_by_label_in_the_same_queries(client, owner):
    client.force_login(owner.user)
    label = services.label_create(workspace=owner.workspace, name="launch")
    PostFactory(workspace=owner.workspace, text="Not labelled")
    post = PostFactory(workspace=owner.workspace, text="Labelled one")
    services.post_labels_set(post=post, labels=[label])
    _get(client, "/posts/")
    plain, plain_n = _get(client, "/posts/")
    filtered, filtered_n = _get(client, f"/posts/?label={label.id}")
    assert [p.id for p in filtered.context["posts"]] == [post.id]
    assert len(plain.context["posts"]) == 2
    assert filtered_n == plain_n
    for n in range(10):  # more posts, more labels: the same queries
        more = PostFactory(workspace=owner.workspace)
        services.post_labels_set(
            post=more,
            labels=[label, services.label_create(workspace=owner.workspace, name=f"l{n}")],
        )
    _, more_n = _get(client, f"/posts/?label={label.id}")
    assert more_n == filtered_n
    # The filter stays chosen in its menu (the page's URL keeps it).
    assert f'<option value="{label.id}" selected>' in filtered.content.decode()


def test_posts_list_ignores_another_workspaces_label(client, owner):
    client.force_login(owner.user)
    foreign = services.label_create(workspace=MembershipFactory().workspace, name="theirs")
    PostFactory(workspace=owner.workspace)
    response, _ = _get(client, f"/posts/?label={foreign.id}")
    assert response.context["label"] is None
    assert len(response.context["posts"]) == 1


def test_channel_queue_filters_by_label_in_the_same_queries(client, owner):
    client.force_login(owner.user)
    channel = ChannelFactory(workspace=owner.workspace)
    label = services.label_create(workspace=owner.workspace, name="launch")
    plain_entry = QueueEntryFactory(channel=channel)
    tagged = QueueEntryFactory(channel=channel)
    services.post_labels_set(post=tagged.post, labels=[label])
    url = f"/channels/{channel.id}/"
    _get(client, url)
    plain, plain_n = _get(client, url)
    filtered, filtered_n = _get(client, f"{url}?label={label.id}")
    assert [e.id for e in plain.context["active_entries"]] == [plain_entry.id, tagged.id]
    assert [e.id for e in filtered.context["active_entries"]] == [tagged.id]
    assert filtered_n == plain_n
    for _ in range(8):
        entry = QueueEntryFactory(channel=channel)
        services.post_labels_set(post=entry.post, labels=[label])
    _, more_n = _get(client, f"{url}?label={label.id}")
    assert more_n == filtered_n


NOW = dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.UTC)  # a Monday
WEEK = "/calendar/?view=week&start=2026-12-07&tz=UTC"


def test_calendar_filters_by_label_kept_in_its_links(client, owner):
    client.force_login(owner.user)
    ws = owner.workspace
    label = services.label_create(workspace=ws, name="launch")
    channel = ChannelFactory(workspace=ws, name="#tech")
    ScheduleFactory(channel=channel, recurrence=rule("RRULE:FREQ=DAILY;BYHOUR=10;BYMINUTE=0"))
    tagged = PostFactory(workspace=ws, text="Tagged pinned launch")
    services.post_labels_set(post=tagged, labels=[label])
    plain = PostFactory(workspace=ws, text="Plain pinned note")
    for post, day in ((tagged, 9), (plain, 10)):
        TimeslotFactory(
            channel=channel, schedule=None, post=post,
            publish_at=dt.datetime(2026, 12, day, 11, tzinfo=dt.UTC),
        )  # fmt: skip
    TimeslotFactory(
        channel=channel, schedule=None, post=tagged, published_post=tagged,
        status=Timeslot.Status.PUBLISHED, publish_at=dt.datetime(2026, 12, 7, 6, tzinfo=dt.UTC),
    )  # fmt: skip
    TimeslotFactory(
        channel=channel, schedule=None, post=plain, published_post=plain,
        status=Timeslot.Status.PUBLISHED, publish_at=dt.datetime(2026, 12, 7, 7, tzinfo=dt.UTC),
    )  # fmt: skip
    # One queued post with the label, so both measures below read a non-empty queue (an
    # empty one spares the warnings' read of the queued posts).
    first = PostFactory(workspace=ws, text="Queued launch")
    services.post_labels_set(post=first, labels=[label])
    QueueEntryFactory(channel=channel, post=first)
    with time_machine.travel(NOW, tick=False):
        everything, all_n = _get(client, WEEK)
        filtered, filtered_n = _get(client, f"{WEEK}&label={label.id}")
    html = filtered.content.decode()
    assert "Plain pinned note" in everything.content.decode()
    assert "Tagged pinned launch" in html and "Plain pinned note" not in html
    assert html.count("status-published") == 1
    assert f"label={label.id}" in filtered.context["next_url"]
    # The label filter predicts the coming posts itself: a bounded few queries more.
    assert filtered_n <= all_n + 3, (all_n, filtered_n)
    with time_machine.travel(NOW, tick=False):
        for _ in range(6):
            more = PostFactory(workspace=ws)
            services.post_labels_set(post=more, labels=[label])
            QueueEntryFactory(channel=channel, post=more)
        _, more_n = _get(client, f"{WEEK}&label={label.id}")
    assert more_n == filtered_n


def test_a_queue_action_on_a_filtered_queue_sends_back_the_filtered_queue(client, owner):
    from django.urls import reverse

    client.force_login(owner.user)
    channel = ChannelFactory(workspace=owner.workspace)
    label = services.label_create(workspace=owner.workspace, name="launch")
    QueueEntryFactory(channel=channel)
    tagged = [QueueEntryFactory(channel=channel) for _ in range(2)]
    for entry in tagged:
        services.post_labels_set(post=entry.post, labels=[label])
    page = client.get(f"/channels/{channel.id}/?label={label.id}").content.decode()
    assert f'name="label" value="{label.id}"' in page  # each queue form carries the filter
    response = client.post(
        reverse("queue_move", args=[channel.id, tagged[1].id]),
        {"direction": "up", "label": label.id},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert {e.id for e in response.context["active_entries"]} == {e.id for e in tagged}
