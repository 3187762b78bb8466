"""Problems before their slot (issue 28, item 3): each lint rule raises its warning on the
exact slot, the warning says what fixes it, and it is gone once fixed; the pages that show
warnings read them in a constant number of queries."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from accounts.models import Notice, SocialAccount
from accounts.services import EmailOutcome, notice_email_send
from channels.models import Channel
from scheduling import lint
from scheduling.models import Timeslot
from tests.factories import (
    ChannelFactory,
    MembershipFactory,
    PostFactory,
    QueueEntryFactory,
    ScheduleFactory,
    SocialAccountFactory,
    VariationFactory,
    XAccountFactory,
    rule,
)

NOW = dt.datetime(2026, 6, 1, 8, 5, tzinfo=dt.UTC)
# Two days ahead, so a daily slot's next day is checked too.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("two_days")]


@pytest.fixture
def two_days(settings):
    settings.LINT_AHEAD = dt.timedelta(hours=48)


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 6, day, hour, minute, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def x_channel(rule_text: str, **channel) -> Channel:
    ch = ChannelFactory(with_sandbox=False, **channel)
    ch.accounts.add(XAccountFactory(workspace=ch.workspace, external_id=f"x{ch.id}"))
    ScheduleFactory(channel=ch, recurrence=rule(rule_text))
    return ch


def found(ch: Channel, check: lint.Check) -> dict[dt.datetime, lint.SlotWarning]:
    return {
        w.publish_at: w
        for w in lint.warnings_ahead(workspace=ch.workspace, now=NOW, channel_ids=[ch.id])
        if w.check == check
    }


def test_too_long_for_a_network_of_the_channel():
    ch = x_channel("RRULE:FREQ=DAILY;BYHOUR=9;BYMINUTE=0", mode=Channel.Mode.ONCE)
    short = QueueEntryFactory(channel=ch, position=0)
    long = QueueEntryFactory(
        channel=ch, position=1, post=PostFactory(workspace=ch.workspace, text="a" * 300)
    )
    warnings = found(ch, lint.Check.TOO_LONG)
    # The second slot (June 2, 09:00) is the one that takes the long post.
    assert list(warnings) == [at(2, 9)]
    w = warnings[at(2, 9)]
    assert w.post == long.post and "280" in w.problem and "Shorten" in w.fix
    assert "Tue 02 Jun 09:00" in w.text and ch.name in w.text and short.post != long.post
    long.post.text = "short now"
    long.post.save()
    assert found(ch, lint.Check.TOO_LONG) == {}


def test_queue_runs_dry_before_the_slot():
    ch = x_channel("RRULE:FREQ=DAILY;BYHOUR=9;BYMINUTE=0", mode=Channel.Mode.ONCE)
    QueueEntryFactory(channel=ch)
    warnings = found(ch, lint.Check.QUEUE_DRY)
    assert list(warnings) == [at(2, 9)]  # June 1 takes the only post; June 2 finds none
    assert warnings[at(2, 9)].post is None and "Add posts" in warnings[at(2, 9)].fix
    QueueEntryFactory(channel=ch)
    QueueEntryFactory(channel=ch)
    assert found(ch, lint.Check.QUEUE_DRY) == {}


@override_settings(POSTS_PER_24H_CAP={"x": 3, "threads": 250, "instagram": 100})
def test_x_cap_over_any_24_hours_counts_what_was_published_before():
    ch = x_channel("RRULE:FREQ=DAILY;BYHOUR=9,12,15,18;BYMINUTE=0")
    for _ in range(4):
        entry = QueueEntryFactory(channel=ch)
        VariationFactory(post=entry.post)
    # One post went out yesterday at 20:00: with June 1's 09:00, 12:00, the 15:00 is the 4th.
    yesterday = at(1, 0) - dt.timedelta(hours=4)
    Timeslot.objects.create(
        channel=ch, schedule=ch.schedules.get(), planned_for=yesterday, publish_at=yesterday,
        status="published", published_at=yesterday, published_text="old",
    )  # fmt: skip
    warnings = found(ch, lint.Check.OVER_CAP)
    assert at(1, 15) in warnings and at(1, 12) not in warnings and at(1, 9) not in warnings
    assert "4th post in 24 hours" in warnings[at(1, 15)].problem
    assert "X" in warnings[at(1, 15)].problem and "allows 3" in warnings[at(1, 15)].problem
    schedule = ch.schedules.get()
    schedule.recurrence = rule("RRULE:FREQ=DAILY;BYHOUR=9,18;BYMINUTE=0")
    schedule.save()
    assert found(ch, lint.Check.OVER_CAP) == {}


def test_threads_cap_of_250():
    ch = ChannelFactory(with_sandbox=False)
    ch.accounts.add(SocialAccountFactory(workspace=ch.workspace, provider="threads"))
    ScheduleFactory(channel=ch, recurrence=rule("RRULE:FREQ=MINUTELY;INTERVAL=5"))
    for _ in range(3):
        QueueEntryFactory(channel=ch)
    warnings = found(ch, lint.Check.OVER_CAP)
    # From 08:05 (now) every 5 minutes: the 251st slot within 24 hours is June 2 04:55.
    assert min(warnings) == at(2, 4, 55)
    assert "allows 250" in warnings[min(warnings)].problem


def test_same_text_to_the_same_account_inside_the_duplicate_window():
    ch = x_channel("RRULE:FREQ=HOURLY;INTERVAL=12;BYMINUTE=0")  # 12:00, 00:00 ... UTC
    entry = QueueEntryFactory(channel=ch)
    warnings = found(ch, lint.Check.DUPLICATE)
    first = min(warnings)
    assert first == at(2, 0)  # June 1 12:00 then June 2 00:00: the same text 12 h apart
    assert warnings[first].post == entry.post and "Add a variation" in warnings[first].fix
    # Two texts, one every 24 hours each: nothing repeated within 24 hours any more.
    VariationFactory(post=entry.post)
    assert found(ch, lint.Check.DUPLICATE) == {}


def test_account_needing_reconnect_warns_each_coming_slot():
    ch = x_channel("RRULE:FREQ=DAILY;BYHOUR=9;BYMINUTE=0")
    QueueEntryFactory(channel=ch)
    account = ch.accounts.get()
    account.status = SocialAccount.Status.NEEDS_RECONNECT
    account.save()
    warnings = found(ch, lint.Check.RECONNECT)
    assert list(warnings) == [at(1, 9), at(2, 9)]  # 48 h ahead
    assert "Reconnect" in warnings[at(1, 9)].fix and account.handle in warnings[at(1, 9)].problem
    account.status = SocialAccount.Status.ACTIVE
    account.save()
    assert found(ch, lint.Check.RECONNECT) == {}


def test_a_pinned_post_waiting_for_approval_warns_on_its_slot_until_approved():
    from scheduling.services import timeslot_pin

    ch = x_channel("RRULE:FREQ=DAILY;BYHOUR=9;BYMINUTE=0")
    QueueEntryFactory(channel=ch)
    post = PostFactory(workspace=ch.workspace, needs_approval=True, review_state="in_review")
    timeslot_pin(post=post, channel=ch, publish_at=at(1, 15), now=NOW)

    warnings = found(ch, lint.Check.AWAITS_APPROVAL)

    assert list(warnings) == [at(1, 15)]  # the pin only: the queue's post needs none
    assert "approve" in warnings[at(1, 15)].fix
    post.review_state = "approved"
    post.save()
    assert found(ch, lint.Check.AWAITS_APPROVAL) == {}


def test_email_for_the_next_24_hours_once_a_day(django_capture_on_commit_callbacks):
    ch = x_channel("RRULE:FREQ=DAILY;BYHOUR=9;BYMINUTE=0", mode=Channel.Mode.ONCE)
    MembershipFactory(workspace=ch.workspace, role="owner")
    QueueEntryFactory(channel=ch)
    # The next 24 hours hold June 1's 09:00 only, which takes the queue's one post.
    assert lint.lint_notify(now=NOW) == 0
    schedule = ch.schedules.get()
    schedule.recurrence = rule("RRULE:FREQ=DAILY;BYHOUR=9,20;BYMINUTE=0")
    schedule.save()
    with django_capture_on_commit_callbacks(execute=True):
        # Now 20:00 finds the queue empty; the next hour's run refreshes the same notice.
        assert lint.lint_notify(now=NOW) == 1
        lint.lint_notify(now=NOW + dt.timedelta(minutes=1))
    notice = Notice.objects.get(kind=Notice.Kind.SLOT_WARNINGS)
    assert "The queue runs dry" in notice.message and "Mon 01 Jun 20:00" in notice.message
    assert notice.occurrences == 2
    # What the background task queued after commit does: one email to the owners.
    assert notice_email_send(notice_id=notice.id) == EmailOutcome.SENT
    assert notice_email_send(notice_id=notice.id) == EmailOutcome.SKIPPED
    assert len(mail.outbox) == 1 and "Mon 01 Jun 20:00" in mail.outbox[0].body
    assert Notice.objects.filter(kind=Notice.Kind.SLOT_WARNINGS).count() == 1


def _page_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        page = client.get(url)
    assert page.status_code == 200
    return len(ctx.captured_queries), page.content.decode()


@pytest.mark.parametrize("page", ["dashboard", "channel", "calendar"])
def test_pages_show_warnings_in_constant_queries(client, page):
    member = MembershipFactory(role="owner")
    client.force_login(member.user)
    counts = []
    for size in (1, 6):
        channels = []
        for _ in range(size):
            ch = ChannelFactory(workspace=member.workspace, with_sandbox=False)
            ch.accounts.add(XAccountFactory(workspace=ch.workspace, external_id=f"x{ch.id}"))
            ScheduleFactory(channel=ch, recurrence=rule("RRULE:FREQ=HOURLY;INTERVAL=3;BYMINUTE=0"))
            for _ in range(size):
                QueueEntryFactory(
                    channel=ch, post=PostFactory(workspace=ch.workspace, text="b" * 300)
                )
            channels.append(ch)
        url = {
            "dashboard": "/",
            "channel": f"/channels/{channels[0].id}/",
            "calendar": "/calendar/?view=week",
        }[page]
        n, body = _page_queries(client, url)
        assert "Problems ahead" in body and "Shorten the post" in body
        counts.append(n)
        for ch in channels:  # the next size starts from a clean workspace
            ch.delete()
    assert counts[0] == counts[1]


def test_api_lists_the_warnings_of_the_users_workspaces_only(client):
    ch = x_channel("RRULE:FREQ=DAILY;BYHOUR=9;BYMINUTE=0")
    QueueEntryFactory(channel=ch, post=PostFactory(workspace=ch.workspace, text="c" * 300))
    member = MembershipFactory(workspace=ch.workspace, role="viewer")
    other = x_channel("RRULE:FREQ=DAILY;BYHOUR=9;BYMINUTE=0")
    QueueEntryFactory(channel=other, post=PostFactory(workspace=other.workspace, text="d" * 300))
    client.force_login(member.user)
    data = client.get("/api/v1/timeslots/warnings/").json()
    assert {(w["check"], w["channel"], w["publish_at"]) for w in data} == {
        ("too_long", ch.id, "2026-06-01T09:00:00Z"),
        ("too_long", ch.id, "2026-06-02T09:00:00Z"),
    }
    assert data[0]["timeslot"] is None and "Shorten" in data[0]["fix"]
    assert client.get(f"/api/v1/timeslots/warnings/?channel={other.id}").json() == []
    assert len(client.get(f"/api/v1/timeslots/warnings/?channel={ch.slug}").json()) == 2
