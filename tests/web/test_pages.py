"""The web UI: every page answers, workspaces stay apart, viewers cannot change anything,
list pages stay O(1) in queries, and forms refuse bad input without saving anything."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import recurrence
import time_machine
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Invitation, Membership, Notice, SocialAccount
from channels.models import QueueEntry
from posts.models import Label, Post
from scheduling.forms import build_rule_text, simple_from_recurrence
from scheduling.models import Schedule, Timeslot
from tests.factories import (
    ChannelFactory,
    DeliveryFactory,
    MembershipFactory,
    NoticeFactory,
    PostFactory,
    QueueEntryFactory,
    SandboxPostFactory,
    ScheduleFactory,
    SocialAccountFactory,
    TimeslotFactory,
    VariationFactory,
    WorkspaceFactory,
    XAccountFactory,
    rule,
)
from tests.networks.netfakes import fake_dns

pytestmark = pytest.mark.django_db

UTC = dt.UTC
# A Monday, 13:30 UTC: "weekdays at 14:00" falls inside the planner's 75-minute window.
NOW = dt.datetime(2026, 6, 1, 13, 30, tzinfo=UTC)


@pytest.fixture
def member():
    return MembershipFactory(role=Membership.Role.OWNER)


@pytest.fixture
def workspace(member):
    return member.workspace


@pytest.fixture
def world(workspace):
    """One of everything in the member's workspace."""
    channel = ChannelFactory(workspace=workspace, timezone="Europe/Berlin")
    schedule = ScheduleFactory(channel=channel)
    entry = QueueEntryFactory(channel=channel)
    slot = TimeslotFactory(channel=channel, schedule=schedule)
    sandbox = channel.accounts.get()
    return {
        "channel": channel,
        "schedule": schedule,
        "entry": entry,
        "post": entry.post,
        "slot": slot,
        "account": sandbox,
    }


@pytest.fixture
def foreign():
    """One of everything in a workspace the member does not belong to."""
    workspace = WorkspaceFactory()
    channel = ChannelFactory(workspace=workspace)
    schedule = ScheduleFactory(channel=channel)
    entry = QueueEntryFactory(channel=channel)
    return {
        "channel": channel,
        "schedule": schedule,
        "entry": entry,
        "post": entry.post,
        "slot": TimeslotFactory(channel=channel, schedule=schedule),
        "account": channel.accounts.get(),
        "notice": NoticeFactory(workspace=workspace),
        "membership": MembershipFactory(workspace=workspace, role=Membership.Role.EDITOR),
        "invitation": Invitation.objects.create(
            workspace=workspace,
            email="theirs@example.com",
            role=Membership.Role.EDITOR,
            expires_at=timezone.now() + dt.timedelta(days=7),
        ),
        "label": Label.objects.create(workspace=workspace, name="theirs"),
    }


def page_urls(w) -> list[str]:
    return [
        reverse("dashboard"),
        reverse("calendar"),
        reverse("calendar") + "?week=2026-W48",
        reverse("channel_list"),
        reverse("channel_create"),
        reverse("channel_detail", args=[w["channel"].id]),
        reverse("channel_settings", args=[w["channel"].id]),
        reverse("schedule_create", args=[w["channel"].id]),
        reverse("schedule_edit", args=[w["schedule"].id]),
        reverse("post_list"),
        reverse("post_create"),
        reverse("post_edit", args=[w["post"].id]),
        reverse("post_length") + "?text=hello",
        reverse("post_preview") + f"?text=hello&channels={w['channel'].id}",
        reverse("account_list"),
        reverse("sandbox_timeline", args=[w["account"].id]),
        reverse("member_list"),
        reverse("activity_list"),
        reverse("post_activity", args=[w["post"].id]),
        reverse("channel_activity", args=[w["channel"].id]),
        reverse("label_list"),
    ]


# --- Access ------------------------------------------------------------------------------


def test_every_page_answers_for_a_member(web, world):
    SandboxPostFactory(account=world["account"])
    for url in page_urls(world):
        response = web.get(url)
        assert response.status_code == 200, url


def test_every_page_redirects_anonymous_users_to_login(client, world):
    for url in page_urls(world):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.url.startswith(reverse("login") + "?next="), url


