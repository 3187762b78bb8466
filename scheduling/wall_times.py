"""Time-zone law changes (issue 28, item 6): a pinned or moved slot keeps the local time a
person chose.

A slot is stored as a UTC instant. When a country changes its rules and the running tzdata
learns it, the UTC instant of "09:00 in Santiago" changes, but a stored instant does not:
without this, the pin would silently publish at another local time. So a pin or a move
also records its wall-clock intent (`Timeslot.wall_clock`, `wall_zone`: the local time and
the zone it was chosen in), and `wall_times_check` (every planner run: beat's hourly
plan_upcoming and `manage.py plan_timeslots`) compares each coming slot's instant with its
intent under the tzdata in use. A slot whose instant no longer matches is re-planned to
the intent's new instant with a rotated token (the message already on the broker for the
old instant is a no-op; DESIGN §3 Tokens), enqueued again if near, and its workspace's
owners are told ("your 09:00 pin is still 09:00, now 12:00 UTC").

Rule slots need none of this: they are re-expanded from their rules (in the channel's
zone) by the planner and by reconciliation.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from collections import defaultdict

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from scheduling import enqueue, rules
from scheduling.models import Timeslot

WALL_FORMAT = "%Y-%m-%dT%H:%M:%S"
NAMED = 5  # slots named in one notice


def wall_fields(publish_at: dt.datetime, tz: zoneinfo.ZoneInfo) -> dict[str, str]:
    """The intent of a slot a person placed at `publish_at` on a channel in `tz`."""
    local = publish_at.astimezone(tz)
    return {"wall_clock": local.strftime(WALL_FORMAT), "wall_zone": tz.key}


def intended_instant(slot: Timeslot) -> dt.datetime | None:
    """The UTC instant of the slot's local time under the running tzdata (None: it keeps
    no intent, or its zone is gone from the tzdata)."""
    if not slot.wall_clock or not slot.wall_zone:
        return None
    try:
        tz = zoneinfo.ZoneInfo(slot.wall_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None
    # A naive local time by design: rules.localize gives it the zone (its one DST rule).
    return rules.localize(dt.datetime.fromisoformat(slot.wall_clock), tz)


def wall_times_check(*, now: dt.datetime | None = None) -> int:
    """Re-plan the coming slots whose local-time intent now names another instant; tell
    their owners. Returns how many moved. Reads the slots in batches (one query each); a
    law change is rare, so each moved slot is its own guarded UPDATE."""
    from accounts.models import Notice
    from accounts.services import notice_create

    now = now or timezone.now()
    moved: list[tuple[Timeslot, dt.datetime]] = []
    rows = (
        Timeslot.objects.filter(status=Timeslot.Status.SCHEDULED, publish_at__gte=now)
        .exclude(wall_zone="")
        .select_related("channel")
        .order_by("publish_at", "id")
    )
    for slot in rows.iterator(chunk_size=settings.PLANNER_BATCH_SIZE):
        intended = intended_instant(slot)
        if intended is not None and intended != slot.publish_at and intended >= now:
            moved.append((slot, slot.publish_at))
            slot.publish_at = intended
    if not moved:
        return 0
    horizon = now + settings.PLANNER_HORIZON
    with transaction.atomic():
        messages = []
        for slot, old in moved:
            slot.token = uuid.uuid4()
            slot.enqueued_at = now if slot.publish_at < horizon else None
            slot.updated_at = now
            # Only a slot still scheduled at its old instant moves: one claimed meanwhile
            # is the claim's, and keeps its token.
            changed = Timeslot.objects.filter(
                pk=slot.pk, status=Timeslot.Status.SCHEDULED, publish_at=old
            ).update(
                publish_at=slot.publish_at,
                token=slot.token,
                enqueued_at=slot.enqueued_at,
                updated_at=now,
            )
            if changed and slot.enqueued_at is not None:
                messages.append(enqueue.Message(slot.pk, slot.token, slot.publish_at))
        enqueue.on_commit(messages)
        by_channel: dict[int, list[tuple[Timeslot, dt.datetime]]] = defaultdict(list)
        for slot, old in moved:
            by_channel[slot.channel_id].append((slot, old))
        for found in by_channel.values():
            channel = found[0][0].channel
            named = "; ".join(
                f"your {slot.wall_clock[11:16]} {'pin' if slot.post_id else 'moved slot'} of "
                f"{slot.wall_clock[:10]} is still {slot.wall_clock[11:16]} {slot.wall_zone}, "
                f"now {slot.publish_at:%H:%M} UTC (was {old:%H:%M} UTC)"
                for slot, old in found[:NAMED]
            )
            more = f" (and {len(found) - NAMED} more)" if len(found) > NAMED else ""
            notice_create(
                workspace_id=channel.workspace_id,
                kind=Notice.Kind.PIN_TIME_KEPT,
                message=(
                    f"The time-zone rules of {found[0][0].wall_zone} changed (tzdata update). "
                    f"{channel.name}: {named}{more}."
                ),
                subject=f"channel:{channel.id}",
            )
    return len(moved)
