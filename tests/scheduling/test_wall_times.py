"""A time-zone law change (issue 28, item 6): a pin keeps its local time.

The zone is compiled for the test with `zic` (tzdata's own compiler) into a directory put
first on zoneinfo's search path (`zoneinfo.reset_tzpath`, `ZoneInfo.clear_cache`: the
documented way to load changed zone data in a running process), once with its first rules
and again with a changed offset, as a tzdata update would bring it."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import zoneinfo

import pytest
import time_machine

from accounts.models import Notice
from publishing.claim import Outcome, timeslot_publish
from scheduling import services, wall_times
from scheduling.models import Timeslot
from tests.factories import ChannelFactory, PostFactory

ZONE = "Test/Shifting"
# First law: UTC-3 all year. Then the country moves to UTC-4 from June 5, 2026.
FIRST = f"Zone {ZONE} -3:00 - -03\n"
CHANGED = f"Zone {ZONE} -3:00 - -03 2026 Jun 5\n\t\t\t-4:00 - -04\n"
NOW = dt.datetime(2026, 6, 1, 8, 0, tzinfo=dt.UTC)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(shutil.which("zic") is None, reason="needs zic (tzdata's compiler)"),
]


@pytest.fixture
def tzdata(tmp_path):
    """install(rules): compile `rules` and make the running process read them."""
    original = zoneinfo.TZPATH

    def install(text: str) -> None:
        target = tmp_path / f"v{len(list(tmp_path.iterdir()))}"
        source = tmp_path / f"{target.name}.zi"
        source.write_text(text)
        subprocess.run(["zic", "-d", str(target), str(source)], check=True)
        zoneinfo.reset_tzpath(to=[str(target), *original])
        zoneinfo.ZoneInfo.clear_cache()

    yield install
    zoneinfo.reset_tzpath(to=original)
    zoneinfo.ZoneInfo.clear_cache()


def test_a_pin_keeps_its_local_time_its_owner_is_told_and_its_old_message_is_a_no_op(tzdata):
    tzdata(FIRST)
    with time_machine.travel(NOW, tick=False):
        channel = ChannelFactory(timezone=ZONE)
        post = PostFactory(workspace=channel.workspace)
        nine = dt.datetime(2026, 6, 10, 9, 0, tzinfo=zoneinfo.ZoneInfo(ZONE))
        pin = services.timeslot_pin(post=post, channel=channel, publish_at=nine)
        assert pin.publish_at == dt.datetime(2026, 6, 10, 12, 0, tzinfo=dt.UTC)
        old_token = str(pin.token)
        assert wall_times.wall_times_check(now=NOW) == 0  # same law: nothing to do

        tzdata(CHANGED)
        assert wall_times.wall_times_check(now=NOW) == 1
        assert wall_times.wall_times_check(now=NOW) == 0  # once only

    pin.refresh_from_db()
    # Still 09:00 in the zone, now 13:00 UTC; a new token.
    assert pin.publish_at == dt.datetime(2026, 6, 10, 13, 0, tzinfo=dt.UTC)
    assert pin.publish_at.astimezone(zoneinfo.ZoneInfo(ZONE)).strftime("%H:%M") == "09:00"
    assert str(pin.token) != old_token and pin.status == Timeslot.Status.SCHEDULED
    notice = Notice.objects.get(workspace=channel.workspace, kind=Notice.Kind.PIN_TIME_KEPT)
    assert "still 09:00" in notice.message and "now 13:00 UTC (was 12:00 UTC)" in notice.message
    assert channel.name in notice.message

    # The message sent for the old instant arrives at 12:00 UTC: a no-op.
    at_old = dt.datetime(2026, 6, 10, 12, 0, tzinfo=dt.UTC)
    assert timeslot_publish(timeslot_id=pin.id, token=old_token, now=at_old) == Outcome.STALE
    pin.refresh_from_db()
    assert pin.status == Timeslot.Status.SCHEDULED and pin.deliveries.count() == 0
    # The new one, at 13:00 UTC, publishes.
    at_new = dt.datetime(2026, 6, 10, 13, 0, tzinfo=dt.UTC)
    assert timeslot_publish(timeslot_id=pin.id, token=str(pin.token), now=at_new) != Outcome.STALE
    pin.refresh_from_db()
    assert pin.status != Timeslot.Status.SCHEDULED


def test_a_moved_slot_keeps_its_local_time_too(tzdata):
    from scheduling.models import Schedule
    from tests.factories import rule

    tzdata(FIRST)
    with time_machine.travel(NOW, tick=False):
        channel = ChannelFactory(timezone=ZONE)
        schedule = services.schedule_save(
            schedule=Schedule(channel=channel, name="q", recurrence=rule("RRULE:FREQ=HOURLY"))
        )
        slot = Timeslot.objects.filter(schedule=schedule).earliest("publish_at")
        ten = dt.datetime(2026, 6, 12, 10, 30, tzinfo=zoneinfo.ZoneInfo(ZONE))
        services.timeslot_reschedule(timeslot=slot, publish_at=ten)
        tzdata(CHANGED)
        assert wall_times.wall_times_check(now=NOW) == 1
    slot.refresh_from_db()
    assert slot.publish_at == dt.datetime(2026, 6, 12, 14, 30, tzinfo=dt.UTC) and slot.detached