def test_login_page_and_login(client, member):
    assert client.get(reverse("login")).status_code == 200
    response = client.post(
        reverse("login"),
        {"username": member.user.username, "password": "correct horse battery staple"},
    )
    assert response.status_code == 302 and response.url == reverse("dashboard")
    assert client.get(reverse("dashboard")).status_code == 200
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("dashboard")).status_code == 302


def test_user_without_workspace_sees_an_explanation(client):
    from tests.factories import UserFactory

    client.force_login(UserFactory())
    response = client.get(reverse("dashboard"))
    assert response.status_code == 200
    assert b"not a member of any workspace" in response.content


def test_another_workspaces_objects_are_404(web, world, foreign):
    c, s, e = foreign["channel"], foreign["schedule"], foreign["entry"]
    gets = [
        reverse("channel_detail", args=[c.id]),
        reverse("channel_settings", args=[c.id]),
        reverse("schedule_create", args=[c.id]),
        reverse("schedule_edit", args=[s.id]),
        reverse("post_edit", args=[foreign["post"].id]),
        reverse("sandbox_timeline", args=[foreign["account"].id]),
        reverse("post_activity", args=[foreign["post"].id]),
        reverse("channel_activity", args=[c.id]),
    ]
    for url in gets:
        assert web.get(url).status_code == 404, url
    posts = [
        reverse("timeslot_cancel", args=[foreign["slot"].id]),
        reverse("timeslot_move", args=[foreign["slot"].id]),
        reverse("schedule_toggle", args=[s.id]),
        reverse("queue_move", args=[c.id, e.id]),
        reverse("queue_remove", args=[c.id, e.id]),
        reverse("queue_max", args=[c.id, e.id]),
        reverse("queue_requeue", args=[c.id, e.id]),
        reverse("channel_pause", args=[c.id]),
        reverse("post_share", args=[foreign["post"].id]),
        reverse("account_disable", args=[foreign["account"].id]),
        reverse("account_enable", args=[foreign["account"].id]),
        reverse("notice_dismiss", args=[foreign["notice"].id]),
        reverse("member_role", args=[foreign["membership"].id]),
        reverse("member_remove", args=[foreign["membership"].id]),
        reverse("invitation_resend", args=[foreign["invitation"].id]),
        reverse("invitation_revoke", args=[foreign["invitation"].id]),
        reverse("label_edit", args=[foreign["label"].id]),
        reverse("label_delete", args=[foreign["label"].id]),
    ]
    for url in posts:
        assert web.post(url, {"direction": "up", "publish_at": "2030-01-01T10:00"}).status_code in (
            404,
        ), url
    # Sharing one of our posts to their channel is refused too.
    response = web.post(reverse("post_share", args=[world["post"].id]), {"channel": c.id})
    assert response.status_code == 404
    # Nothing of theirs changed.
    foreign["slot"].refresh_from_db()
    assert foreign["slot"].status == Timeslot.Status.SCHEDULED
    assert QueueEntry.objects.filter(id=e.id).exists()
    assert SocialAccount.objects.get(id=foreign["account"].id).status == "active"
    assert Notice.objects.get(id=foreign["notice"].id).dismissed_at is None
    assert Membership.objects.filter(id=foreign["membership"].id, role="editor").exists()
    assert Invitation.objects.get(id=foreign["invitation"].id).revoked_at is None


def test_lists_show_only_the_current_workspace(web, world, foreign):
    foreign["post"].text = "THEIR SECRET PLAN"
    foreign["post"].save()
    for url in [reverse("post_list"), reverse("channel_list"), reverse("dashboard")]:
        body = web.get(url).content.decode()
        assert "THEIR SECRET PLAN" not in body
        assert foreign["channel"].name not in body


def test_post_only_views_reject_get(web, world, member):
    c, e = world["channel"], world["entry"]
    urls = [
        reverse("workspace_switch"),
        reverse("notice_dismiss", args=[NoticeFactory(workspace=c.workspace).id]),
        reverse("notices_dismiss_all"),
        reverse("account_add_sandbox"),
        reverse("account_add_webhook"),
        reverse("account_disable", args=[world["account"].id]),
        reverse("account_enable", args=[world["account"].id]),
        reverse("channel_pause", args=[c.id]),
        reverse("queue_move", args=[c.id, e.id]),
        reverse("queue_remove", args=[c.id, e.id]),
        reverse("queue_requeue", args=[c.id, e.id]),
        reverse("queue_max", args=[c.id, e.id]),
        reverse("schedule_toggle", args=[world["schedule"].id]),
        reverse("schedule_preview", args=[c.id]),
        reverse("timeslot_move", args=[world["slot"].id]),
        reverse("timeslot_cancel", args=[world["slot"].id]),
        reverse("post_share", args=[world["post"].id]),
        reverse("invitation_create"),
        reverse("workspace_rename"),
        reverse("member_role", args=[member.id]),
        reverse("member_remove", args=[member.id]),
    ]
    for url in urls:
        assert web.get(url).status_code == 405, url
    world["slot"].refresh_from_db()
    assert world["slot"].status == Timeslot.Status.SCHEDULED


