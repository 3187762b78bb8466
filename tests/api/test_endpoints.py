"""REST API /api/v1/: token auth, workspace isolation, roles, posts queue/pin, schedules,
timeslots, deliveries, query counts, schema; bad input is a 400 that changes nothing."""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from accounts.models import ApiToken, Membership, SocialAccount
from channels.models import QueueEntry
from posts.models import Post
from scheduling.models import Schedule, Timeslot
from tests.factories import (
    ChannelFactory,
    DeliveryFactory,
    MembershipFactory,
    NoticeFactory,
    PostFactory,
    QueueEntryFactory,
    ScheduleFactory,
    SocialAccountFactory,
    TimeslotFactory,
    VariationFactory,
    WorkspaceFactory,
)

pytestmark = pytest.mark.django_db

API = "/api/v1"
FORM = "application/x-www-form-urlencoded"


def client_for(user) -> APIClient:
    client = APIClient()
    token = ApiToken.objects.create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def member(workspace, role=Membership.Role.EDITOR):
    return MembershipFactory(workspace=workspace, role=role).user


@pytest.fixture
def ws():
    return WorkspaceFactory(slug="acme")


@pytest.fixture
def user(ws):
    return member(ws)


@pytest.fixture
def api(user):
    return client_for(user)


@pytest.fixture
def channel(ws):
    return ChannelFactory(workspace=ws, slug="tech", name="#tech")


@pytest.fixture
def other():
    """Another workspace with its own channel, post, schedule, slot and delivery."""
    ws = WorkspaceFactory(slug="rival")
    channel = ChannelFactory(workspace=ws, slug="tech", name="#tech (rival)")
    post = PostFactory(workspace=ws)
    QueueEntryFactory(channel=channel, post=post)
    schedule = ScheduleFactory(channel=channel)
    slot = TimeslotFactory(channel=channel, schedule=schedule)
    delivery = DeliveryFactory(timeslot=slot, post=post)
    return {
        "workspace": ws,
        "channel": channel,
        "post": post,
        "schedule": schedule,
        "timeslot": slot,
        "delivery": delivery,
        "account": delivery.account,
    }


def future(**delta) -> dt.datetime:
    return (timezone.now() + dt.timedelta(**delta)).replace(microsecond=0)


# --- Authentication ----------------------------------------------------------------------


def test_token_is_required(channel):
    anonymous = APIClient()
    assert anonymous.get(f"{API}/channels/").status_code == 401
    response = anonymous.post(f"{API}/posts/", {"text": "hi", "channels": ["tech"]}, format="json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Token")
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert bad.get(f"{API}/posts/").status_code == 401
    assert not Post.objects.exists()


def test_token_endpoint_issues_a_token(user):
    response = APIClient().post(
        f"{API}/auth/token/",
        {"username": user.username, "password": "correct horse battery staple"},
        format="json",
    )
    assert response.status_code == 200
    assert ApiToken.objects.get(user=user).digest == ApiToken.digest_of(response.json()["token"])


# --- POST /posts/: queue or pin ----------------------------------------------------------


