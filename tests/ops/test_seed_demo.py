from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import Membership, SocialAccount, Workspace
from channels.models import Channel, QueueEntry
from posts.models import Post, Variation
from scheduling.models import Schedule, Timeslot
from tests.factories import rule

NOW = dt.datetime(2026, 6, 1, 10, 2, tzinfo=dt.UTC)  # a Monday


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    models = (
        get_user_model(),
        Workspace,
        Membership,
        SocialAccount,
        Channel,
        QueueEntry,
        Post,
        Variation,
        Schedule,
        Timeslot,
    )
    return {model.__name__: model.objects.count() for model in models}


@pytest.mark.django_db(transaction=True)
def test_seeding_twice_creates_nothing_new(broker):
    with time_machine.travel(NOW, tick=False):
        first_out = seed()
        first = counts()
        second_out = seed()
    assert counts() == first
    assert first["Workspace"] == 1 and first["SocialAccount"] == 4 and first["Channel"] == 3
    assert first["Post"] == 10 and first["Variation"] >= 2 and first["Schedule"] == 3
    assert "created  workspace 'Demo'" in first_out
    assert not [line for line in second_out.splitlines() if line.startswith("created")]
    assert "exists   workspace 'Demo'" in second_out
    assert "Demo login: username 'demo', password 'queueloop-demo'" in second_out


@pytest.mark.django_db(transaction=True)
def test_demo_workspace_shape(broker):
    seed()
    user = get_user_model().objects.get(username="demo")
    assert user.is_staff and not user.is_superuser and user.email == "demo@example.com"
    workspace = Workspace.objects.get(name="Demo")
    assert Membership.objects.get(workspace=workspace, user=user).role == "owner"
    assert set(workspace.social_accounts.values_list("provider", "handle")) == {
        ("sandbox", "queueloop_demo"),
        ("sandbox", "ql_news"),
        ("sandbox", "ql_tips"),
        ("sandbox", "ql_live"),
    }
    tech = Channel.objects.get(workspace=workspace, name="#tech")
    news = Channel.objects.get(workspace=workspace, name="#news")
    assert (tech.timezone, tech.mode, tech.accounts.count()) == ("Europe/Berlin", "loop", 2)
    assert (news.timezone, news.mode, news.accounts.count()) == ("America/New_York", "once", 1)
    live = Channel.objects.get(workspace=workspace, name="#demo-live")
    assert list(live.accounts.values_list("handle", flat=True)) == ["ql_live"]
    assert tech.entries.count() + news.entries.count() + live.entries.count() == 10
    assert all(p.author == user for p in Post.objects.all())


@pytest.mark.django_db(transaction=True)
def test_demo_live_schedule_has_planned_slots_at_once(broker):
    with time_machine.travel(NOW, tick=False):
        seed()
    live = Schedule.objects.get(channel__name="#demo-live")
    slots = list(live.timeslots.order_by("publish_at"))
    # Every 10 minutes (:05, :15 ...) over the 75-minute planner horizon, from "now" on: no
    # past slots.
    assert len(slots) == 8
    assert slots[0].publish_at == dt.datetime(2026, 6, 1, 10, 5, tzinfo=dt.UTC)
    assert all(s.status == Timeslot.Status.SCHEDULED and s.enqueued_at for s in slots)
    # ... and their publish messages are on the broker right away.
    # #tech publishes on weekdays at 09:00 and 16:00 Berlin: none in this 75 minutes.
    assert not Timeslot.objects.filter(channel__name="#tech").exists()
    assert len(broker.publish_messages()) == 8
    news = Schedule.objects.get(channel__name="#news")
    assert str(news.recurrence).count("BYDAY=MO,TU,WE,TH,FR") == 1


@pytest.mark.django_db(transaction=True)
def test_demo_user_can_log_in(broker, client):
    seed()
    assert client.login(username="demo", password="queueloop-demo")
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_password_comes_from_the_environment(broker, client, monkeypatch):
    monkeypatch.setenv("DEMO_PASSWORD", "another-demo-pass")
    out = seed()
    assert "password 'another-demo-pass'" in out
    assert client.login(username="demo", password="another-demo-pass")


@pytest.mark.django_db(transaction=True)
def test_superuser_flag_and_reset(broker):
    seed()
    old_workspace = Workspace.objects.get(slug="demo").pk
    out = seed("--reset", "--superuser")
    assert "--reset: deleted the Demo workspace" in out
    assert get_user_model().objects.get(username="demo").is_superuser
    assert Workspace.objects.get(slug="demo").pk != old_workspace
    assert Workspace.objects.count() == 1 and Post.objects.count() == 10


@pytest.mark.django_db
def test_bad_arguments_are_a_clear_error():
    with pytest.raises(CommandError, match="unrecognized arguments: --nope"):
        call_command("seed_demo", "--nope")
    assert not Workspace.objects.exists()


@pytest.mark.django_db
def test_empty_demo_password_is_refused(monkeypatch):
    monkeypatch.setenv("DEMO_PASSWORD", "")
    with pytest.raises(CommandError, match="DEMO_PASSWORD"):
        call_command("seed_demo", stdout=StringIO())
    assert not Workspace.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_demo_seeded_before_demo_live_turns_off_techs_5_minute_schedule(broker):
    """`make run` on an older var/: #tech ran every 5 minutes. Seeding again turns that
    schedule off (its coming slots canceled) and gives #tech its weekday schedule."""
    with time_machine.travel(NOW, tick=False):
        seed()
        tech = Channel.objects.get(name="#tech")
        # The older demo had no weekday schedule on #tech, only the 5-minute one (the two
        # together would break the channel's spacing bound, CHANNEL_MIN_INTERVAL).
        tech.schedules.all().delete()
        old = Schedule.objects.create(
            channel=tech,
            name="Every 5 minutes",
            recurrence=rule("RRULE:FREQ=MINUTELY;INTERVAL=5"),
        )
        from scheduling.services import schedule_save

        schedule_save(schedule=old)
        assert tech.timeslots.filter(status=Timeslot.Status.SCHEDULED).exists()
        out = seed()
    old.refresh_from_db()
    assert not old.is_active
    assert "retired  schedule #tech 'Every 5 minutes'" in out
    assert not tech.timeslots.filter(status=Timeslot.Status.SCHEDULED).exists()
    assert tech.schedules.filter(is_active=True).get().name == "Weekdays at 09:00 and 16:00"