# An approver (a client who approves) writes nothing, exactly like a viewer (issue 27).
@pytest.mark.parametrize("role", [Membership.Role.VIEWER, Membership.Role.APPROVER])
def test_viewers_can_look_but_every_change_is_403(client, world, role):
    viewer = MembershipFactory(workspace=world["channel"].workspace, role=role)
    client.force_login(viewer.user)
    for url in page_urls(world):
        assert client.get(url).status_code == 200, url
    body = client.get(reverse("channel_detail", args=[world["channel"].id])).content.decode()
    # The note says what the role may do (an approver also comments and approves).
    assert re.search(r"you can look(, comment and approve posts)?, not change", body)
    assert reverse("timeslot_cancel", args=[world["slot"].id]) not in body
    c, e = world["channel"], world["entry"]
    for url, data in [
        (reverse("timeslot_cancel", args=[world["slot"].id]), {}),
        (reverse("queue_remove", args=[c.id, e.id]), {}),
        (reverse("channel_settings", args=[c.id]), {"name": "hijacked", "timezone": "UTC"}),
        (reverse("post_create"), {"text": "hello", "status": "ready"}),
        (reverse("schedule_create", args=[c.id]), {"name": "x", "frequency": "daily"}),
        (reverse("account_add_sandbox"), {"handle": "sneaky"}),
        (reverse("invitation_create"), {"email": "friend@example.com", "role": "owner"}),
        (reverse("workspace_rename"), {"name": "hijacked"}),
        (reverse("label_list"), {"name": "sneaky", "color": "#B91C1C"}),
    ]:
        assert client.post(url, data).status_code == 403, url
    world["slot"].refresh_from_db()
    assert world["slot"].status == Timeslot.Status.SCHEDULED
    assert QueueEntry.objects.filter(id=e.id).exists()
    assert not Post.objects.filter(text="hello").exists()
    assert not SocialAccount.objects.filter(handle="sneaky").exists()


def test_workspace_switcher_keeps_the_choice_in_the_session(client, member, world):
    other = MembershipFactory(user=member.user, workspace=WorkspaceFactory(name="Zeta"))
    other_channel = ChannelFactory(workspace=other.workspace, name="#zeta-only")
    client.force_login(member.user)
    assert "#zeta-only" not in client.get(reverse("channel_list")).content.decode()
    response = client.post(reverse("workspace_switch"), {"workspace": other.workspace_id})
    assert response.status_code == 302
    body = client.get(reverse("channel_list")).content.decode()
    assert "#zeta-only" in body and world["channel"].name not in body
    assert client.get(reverse("channel_detail", args=[world["channel"].id])).status_code == 404
    assert client.get(reverse("channel_detail", args=[other_channel.id])).status_code == 200
    # A workspace one is not a member of cannot be switched to.
    stranger = WorkspaceFactory()
    client.post(reverse("workspace_switch"), {"workspace": stranger.id})
    assert client.session["workspace_id"] == other.workspace_id


# --- Query counts ------------------------------------------------------------------------