def test_create_post_from_json_queues_it(api, channel, user):
    response = api.post(
        f"{API}/posts/",
        {"text": "Hello loop", "channels": ["tech"], "variations": ["Hello again", ""]},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    post = Post.objects.get()
    assert body["id"] == post.id and body["workspace"] == "acme"
    assert body["author"] == user.username
    assert body["variations"] == ["Hello again"]
    assert [q["channel"] for q in body["queue"]] == ["tech"]
    assert body["pinned"] == []
    entry = QueueEntry.objects.get()
    assert (entry.channel, entry.post) == (channel, post)
    assert not Timeslot.objects.exists()


def test_create_post_from_form_data_with_repeated_channels_pins_it(api, ws, channel):
    ChannelFactory(workspace=ws, slug="news")
    when = future(days=1)
    body = urlencode(
        [
            ("text", "Launch day"),
            ("channels", "tech"),
            ("channels", "news"),
            ("publish_at", when.isoformat()),
        ]
    )
    response = api.post(f"{API}/posts/", body, content_type=FORM)
    assert response.status_code == 201, response.content
    post = Post.objects.get()
    slots = Timeslot.objects.filter(post=post).select_related("channel")
    assert sorted(s.channel.slug for s in slots) == ["news", "tech"]
    assert all(s.publish_at == when and s.schedule is None for s in slots)
    assert not QueueEntry.objects.exists()
    assert {p["channel"] for p in response.json()["pinned"]} == {"news", "tech"}


def test_form_data_accepts_comma_separated_channels(api, ws, channel):
    ChannelFactory(workspace=ws, slug="news")
    response = api.post(f"{API}/posts/", "text=hi&channels=tech,news", content_type=FORM)
    assert response.status_code == 201, response.content
    assert QueueEntry.objects.count() == 2


def test_text_too_long_for_x_is_a_400_with_the_weighted_count(api, ws, channel):
    channel.accounts.add(SocialAccountFactory(workspace=ws, provider=SocialAccount.Provider.X))
    response = api.post(f"{API}/posts/", {"text": "a" * 300, "channels": ["tech"]}, format="json")
    assert response.status_code == 400
    assert "X counts this text as 300 characters" in response.json()["text"][0]
    # CJK counts double on X: 150 characters weigh 300.
    response = api.post(
        f"{API}/posts/",
        {"text": "ok", "variations": ["漢" * 150], "channels": ["tech"]},
        format="json",
    )
    assert response.status_code == 400
    assert "Variation 1: X counts this text as 300" in response.json()["variations"][0]
    assert not Post.objects.exists() and not QueueEntry.objects.exists()


def test_a_service_validation_error_is_a_400_and_rolls_back(api, channel):
    # The serializer accepts any aware time; timeslot_pin refuses a past one.
    response = api.post(
        f"{API}/posts/",
        {"text": "late", "channels": ["tech"], "publish_at": "2001-01-01T00:00:00Z"},
        format="json",
    )
    assert response.status_code == 400
    assert "in the past" in json.dumps(response.json())
    assert not Post.objects.exists() and not Timeslot.objects.exists()


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"text": "hi", "channels": ["nope"]}, "channels"),
        ({"text": "hi", "channels": ["tech", "nope"]}, "channels"),
        ({"text": "", "channels": ["tech"]}, "text"),
        ({"text": "   ", "channels": ["tech"]}, "text"),
        ({"text": "hi", "channels": "tech", "publish_at": "tomorrow"}, "publish_at"),
        ({"text": "hi", "channels": [["tech"]]}, "channels"),
        ({"text": "hi", "channels": ["tech"], "workspace": "rival"}, "workspace"),
        ({"text": "hi", "publish_at": "2030-01-01T00:00:00Z"}, "publish_at"),
        ({"channels": ["tech"]}, "text"),
    ],
)
def test_bad_post_input_is_a_400_and_creates_nothing(api, channel, other, payload, field):
    before = (Post.objects.count(), QueueEntry.objects.count(), Timeslot.objects.count())
    response = api.post(f"{API}/posts/", payload, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    after = (Post.objects.count(), QueueEntry.objects.count(), Timeslot.objects.count())
    assert after == before


def test_unpaired_surrogates_and_nul_characters_are_a_400(api, channel):
    for raw in [
        '{"text": "hi", "channels": ["tech"], "status": "\\ud800"}',
        '{"text": "\\udfff", "channels": ["tech"]}',
        '{"text": "hi", "channels": ["te\\u0000ch"]}',
        '{"text": "hi\\u0000", "channels": ["tech"]}',
        "{not json",
    ]:
        response = api.post(f"{API}/posts/", raw, content_type="application/json")
        assert response.status_code == 400, raw
    response = APIClient().post(
        f"{API}/auth/token/",
        '{"username": "\\ud800", "password": "x"}',
        content_type="application/json",
    )
    assert response.status_code == 400
    assert not Post.objects.exists()


def test_another_workspaces_channel_is_unknown(api, other):
    response = api.post(f"{API}/posts/", "text=hi&channels=tech", content_type=FORM)
    assert response.status_code == 400
    assert "Unknown channel(s): tech" in response.json()["channels"][0]
    assert Post.objects.count() == 1  # only the other workspace's own post


def test_ambiguous_channel_needs_the_workspace(user, channel):
    second = WorkspaceFactory(slug="second")
    MembershipFactory(workspace=second, user=user, role=Membership.Role.EDITOR)
    ChannelFactory(workspace=second, slug="tech")
    api = client_for(user)
    response = api.post(f"{API}/posts/", {"text": "hi", "channels": ["tech"]}, format="json")
    assert response.status_code == 400
    assert "pass workspace" in response.json()["channels"][0]
    response = api.post(
        f"{API}/posts/", {"text": "hi", "channels": ["tech"], "workspace": "second"}, format="json"
    )
    assert response.status_code == 201
    assert QueueEntry.objects.get().channel.workspace == second


def test_post_update_and_delete_archives(api, ws, channel):
    post = PostFactory(workspace=ws, text="old")
    QueueEntryFactory(channel=channel, post=post)
    pinned = TimeslotFactory(channel=channel, schedule=None, post=post)
    response = api.patch(
        f"{API}/posts/{post.id}/", {"text": "new", "variations": ["v1"]}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["text"] == "new" and response.json()["variations"] == ["v1"]
    assert api.delete(f"{API}/posts/{post.id}/").status_code == 204
    post.refresh_from_db()
    pinned.refresh_from_db()
    assert post.status == Post.Status.ARCHIVED
    assert pinned.status == Timeslot.Status.CANCELED and "archived" in pinned.reason


def test_post_update_too_long_for_x_is_a_400(api, ws, channel):
    channel.accounts.add(SocialAccountFactory(workspace=ws, provider=SocialAccount.Provider.X))
    post = PostFactory(workspace=ws, text="short")
    QueueEntryFactory(channel=channel, post=post)
    response = api.patch(f"{API}/posts/{post.id}/", {"text": "b" * 281}, format="json")
    assert response.status_code == 400
    assert "X counts this text as 281 characters" in json.dumps(response.json())
    post.refresh_from_db()
    assert post.text == "short"


# --- Isolation and roles -----------------------------------------------------------------


def test_another_workspaces_objects_are_invisible_and_404(api, channel, other):
    resources = {
        "channels": other["channel"],
        "posts": other["post"],
        "schedules": other["schedule"],
        "timeslots": other["timeslot"],
        "deliveries": other["delivery"],
        "accounts": other["account"],
    }
    for name, obj in resources.items():
        listed = api.get(f"{API}/{name}/")
        assert listed.status_code == 200
        assert obj.id not in [row["id"] for row in listed.json()["results"]], name
        assert api.get(f"{API}/{name}/{obj.id}/").status_code == 404, name
    assert api.get(f"{API}/workspaces/rival/").status_code == 404
    assert [w["slug"] for w in api.get(f"{API}/workspaces/").json()["results"]] == ["acme"]
    slot = other["timeslot"]
    assert (
        api.patch(f"{API}/channels/{other['channel'].id}/", {"is_paused": True}).status_code == 404
    )
    assert api.post(f"{API}/timeslots/{slot.id}/cancel/").status_code == 404
    assert (
        api.patch(
            f"{API}/timeslots/{slot.id}/", {"publish_at": future(hours=5).isoformat()}
        ).status_code
        == 404
    )
    assert api.delete(f"{API}/posts/{other['post'].id}/").status_code == 404
    assert api.delete(f"{API}/schedules/{other['schedule'].id}/").status_code == 404
    response = api.post(
        f"{API}/schedules/",
        {"channel": other["channel"].id, "name": "x", "rule": "RRULE:FREQ=DAILY;BYHOUR=9"},
    )
    assert response.status_code == 400 and "channel" in response.json()
    slot.refresh_from_db()
    other["channel"].refresh_from_db()
    assert slot.status == Timeslot.Status.SCHEDULED and not other["channel"].is_paused
    assert Post.objects.get(pk=other["post"].pk).status == Post.Status.READY
    assert Schedule.objects.filter(pk=other["schedule"].pk).exists()


# An approver (a client who approves) writes nothing, exactly like a viewer (issue 27).
@pytest.mark.parametrize("role", [Membership.Role.VIEWER, Membership.Role.APPROVER])
def test_viewer_reads_but_cannot_write(ws, channel, role):
    viewer = member(ws, role)
    api = client_for(viewer)
    post = PostFactory(workspace=ws)
    schedule = ScheduleFactory(channel=channel)
    slot = TimeslotFactory(channel=channel, schedule=schedule)
    for name in ("channels", "posts", "schedules", "timeslots", "deliveries"):
        assert api.get(f"{API}/{name}/").status_code == 200
    assert api.get(f"{API}/posts/{post.id}/").status_code == 200
    writes = [
        api.post(f"{API}/posts/", {"text": "hi", "channels": ["tech"]}, format="json"),
        api.post(f"{API}/posts/", "not even valid", content_type=FORM),
        api.patch(f"{API}/posts/{post.id}/", {"text": "changed"}, format="json"),
        api.delete(f"{API}/posts/{post.id}/"),
        api.patch(f"{API}/channels/{channel.id}/", {"is_paused": True}, format="json"),
        api.post(
            f"{API}/schedules/",
            {"channel": channel.id, "name": "n", "rule": "RRULE:FREQ=DAILY;BYHOUR=9"},
            format="json",
        ),
        api.patch(f"{API}/schedules/{schedule.id}/", {"name": "renamed"}, format="json"),
        api.delete(f"{API}/schedules/{schedule.id}/"),
        api.patch(
            f"{API}/timeslots/{slot.id}/",
            {"publish_at": future(hours=5).isoformat()},
            format="json",
        ),
        api.post(f"{API}/timeslots/{slot.id}/cancel/"),
    ]
    assert [r.status_code for r in writes] == [403] * len(writes)
    assert "viewer" in writes[0].json()["detail"]
    slot.refresh_from_db()
    assert Post.objects.count() == 1 and slot.status == Timeslot.Status.SCHEDULED
    assert Schedule.objects.get().name == "daily"


def test_editor_of_one_workspace_is_a_viewer_in_another(user, channel):
    second = WorkspaceFactory(slug="second")
    MembershipFactory(workspace=second, user=user, role=Membership.Role.VIEWER)
    ChannelFactory(workspace=second, slug="news")
    api = client_for(user)
    response = api.post(f"{API}/posts/", {"text": "hi", "channels": ["news"]}, format="json")
    assert response.status_code == 403
    assert api.post(f"{API}/posts/", {"text": "hi", "channels": ["tech"]}).status_code == 201
    assert Post.objects.get().workspace.slug == "acme"


# --- Channels ----------------------------------------------------------------------------


def test_channel_patch_goes_through_channel_save(api, channel):
    response = api.patch(
        f"{API}/channels/{channel.id}/",
        {"is_paused": True, "timezone": "Europe/Berlin", "slug": "ignored"},
        format="json",
    )
    assert response.status_code == 200, response.content
    channel.refresh_from_db()
    assert channel.is_paused and channel.timezone == "Europe/Berlin" and channel.slug == "tech"
    response = api.patch(f"{API}/channels/{channel.id}/", {"timezone": "Mars/Olympus"})
    assert response.status_code == 400
    assert "IANA" in response.json()["timezone"][0]
    assert api.put(f"{API}/channels/{channel.id}/", {"name": "x"}).status_code == 405


# --- Schedules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rule_text, message",
    [
        ("not a rule", "Not a valid recurrence rule"),
        ("", "Enter at least one rule"),
        ("RRULE:FREQ=DAILY;BYHOUR=25", "hour must be in 0..23"),
        ("RRULE:FREQ=SECONDLY", "at most once a minute"),
        ("RRULE:FREQ=DAILY;INTERVAL=0", "INTERVAL must be 1 or more"),
        ("RRULE:FREQ=YEARLY;BYMONTH=13", "BYMONTH=13 is out of range"),
    ],
)
def test_schedule_with_a_bad_rule_is_a_400(api, channel, rule_text, message):
    response = api.post(
        f"{API}/schedules/",
        {"channel": channel.id, "name": "bad", "rule": rule_text},
        format="json",
    )
    assert response.status_code == 400
    assert message in " ".join(response.json()["rule"])
    assert not Schedule.objects.exists() and not Timeslot.objects.exists()


def test_schedule_with_a_valid_rule_plans_its_timeslots(api, channel):
    response = api.post(
        f"{API}/schedules/",
        f"channel={channel.id}&name=quarterly&rule=RRULE:FREQ=HOURLY;BYMINUTE=0,15,30,45",
        content_type=FORM,
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["description"].startswith("hourly")
    assert body["rule"] == "RRULE:FREQ=HOURLY;BYMINUTE=0,15,30,45"
    schedule = Schedule.objects.get()
    slots = list(Timeslot.objects.filter(schedule=schedule))
    now = timezone.now()
    assert 4 <= len(slots) <= 6  # every 15 minutes over the 75-minute planning window
    assert all(
        now - dt.timedelta(seconds=5) <= s.publish_at <= now + dt.timedelta(minutes=75)
        for s in slots
    )

    # Turning it off cancels the planned slots; the list endpoint shows them.
    response = api.patch(f"{API}/schedules/{schedule.id}/", {"is_active": False}, format="json")
    assert response.status_code == 200
    assert set(Timeslot.objects.values_list("status", flat=True)) == {"canceled"}
    listed = api.get(f"{API}/timeslots/", {"schedule": schedule.id, "status": "canceled"})
    assert len(listed.json()["results"]) == len(slots)


def test_schedule_channel_cannot_move_and_update_validates_the_rule(api, ws, channel):
    schedule = ScheduleFactory(channel=channel)
    elsewhere = ChannelFactory(workspace=ws)
    response = api.patch(
        f"{API}/schedules/{schedule.id}/",
        {"channel": elsewhere.id, "rule": "RRULE:FREQ=WEEKLY;BYDAY=MO;BYHOUR=14;BYMINUTE=0"},
        format="json",
    )
    assert response.status_code == 200, response.content
    schedule.refresh_from_db()
    assert schedule.channel == channel
    assert response.json()["description"] == "weekly, each Monday at 14:00"
    response = api.patch(f"{API}/schedules/{schedule.id}/", {"rule": "RRULE:FREQ=NEVER"})
    assert response.status_code == 400
    assert api.delete(f"{API}/schedules/{schedule.id}/").status_code == 204
    assert not Schedule.objects.exists()


# --- Timeslots ---------------------------------------------------------------------------


def test_timeslot_patch_reschedules_and_rotates_the_token(api, channel):
    slot = TimeslotFactory(channel=channel)
    token = slot.token
    when = future(hours=6)
    response = api.patch(
        f"{API}/timeslots/{slot.id}/", {"publish_at": when.isoformat()}, format="json"
    )
    assert response.status_code == 200, response.content
    slot.refresh_from_db()
    assert slot.publish_at == when and slot.token != token and slot.detached
    assert response.json()["publish_at_local"] == when.isoformat()

    # Naive, past, junk: 400, nothing changes.
    for value in [when.replace(tzinfo=None).isoformat(), "2001-01-01T00:00:00Z", "soon", None]:
        response = api.patch(f"{API}/timeslots/{slot.id}/", {"publish_at": value}, format="json")
        assert response.status_code == 400, value
    assert Timeslot.objects.get(pk=slot.pk).token == slot.token


def test_timeslot_cancel(api, channel):
    slot = TimeslotFactory(channel=channel)
    response = api.post(f"{API}/timeslots/{slot.id}/cancel/")
    assert response.status_code == 200
    assert response.json()["status"] == "canceled"
    slot.refresh_from_db()
    assert slot.status == Timeslot.Status.CANCELED and slot.reason
    again = api.post(f"{API}/timeslots/{slot.id}/cancel/")
    assert again.status_code == 400
    assert "cannot be canceled" in json.dumps(again.json())
    # A finished slot cannot be moved either.
    response = api.patch(
        f"{API}/timeslots/{slot.id}/", {"publish_at": future(hours=3).isoformat()}, format="json"
    )
    assert response.status_code == 400


def test_timeslot_filters(api, ws, channel):
    news = ChannelFactory(workspace=ws, slug="news")
    a = TimeslotFactory(channel=channel, publish_at=future(hours=2))
    TimeslotFactory(channel=channel, publish_at=future(hours=30))
    TimeslotFactory(channel=news, publish_at=future(hours=2), status="canceled")

    def ids(**params):
        response = api.get(f"{API}/timeslots/", params)
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert len(ids()) == 3
    assert len(ids(channel="tech")) == 2
    assert len(ids(channel=news.id)) == 1
    assert ids(channel="tech", to=future(hours=10).isoformat()) == [a.id]
    assert len(ids(status="scheduled,canceled", **{"from": future(hours=1).isoformat()})) == 3
    assert len(ids(status="canceled")) == 1
    for params in ({"status": "bogus"}, {"from": "2026-01-01T00:00:00"}, {"to": "later"}):
        assert api.get(f"{API}/timeslots/", params).status_code == 400, params
    assert api.get(f"{API}/deliveries/", {"timeslot": "x"}).status_code == 400
    assert api.get(f"{API}/timeslots/99999999999999999999/").status_code == 404
    assert api.get(f"{API}/timeslots/abc/").status_code == 404


def test_deliveries_are_read_only(api, channel):
    delivery = DeliveryFactory(timeslot=TimeslotFactory(channel=channel))
    response = api.get(f"{API}/deliveries/", {"channel": "tech", "status": "sent"})
    assert [row["id"] for row in response.json()["results"]] == [delivery.id]
    assert response.json()["results"][0]["account"]["provider"] == "sandbox"
    assert "credentials" not in json.dumps(response.json())
    assert api.delete(f"{API}/deliveries/{delivery.id}/").status_code == 405
    assert api.post(f"{API}/deliveries/", {}).status_code == 405


# --- Query counts ------------------------------------------------------------------------


def _make_rows(ws, channel, n: int) -> None:
    for _ in range(n):
        post = PostFactory(workspace=ws)
        VariationFactory(post=post)
        QueueEntryFactory(channel=channel, post=post)
        pinned_channel = ChannelFactory(workspace=ws)
        TimeslotFactory(channel=pinned_channel, schedule=None, post=post)
        schedule = ScheduleFactory(channel=pinned_channel)
        DeliveryFactory(
            timeslot=TimeslotFactory(channel=pinned_channel, schedule=schedule), post=post
        )
        NoticeFactory(workspace=ws)


LIST_ENDPOINTS = [
    "channels",
    "posts",
    "schedules",
    "timeslots",
    "deliveries",
    "accounts",
    "workspaces",
    "notices",
]


def test_list_query_counts_do_not_grow_with_rows(api, ws, channel):
    def counts() -> dict[str, int]:
        result = {}
        for name in LIST_ENDPOINTS:
            with CaptureQueriesContext(connection) as ctx:
                response = api.get(f"{API}/{name}/")
            assert response.status_code == 200
            result[name] = len(ctx.captured_queries)
        return result

    _make_rows(ws, channel, 2)
    few = counts()
    _make_rows(ws, channel, 18)
    many = counts()
    assert api.get(f"{API}/posts/").json()["count"] == 20
    assert len(api.get(f"{API}/deliveries/").json()["results"]) == 20
    assert many == few


# --- Schema ------------------------------------------------------------------------------


def test_schema_and_docs_are_served(api):
    response = api.get(f"{API}/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    assert f"{API}/posts/" in schema["paths"]
    assert "post" in schema["paths"][f"{API}/posts/"]
    yaml_response = api.get(f"{API}/schema/")
    assert yaml_response.status_code == 200 and b"openapi:" in yaml_response.content
    assert api.get(f"{API}/docs/").status_code == 200


def test_schema_generates_without_warnings(tmp_path):
    from django.core.management import call_command

    out = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert "/api/v1/timeslots/{id}/cancel/" in out.read_text()


# --- Junk never makes a 500 --------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=400),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
field_values = st.one_of(
    json_values,
    st.sampled_from(["tech", "news", "rival", "acme", "", " ", "te\x00ch", "\ud800", "a" * 300]),
    st.lists(st.sampled_from(["tech", "news", "nope", "", "tech,news"]), max_size=4),
    st.sampled_from(
        [
            "2030-01-01T00:00:00Z",
            "2030-01-01T00:00:00",
            "2001-01-01T00:00:00+00:00",
            "9999-12-31T23:59:59-14:00",
            "0001-01-01T00:00:00+14:00",
            "2030-02-30T00:00:00Z",
        ]
    ),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=320),
)
# Mostly valid bodies with one or two fields replaced by junk reach the services too.
near_valid_bodies = st.builds(
    lambda text, extra: {"text": text, "channels": ["tech"], **extra},
    st.text(min_size=1, max_size=300),
    st.dictionaries(
        st.sampled_from(["channels", "variations", "publish_at", "expires_at", "status"]),
        field_values,
        max_size=2,
    ),
)
post_bodies = st.one_of(
    json_values,
    near_valid_bodies,
    st.dictionaries(
        st.sampled_from(
            ["text", "channels", "variations", "publish_at", "expires_at", "status", "workspace"]
        ),
        field_values,
        max_size=7,
    ),
)


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=post_bodies)
def test_junk_post_bodies_never_cause_a_500(api, ws, channel, other, body):
    ChannelFactory._meta.model.objects.get_or_create(
        workspace=ws, slug="news", defaults={"name": "#news"}
    )
    if not channel.accounts.filter(provider="x").exists():
        channel.accounts.add(SocialAccountFactory(workspace=ws, provider=SocialAccount.Provider.X))
    response = api.post(f"{API}/posts/", json.dumps(body), content_type="application/json")
    assert response.status_code in (201, 400), (response.status_code, response.content)
    if response.status_code == 400:
        assert response.json()


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    pairs=st.lists(
        st.tuples(
            st.sampled_from(["text", "channels", "variations", "publish_at", "workspace", "x"]),
            st.text(max_size=40),
        ),
        max_size=6,
    )
)
def test_junk_form_bodies_never_cause_a_500(api, channel, pairs):
    response = api.post(f"{API}/posts/", urlencode(pairs), content_type=FORM)
    assert response.status_code in (201, 400), (response.status_code, response.content)
