"""Previewing a schedule edit (issue 28, item 4): the preview is the save's own plan, so
over random rules and edits it equals what the save then does; the web step and the API
endpoint show it and save nothing."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduling import preview, services
from scheduling.models import Schedule, Timeslot
from tests.factories import ChannelFactory, MembershipFactory, PostFactory, rule

NOW = dt.datetime(2026, 6, 1, 8, 5, tzinfo=dt.UTC)

# Rules that fire inside the 75-minute planned window, in many shapes.
rules_st = st.one_of(
    st.sampled_from([5, 10, 15, 20, 30]).map(lambda n: f"RRULE:FREQ=MINUTELY;INTERVAL={n}"),
    st.sets(st.integers(0, 59), min_size=1, max_size=4).map(
        lambda ms: "RRULE:FREQ=HOURLY;BYMINUTE=" + ",".join(map(str, sorted(ms)))
    ),
    st.tuples(st.integers(8, 9), st.integers(0, 59)).map(
        lambda hm: f"RRULE:FREQ=DAILY;BYHOUR={hm[0]};BYMINUTE={hm[1]}"
    ),
)
# Between two edits: a user moves or cancels one of the slots, time passes, the schedule
# is turned off or on, the channel gets a pin.
step_st = st.tuples(
    rules_st,
    st.booleans(),  # is_active
    st.sampled_from(["none", "move", "cancel", "pin", "later"]),
    st.integers(0, 1000),  # which slot / how far
)


def _state(schedule_id: int) -> dict[int, tuple]:
    return {
        r.id: (r.status, r.publish_at, r.reason_code, r.detached)
        for r in Timeslot.objects.filter(schedule_id=schedule_id)
    }


def _act(channel, schedule, action: str, n: int, traveller) -> None:
    slots = list(
        Timeslot.objects.filter(schedule=schedule, status="scheduled").order_by("publish_at")
    )
    now = dt.datetime.now(dt.UTC)
    if action == "move" and slots:
        slot = slots[n % len(slots)]
        try:
            services.timeslot_reschedule(
                timeslot=slot, publish_at=now + dt.timedelta(minutes=3 + n % 70)
            )
        except ValidationError:
            pass  # too close to another slot: a refused move changes nothing
    elif action == "cancel" and slots:
        services.timeslot_cancel(timeslot=slots[n % len(slots)])
    elif action == "pin":
        post = PostFactory(workspace=channel.workspace)
        try:
            services.timeslot_pin(
                post=post, channel=channel, publish_at=now + dt.timedelta(minutes=2 + n % 70)
            )
        except ValidationError:
            pass
    elif action == "later":
        traveller.shift(dt.timedelta(minutes=n % 50))


@pytest.mark.django_db(transaction=True)
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(first=rules_st, steps=st.lists(step_st, min_size=1, max_size=4))
def test_preview_equals_what_the_save_then_does(broker, first, steps):
    with time_machine.travel(NOW, tick=False) as traveller:
        channel = ChannelFactory()
        schedule = services.schedule_save(
            schedule=Schedule(channel=channel, name="q", recurrence=rule(first))
        )
        for text, active, action, n in steps:
            _act(channel, schedule, action, n, traveller)
            schedule = Schedule.objects.select_related("channel").get(pk=schedule.pk)
            schedule.recurrence, schedule.is_active = rule(text), active
            now = dt.datetime.now(dt.UTC)
            seen = preview.schedule_preview_changes(schedule=schedule, now=now)
            before = _state(schedule.pk)
            try:
                services.schedule_save(schedule=schedule, now=now)
            except ValidationError as exc:
                assert seen.errors == list(exc.messages)
                assert _state(schedule.pk) == before  # refused: nothing changed
                continue
            assert not seen.errors
            after = _state(schedule.pk)
            new = {i: v for i, v in after.items() if i not in before}
            changed = {i for i in before if after[i] != before[i]}
            assert {s.id for s in seen.canceled} == {
                i for i in changed if before[i][0] == "scheduled" and after[i][0] == "canceled"
            }
            assert {s.id for s in seen.revived} == {
                i for i in changed if before[i][0] == "canceled" and after[i][0] == "scheduled"
            }
            assert changed == {s.id for s in seen.canceled} | {s.id for s in seen.revived}
            assert sorted(s.publish_at for s in seen.created) == sorted(
                v[1] for v in new.values() if v[0] == "scheduled"
            )
            assert sorted(s.publish_at for s in seen.skipped) == sorted(
                v[1] for v in new.values() if v[0] == "skipped"
            )
            # Moved slots are left alone, as the preview said.
            assert all(after[s.id] == before[s.id] for s in seen.moved)


@pytest.mark.django_db(transaction=True)
def test_preview_lists_each_kind_and_saves_nothing(broker):
    with time_machine.travel(dt.datetime(2026, 6, 1, 8, 20, tzinfo=dt.UTC), tick=False):
        channel = ChannelFactory()
        schedule = services.schedule_save(
            schedule=Schedule(
                channel=channel, name="q", recurrence=rule("RRULE:FREQ=HOURLY;BYMINUTE=30")
            )
        )
        moved = Timeslot.objects.get(schedule=schedule, publish_at__hour=9)
        services.timeslot_reschedule(
            timeslot=moved, publish_at=dt.datetime(2026, 6, 1, 9, 10, tzinfo=dt.UTC)
        )
        pin = services.timeslot_pin(
            post=PostFactory(workspace=channel.workspace),
            channel=channel,
            publish_at=dt.datetime(2026, 6, 1, 9, 20, tzinfo=dt.UTC),
        )
        before = _state(schedule.pk)
        schedule.recurrence = rule("RRULE:FREQ=HOURLY;BYMINUTE=45")
        seen = preview.schedule_preview_changes(schedule=schedule)
        assert [s.publish_at.minute for s in seen.canceled] == [30]
        assert [s.publish_at.strftime("%H:%M") for s in seen.created] == ["08:45"]
        assert [s.id for s in seen.moved] == [moved.id]
        assert [s.id for s in seen.pinned] == [pin.id]
        assert seen.later_added_count == seen.later_removed_count > 100
        assert _state(schedule.pk) == before
        # Back to the old rule after the save: the canceled 08:30 is revived.
        services.schedule_save(schedule=schedule)
        schedule.recurrence = rule("RRULE:FREQ=HOURLY;BYMINUTE=30")
        seen = preview.schedule_preview_changes(schedule=schedule)
        assert [s.publish_at.strftime("%H:%M") for s in seen.revived] == ["08:30"]
        assert [s.publish_at.strftime("%H:%M") for s in seen.canceled] == ["08:45"]


@pytest.mark.django_db(transaction=True)
def test_web_and_api_preview(broker, client):
    with time_machine.travel(dt.datetime(2026, 6, 1, 8, 20, tzinfo=dt.UTC), tick=False):
        member = MembershipFactory(role="owner")
        channel = ChannelFactory(workspace=member.workspace)
        schedule = services.schedule_save(
            schedule=Schedule(
                channel=channel, name="q", recurrence=rule("RRULE:FREQ=HOURLY;BYMINUTE=30")
            )
        )
        client.force_login(member.user)
        before = _state(schedule.pk)
        page = client.post(
            f"/schedules/{schedule.pk}/changes/",
            {
                "name": "q",
                "frequency": "advanced",
                "advanced": "RRULE:FREQ=HOURLY;BYMINUTE=45",
                "is_active": "on",
            },
        )
        assert page.status_code == 200, page.content
        body = page.content.decode()
        assert "Canceled (2)" in body and "Created (1)" in body
        api = client.post(
            f"/api/v1/schedules/{schedule.pk}/preview/",
            {"rule": "RRULE:FREQ=HOURLY;BYMINUTE=45"},
            content_type="application/json",
        )
        assert api.status_code == 200, api.content
        data = api.json()
        assert len(data["canceled"]) == 2 and len(data["created"]) == 1
        bad = client.post(
            f"/api/v1/schedules/{schedule.pk}/preview/",
            {"rule": "RRULE:FREQ=MINUTELY;INTERVAL=1"},
            content_type="application/json",
        )
        assert bad.status_code == 400 and "too often" in bad.content.decode()
        new = client.post(
            "/api/v1/schedules/preview/",
            {"channel": channel.pk, "name": "n", "rule": "RRULE:FREQ=HOURLY;BYMINUTE=50"},
            content_type="application/json",
        )
        assert new.status_code == 200, new.content
        assert len(new.json()["created"]) == 1
        assert _state(schedule.pk) == before
        assert Schedule.objects.count() == 1