def _count_queries(client, url: str) -> int:
    client.get(url)  # warm caches (content types, time zone list)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def _fill(workspace, channel, n: int, now: dt.datetime) -> None:
    """n of every row a list page shows, spread over n channels where that matters."""
    schedule = ScheduleFactory(channel=channel, recurrence=rule("RRULE:FREQ=HOURLY;BYMINUTE=0"))
    for i in range(n):
        extra = ChannelFactory(workspace=workspace, timezone="America/New_York")
        ScheduleFactory(channel=extra, recurrence=rule("RRULE:FREQ=DAILY;BYHOUR=9;BYMINUTE=0"))
        post = PostFactory(workspace=workspace)
        VariationFactory(post=post)
        QueueEntryFactory(channel=channel, post=post, times_published=i % 3)
        QueueEntryFactory(channel=extra, post=post)
        Timeslot.objects.create(
            channel=channel,
            schedule=schedule,
            publish_at=now + dt.timedelta(minutes=5 + i),
            planned_for=now + dt.timedelta(minutes=5 + i),
        )
        Timeslot.objects.create(channel=channel, post=post, publish_at=now + dt.timedelta(hours=i))
        past = TimeslotFactory(
            channel=channel,
            schedule=schedule,
            publish_at=now - dt.timedelta(hours=i + 1),
            planned_for=now - dt.timedelta(hours=i + 1),
            status=Timeslot.Status.FAILED if i % 2 else Timeslot.Status.PUBLISHED,
            published_post=post,
            reason="boom" if i % 2 else "",
        )
        DeliveryFactory(timeslot=past, post=post, account=channel.accounts.first())
        DeliveryFactory(timeslot=past, post=post, status="unconfirmed")
        NoticeFactory(workspace=workspace)
        SocialAccountFactory(workspace=workspace, status="needs_reconnect")


@pytest.mark.parametrize("page", ["dashboard", "channel_detail", "post_list", "calendar"])
def test_list_pages_queries_do_not_grow_with_rows(client, page):
    counts = []
    with time_machine.travel(NOW, tick=False):
        for n in (2, 12):
            membership = MembershipFactory()
            channel = ChannelFactory(workspace=membership.workspace)
            _fill(membership.workspace, channel, n, NOW)
            client.force_login(membership.user)
            url = {
                "dashboard": reverse("dashboard"),
                "channel_detail": reverse("channel_detail", args=[channel.id]),
                "post_list": reverse("post_list"),
                "calendar": reverse("calendar") + "?week=2026-W23",
            }[page]
            counts.append(_count_queries(client, url))
    assert counts[0] == counts[1], f"{page}: {counts[0]} queries for 2 rows, {counts[1]} for 12"


# --- Compose -----------------------------------------------------------------------------


def test_compose_too_long_for_x_shows_the_weighted_count_and_saves_nothing(web, workspace):
    channel = ChannelFactory(workspace=workspace, with_sandbox=False)
    channel.accounts.add(XAccountFactory(workspace=workspace))
    text = "日本語" * 50  # 150 CJK characters weigh 300 on X
    response = web.post(
        reverse("post_create"),
        {"text": text, "channels": [channel.id], "status": "ready", "action": "save"},
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert "X counts this text as 300 characters" in body
    assert text in body  # the text is kept for fixing
    assert Post.objects.count() == 0 and QueueEntry.objects.count() == 0


def test_compose_too_long_variation_saves_nothing(web, workspace):
    channel = ChannelFactory(workspace=workspace, with_sandbox=False)
    channel.accounts.add(XAccountFactory(workspace=workspace))
    response = web.post(
        reverse("post_create"),
        {
            "text": "fine",
            "variations": ["also fine", "x" * 281, ""],
            "channels": [channel.id],
            "status": "ready",
        },
    )
    assert response.status_code == 400
    assert "Variation 2: X counts this text as 281 characters" in response.content.decode()
    assert Post.objects.count() == 0


def test_compose_queues_the_post_with_variations(web, workspace):
    channel = ChannelFactory(workspace=workspace)
    response = web.post(
        reverse("post_create"),
        {
            "text": "Evergreen tip",
            "variations": ["Tip, reworded", "", "Third wording"],
            "channels": [channel.id],
            "status": "ready",
        },
    )
    assert response.status_code == 302
    post = Post.objects.get()
    assert post.texts() == ["Evergreen tip", "Tip, reworded", "Third wording"]
    assert QueueEntry.objects.filter(channel=channel, post=post, is_active=True).exists()


def test_compose_pin_time_is_read_in_the_channels_zone(web, workspace):
    channel = ChannelFactory(workspace=workspace, timezone="Europe/Berlin")
    with time_machine.travel(NOW, tick=False):
        response = web.post(
            reverse("post_create"),
            {
                "text": "Launch day",
                "channels": [channel.id],
                "status": "ready",
                "pin_at": "2026-07-01T09:00",
            },
        )
    assert response.status_code == 302
    slot = Timeslot.objects.get(post__text="Launch day")
    assert slot.publish_at == dt.datetime(2026, 7, 1, 7, 0, tzinfo=UTC)  # 09:00 CEST
    assert not QueueEntry.objects.exists()  # pinned, not queued


def test_compose_pin_in_the_past_is_refused(web, workspace):
    channel = ChannelFactory(workspace=workspace)
    with time_machine.travel(NOW, tick=False):
        response = web.post(
            reverse("post_create"),
            {
                "text": "Too late",
                "channels": [channel.id],
                "status": "ready",
                "pin_at": "2020-01-01T09:00",
            },
        )
    assert response.status_code == 400
    assert "in the past" in response.content.decode()
    assert not Post.objects.exists()


def test_share_now_pins_the_post_at_this_moment(web, workspace):
    channel = ChannelFactory(workspace=workspace)
    with time_machine.travel(NOW, tick=False):
        response = web.post(
            reverse("post_create"),
            {
                "text": "Breaking",
                "channels": [channel.id],
                "status": "ready",
                "action": "share_now",
            },
        )
    assert response.status_code == 302
    slot = Timeslot.objects.get(post__text="Breaking")
    assert slot.publish_at == NOW and slot.enqueued_at == NOW


def test_share_existing_post_now(web, world):
    with time_machine.travel(NOW, tick=False):
        response = web.post(
            reverse("post_share", args=[world["post"].id]), {"channel": world["channel"].id}
        )
    assert response.status_code == 302
    assert Timeslot.objects.filter(post=world["post"], publish_at=NOW).exists()


def test_edit_post_updates_text_channels_and_variations(web, world, workspace):
    other = ChannelFactory(workspace=workspace)
    post = world["post"]
    response = web.post(
        reverse("post_edit", args=[post.id]),
        {"text": "Rewritten", "variations": ["Alt"], "channels": [other.id], "status": "ready"},
    )
    assert response.status_code == 302
    post.refresh_from_db()
    assert post.texts() == ["Rewritten", "Alt"]
    assert set(QueueEntry.objects.filter(post=post).values_list("channel_id", flat=True)) == {
        other.id
    }


def test_edit_post_too_long_for_a_new_x_channel_changes_nothing(web, world, workspace):
    x_channel = ChannelFactory(workspace=workspace, with_sandbox=False)
    x_channel.accounts.add(XAccountFactory(workspace=workspace))
    post = world["post"]
    before = post.text
    response = web.post(
        reverse("post_edit", args=[post.id]),
        {"text": "y" * 300, "channels": [world["channel"].id, x_channel.id], "status": "ready"},
    )
    assert response.status_code == 400
    assert "X counts this text as 300 characters" in response.content.decode()
    post.refresh_from_db()
    assert post.text == before
    assert not QueueEntry.objects.filter(post=post, channel=x_channel).exists()


def test_length_endpoint_returns_xs_exact_weighted_count(web):
    response = web.get(
        reverse("post_length"), {"text": "Read https://example.com/a/very/long/path 🎉"}
    )
    # "Read " (5) + URL (23) + " " (1) + emoji (2)
    assert "31/280" in response.content.decode()
    response = web.get(reverse("post_length"), {"variations": "x" * 281})
    assert "281/280" in response.content.decode() and "over" in response.content.decode()


# --- Schedules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("choices", "expected"),
    [
        (
            {"frequency": "weekdays", "times": "14:00"},
            "RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;BYHOUR=14;BYMINUTE=0",
        ),
        (
            {"frequency": "daily", "times": "09:00, 14:30, 9:00"},
            "RRULE:FREQ=DAILY;BYHOUR=9;BYMINUTE=0\nRRULE:FREQ=DAILY;BYHOUR=14;BYMINUTE=30",
        ),
        (
            {"frequency": "daily", "times": "09:00 17:00"},
            "RRULE:FREQ=DAILY;BYHOUR=9,17;BYMINUTE=0",
        ),
        (
            {"frequency": "weekly", "times": "08:15", "days": ["FR", "MO"]},
            "RRULE:FREQ=WEEKLY;BYDAY=MO,FR;BYHOUR=8;BYMINUTE=15",
        ),
        ({"frequency": "minutes", "interval": 15}, "RRULE:FREQ=MINUTELY;INTERVAL=15"),
        ({"frequency": "hours", "interval": 3}, "RRULE:FREQ=HOURLY;INTERVAL=3;BYMINUTE=0"),
    ],
)
def test_rule_builder(choices, expected):
    text = build_rule_text(**choices)
    assert text == expected
    # ...and the editor reads its own rules back as the same simple choices.
    back = simple_from_recurrence(recurrence.deserialize(text))
    assert back is not None and back["frequency"] == choices["frequency"]
    assert build_rule_text(**{k: v for k, v in back.items() if v != []}) == expected


def test_rules_the_simple_editor_cannot_show_open_in_advanced_mode():
    for text in [
        "RRULE:FREQ=MONTHLY;BYDAY=1MO;BYHOUR=10;BYMINUTE=0",
        "RRULE:FREQ=DAILY;BYHOUR=9;BYMINUTE=0\nEXDATE:20260601T090000",
        "RRULE:FREQ=DAILY;INTERVAL=2;BYHOUR=9;BYMINUTE=0",
        "RRULE:FREQ=DAILY;BYHOUR=9;BYMINUTE=0\nRRULE:FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0",
    ]:
        assert simple_from_recurrence(recurrence.deserialize(text)) is None, text


def test_schedule_editor_builds_the_rule_and_plans_slots(web, world):
    channel = world["channel"]
    channel.timezone = "UTC"
    channel.save()
    with time_machine.travel(NOW, tick=False):
        response = web.post(
            reverse("schedule_create", args=[channel.id]),
            {"name": "Afternoons", "frequency": "weekdays", "times": "14:00", "is_active": "on"},
        )
    assert response.status_code == 302
    schedule = Schedule.objects.get(name="Afternoons")
    assert (
        recurrence.serialize(schedule.recurrence)
        == "RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;BYHOUR=14;BYMINUTE=0"
    )
    # Planned at once: Monday 14:00 is inside the window.
    slots = Timeslot.objects.filter(schedule=schedule)
    assert [s.publish_at for s in slots] == [dt.datetime(2026, 6, 1, 14, 0, tzinfo=UTC)]
    # The channel page shows it (and later, projected, weekday slots) with the post.
    with time_machine.travel(NOW, tick=False):
        body = web.get(reverse("channel_detail", args=[channel.id])).content.decode()
    assert "Afternoons" in body and "Weekly, each Monday, Tuesday" in body
    assert f'id="slot-{slots[0].id}"' in body
    assert world["post"].text in body


def test_schedule_editor_advanced_text(web, world):
    with time_machine.travel(NOW, tick=False):
        response = web.post(
            reverse("schedule_create", args=[world["channel"].id]),
            {
                "name": "Monthly",
                "frequency": "advanced",
                "advanced": "RRULE:FREQ=MONTHLY;BYDAY=1MO;BYHOUR=10;BYMINUTE=0",
                "is_active": "on",
            },
        )
    assert response.status_code == 302
    schedule = Schedule.objects.get(name="Monthly")
    assert recurrence.serialize(schedule.recurrence).startswith("RRULE:FREQ=MONTHLY")
    # Editing it opens the advanced editor with the text.
    body = web.get(reverse("schedule_edit", args=[schedule.id])).content.decode()
    assert "FREQ=MONTHLY;BYDAY=1MO" in body


@pytest.mark.parametrize(
    "data",
    [
        {"frequency": "daily", "times": "25:00"},
        {"frequency": "daily", "times": ""},
        {"frequency": "weekly", "times": "09:00"},  # no day ticked
        {"frequency": "minutes", "interval": ""},
        {"frequency": "advanced", "advanced": "RRULE:FREQ=SECONDLY"},  # more than once a minute
        {"frequency": "advanced", "advanced": "this is not a rule"},
        {"frequency": "advanced", "advanced": "RRULE:FREQ=DAILY;BYHOUR=25"},
    ],
)
def test_schedule_editor_bad_input_is_a_form_error_and_saves_nothing(web, world, data):
    before = Timeslot.objects.count()
    response = web.post(
        reverse("schedule_create", args=[world["channel"].id]), {"name": "Bad", **data}
    )
    assert response.status_code == 400
    assert b"field-error" in response.content or b"form-errors" in response.content
    assert not Schedule.objects.filter(name="Bad").exists()
    assert Timeslot.objects.count() == before


def test_schedule_edit_reconciles_and_toggle_turns_off(web, world):
    channel = world["channel"]
    channel.timezone = "UTC"
    channel.save()
    with time_machine.travel(NOW, tick=False):
        web.post(
            reverse("schedule_create", args=[channel.id]),
            {"name": "S", "frequency": "daily", "times": "14:00", "is_active": "on"},
        )
        schedule = Schedule.objects.get(name="S")
        form = web.get(reverse("schedule_edit", args=[schedule.id])).content.decode()
        assert 'value="14:00"' in form
        web.post(
            reverse("schedule_edit", args=[schedule.id]),
            {"name": "S", "frequency": "daily", "times": "14:15", "is_active": "on"},
        )
        live = Timeslot.objects.filter(schedule=schedule, status="scheduled")
        assert [s.publish_at.minute for s in live] == [15]
        web.post(reverse("schedule_toggle", args=[schedule.id]))
    schedule.refresh_from_db()
    assert not schedule.is_active
    assert not Timeslot.objects.filter(schedule=schedule, status="scheduled").exists()


def test_schedule_preview_describes_the_rule(web, world):
    response = web.post(
        reverse("schedule_preview", args=[world["channel"].id]),
        {"name": "p", "frequency": "weekdays", "times": "09:00"},
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "BYDAY=MO,TU,WE,TH,FR;BYHOUR=9;BYMINUTE=0" in body and "at 09:00" in body


# --- Queue, slots, channels, accounts ----------------------------------------------------


def test_queue_reorder_with_htmx(web, world):
    channel = world["channel"]
    first = world["entry"]
    second = QueueEntryFactory(channel=channel, position=first.position + 1)
    response = web.post(
        reverse("queue_move", args=[channel.id, second.id]),
        {"direction": "up"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert "<html" not in response.content.decode()  # a fragment for htmx
    order = list(QueueEntry.objects.filter(channel=channel).order_by("position", "id"))
    assert [e.id for e in order] == [second.id, first.id]
    body = response.content.decode()
    assert body.index(second.post.text) < body.index(first.post.text)


def test_queue_max_and_remove(web, world):
    channel, entry = world["channel"], world["entry"]
    web.post(reverse("queue_max", args=[channel.id, entry.id]), {"max_publications": "3"})
    entry.refresh_from_db()
    assert entry.max_publications == 3
    web.post(reverse("queue_max", args=[channel.id, entry.id]), {"max_publications": "0"})
    entry.refresh_from_db()
    assert entry.max_publications == 3  # refused
    web.post(reverse("queue_remove", args=[channel.id, entry.id]))
    assert not QueueEntry.objects.filter(id=entry.id).exists()


def test_move_and_cancel_a_slot(web, world):
    slot = world["slot"]  # channel in Europe/Berlin
    with time_machine.travel(NOW, tick=False):
        response = web.post(
            reverse("timeslot_move", args=[slot.id]), {"publish_at": "2026-06-02T10:30"}
        )
    assert response.status_code == 302
    slot.refresh_from_db()
    assert slot.publish_at == dt.datetime(2026, 6, 2, 8, 30, tzinfo=UTC)  # 10:30 CEST
    assert slot.detached
    with time_machine.travel(NOW, tick=False):
        web.post(reverse("timeslot_cancel", args=[slot.id]))
    slot.refresh_from_db()
    assert slot.status == Timeslot.Status.CANCELED
    # Canceling again is a clear message, not an error page.
    response = web.post(reverse("timeslot_cancel", args=[slot.id]), follow=True)
    assert "cannot be canceled" in response.content.decode()


def test_channel_create_and_settings(web, workspace):
    account = SocialAccountFactory(workspace=workspace)
    response = web.post(
        reverse("channel_create"),
        {"name": "#tech", "timezone": "Asia/Tokyo", "mode": "loop", "accounts": [account.id]},
    )
    assert response.status_code == 302
    channel = workspace.channels.get(name="#tech")
    assert channel.slug == "tech" and channel.timezone == "Asia/Tokyo"
    assert list(channel.accounts.all()) == [account]
    # A bad zone and a duplicate name are form errors.
    response = web.post(
        reverse("channel_create"), {"name": "#tech", "timezone": "Mars/Olympus", "mode": "loop"}
    )
    assert response.status_code == 400
    assert workspace.channels.count() == 1
    response = web.post(
        reverse("channel_settings", args=[channel.id]),
        {"name": "#tech", "timezone": "Europe/Paris", "mode": "once", "is_paused": "on"},
    )
    assert response.status_code == 302
    channel.refresh_from_db()
    assert channel.timezone == "Europe/Paris" and channel.mode == "once" and channel.is_paused
    assert not channel.accounts.exists()
    web.post(reverse("channel_pause", args=[channel.id]), {"paused": "0"})
    channel.refresh_from_db()
    assert not channel.is_paused


def test_accounts_add_disable_enable_and_secret_never_shown(web, workspace, monkeypatch):
    # Saving a webhook resolves its host (the SSRF guard): answer from a fake DNS.
    fake_dns(monkeypatch, {"hooks.example.com": ["93.184.215.14"]})
    secret = "s3cret-webhook-key-ABCDEFG"
    response = web.post(
        reverse("account_add_webhook"),
        {"handle": "zap", "url": "https://hooks.example.com/in", "secret": secret},
    )
    assert response.status_code == 302
    account = SocialAccount.objects.get(handle="zap")
    assert account.credentials == {"url": "https://hooks.example.com/in", "secret": secret}
    assert secret not in web.get(reverse("account_list")).content.decode()
    # A form error does not echo the secret either.
    response = web.post(
        reverse("account_add_webhook"), {"handle": "zap", "url": "not a url", "secret": secret}
    )
    assert response.status_code == 400 and secret not in response.content.decode()

    response = web.post(reverse("account_add_sandbox"), {"handle": "demo"})
    assert response.status_code == 302
    sandbox = SocialAccount.objects.get(handle="demo", provider="sandbox")
    web.post(reverse("account_disable", args=[sandbox.id]))
    sandbox.refresh_from_db()
    assert sandbox.status == "disabled"
    web.post(reverse("account_enable", args=[sandbox.id]))
    sandbox.refresh_from_db()
    assert sandbox.status == "active"


@override_settings(X_CLIENT_ID="client-123")  # without it, only pasting keys is offered
def test_accounts_page_links_to_the_x_connect_flow(web, workspace):
    XAccountFactory(workspace=workspace, status="needs_reconnect")
    body = web.get(reverse("account_list")).content.decode()
    assert "/connect/x/start/" in body and "/connect/x/keys/" in body
    assert "Reconnect" in body


def test_dashboard_shows_problems_and_dismisses_notices(web, world, workspace):
    notice = NoticeFactory(workspace=workspace, kind="timeslot_failed", message="It broke badly")
    XAccountFactory(workspace=workspace, status="needs_reconnect", handle="brokenx")
    failed = TimeslotFactory(
        channel=world["channel"],
        schedule=world["schedule"],
        publish_at=timezone.now() - dt.timedelta(hours=1),
        planned_for=timezone.now() - dt.timedelta(hours=1),
        status=Timeslot.Status.MISSED,
        reason="Missed: workers were down",
    )
    body = web.get(reverse("dashboard")).content.decode()
    assert "It broke badly" in body and "@brokenx" in body and failed.reason in body
    response = web.post(reverse("notice_dismiss", args=[notice.id]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    notice.refresh_from_db()
    assert notice.dismissed_at is not None
    assert "It broke badly" not in web.get(reverse("dashboard")).content.decode()


def test_times_are_shown_in_the_channels_zone(web, world):
    slot = world["slot"]
    Timeslot.objects.filter(id=slot.id).update(
        publish_at=dt.datetime(2026, 6, 1, 14, 0, tzinfo=UTC)
    )
    with time_machine.travel(NOW, tick=False):
        body = web.get(reverse("channel_detail", args=[world["channel"].id])).content.decode()
    assert "16:00" in body and "CEST" in body  # 14:00 UTC in Berlin


def test_calendar_week_shows_slots_in_the_chosen_zone(web, world):
    Timeslot.objects.filter(id=world["slot"].id).update(
        publish_at=dt.datetime(2026, 6, 3, 23, 30, tzinfo=UTC)
    )
    with time_machine.travel(NOW, tick=False):
        berlin = web.get(reverse("calendar"), {"week": "2026-W23"}).content.decode()
        tokyo = web.get(
            reverse("calendar"), {"week": "2026-W23", "tz": "Asia/Tokyo"}
        ).content.decode()
        bad = web.get(reverse("calendar"), {"week": "nonsense"})
    assert "01:30" in berlin  # Thursday 01:30 CEST
    assert "08:30" in tokyo
    assert "start=2026-05-25&amp;tz=Asia%2FTokyo" in tokyo  # previous week, same zone
    assert "start=2026-06-08&amp;tz=Asia%2FTokyo" in tokyo
    # The zone is the calendar's query parameter: no other page's zone changed.
    assert "display_tz" not in web.session
    assert bad.status_code == 200 and "Weeks look like" in bad.content.decode()
