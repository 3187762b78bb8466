"""Blackout dates: date ranges in which no channel of a workspace publishes (a holiday, a
crisis). The emergency stop's mechanism, ahead of time (scheduling/stops.py):

- the planner never plans a slot inside a blackout: it stores it `skipped` with the reason,
  so the calendar shows the gap and why (`skip_inside`, called by the planner and by
  schedule reconciliation);
- adding a blackout over slots already planned rotates their tokens in one transaction,
  so every message already on the broker (or held by a worker) for them is a no-op: planned
  queue slots end `skipped` at once; pinned slots keep `scheduled` with a new token (shown
  flagged) and are skipped at their time by the claim (`reasons_for_claimed`), so deleting
  the blackout lets them publish;
- a pin saved inside a blackout is flagged on save (`covering`) and skipped at its time.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import Membership, Workspace
from channels.models import Channel, validate_timezone
from scheduling import enqueue, reasons
from scheduling.models import Blackout, Timeslot
from scheduling.reasons import Reason

MAX_DAYS = 366  # a blackout is dates, not a way to switch a workspace off for good


def require_owner(*, workspace: Workspace, user) -> None:
    """Only a workspace's owners stop publishing or black dates out (editors cannot)."""
    if user is None or not (
        user.is_superuser
        or Membership.objects.filter(
            workspace=workspace, user=user, role=Membership.Role.OWNER
        ).exists()
    ):
        raise PermissionDenied("Only the workspace's owners can do this.")


def stamp_for(blackout: Blackout) -> reasons.Stamp:
    return reasons.stamp(
        Reason.BLACKOUT,
        name=blackout.name,
        start=blackout.starts_on.isoformat(),
        end=blackout.ends_on.isoformat(),
        zone=blackout.timezone,
    )


def _instants(
    starts_on: dt.date, ends_on: dt.date, zone: zoneinfo.ZoneInfo
) -> tuple[dt.datetime, dt.datetime]:
    """Local midnight of the first day to local midnight after the last, in UTC."""
    start = dt.datetime.combine(starts_on, dt.time(0), tzinfo=zone)
    end = dt.datetime.combine(ends_on + dt.timedelta(days=1), dt.time(0), tzinfo=zone)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def blackout_add(
    *,
    workspace: Workspace,
    user,
    name: str,
    starts_on: dt.date,
    ends_on: dt.date,
    zone: str = "",
    now: dt.datetime | None = None,
) -> tuple[Blackout, int]:
    """Black the dates out; return the blackout and how many planned slots it stopped.

    Refused (ValidationError, nothing saved) for an unknown zone, an end before the start,
    or a range longer than MAX_DAYS."""
    require_owner(workspace=workspace, user=user)
    now = now or timezone.now()
    zone = zone or _workspace_zone(workspace)
    validate_timezone(zone)
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Give the blackout a name (e.g. “Christmas”)."})
    if ends_on < starts_on:
        raise ValidationError({"ends_on": "The last day is before the first day."})
    if (ends_on - starts_on).days >= MAX_DAYS:
        raise ValidationError({"ends_on": f"A blackout spans at most {MAX_DAYS} days."})
    start_at, end_at = _instants(starts_on, ends_on, zoneinfo.ZoneInfo(zone))
    with transaction.atomic():
        blackout = Blackout.objects.create(
            workspace=workspace,
            name=name[:100],
            starts_on=starts_on,
            ends_on=ends_on,
            timezone=zone,
            start_at=start_at,
            end_at=end_at,
            created_by=user,
        )
        inside = Timeslot.objects.filter(
            channel__workspace=workspace,
            status=Timeslot.Status.SCHEDULED,
            publish_at__gte=start_at,
            publish_at__lt=end_at,
        )
        # Locked in id order, as the claim's UPDATE takes them: no deadlock with a batch.
        ids = list(inside.select_for_update().order_by("id").values_list("id", flat=True))
        stopped = Timeslot.objects.filter(id__in=ids, post__isnull=True).update(
            status=Timeslot.Status.SKIPPED,
            token=uuid.uuid4(),
            updated_at=now,
            **stamp_for(blackout).fields(),
        )
        # Pinned: a new token (held messages die), sent again with it; skipped when due.
        Timeslot.objects.filter(id__in=ids, post__isnull=False).update(
            token=uuid.uuid4(), enqueued_at=None, updated_at=now
        )
        channel_ids = list(Channel.objects.filter(workspace=workspace).values_list("id", flat=True))
        transaction.on_commit(
            lambda: enqueue.enqueue_due(
                until=timezone.now() + settings.PLANNER_HORIZON, channel_id__in=channel_ids
            )
        )
    return blackout, stopped


def blackout_delete(*, blackout: Blackout, user) -> None:
    """Lift the blackout: pinned slots inside it publish again at their time; planned
    slots it skipped stay skipped (their reason says why)."""
    require_owner(workspace=blackout.workspace, user=user)
    blackout.delete()


def _workspace_zone(workspace: Workspace) -> str:
    """The zone most of the workspace's channels use (UTC without channels)."""
    zones = list(Channel.objects.filter(workspace=workspace).values_list("timezone", flat=True))
    return max(set(zones), key=zones.count) if zones else "UTC"


def covering(*, workspace_id: int, at: dt.datetime) -> Blackout | None:
    """The blackout of the workspace that holds the instant, if any (a pin's flag)."""
    return Blackout.objects.filter(
        workspace_id=workspace_id, start_at__lte=at, end_at__gt=at
    ).first()


def _by_workspace(workspace_ids: Iterable[int], start: dt.datetime, end: dt.datetime):
    found: dict[int, list[Blackout]] = {}
    for b in Blackout.objects.filter(
        workspace_id__in=set(workspace_ids), start_at__lte=end, end_at__gt=start
    ):
        found.setdefault(b.workspace_id, []).append(b)
    return found


def _inside(blackouts: list[Blackout], at: dt.datetime) -> Blackout | None:
    return next((b for b in blackouts if b.start_at <= at < b.end_at), None)


def skip_inside(slots: list[Timeslot], *, workspace_of: dict[int, int]) -> int:
    """Mark `skipped` (with the blackout's reason) the scheduled slots about to be planned
    inside a blackout of their workspace (channel id -> workspace id). One query."""
    todo = [s for s in slots if s.status == Timeslot.Status.SCHEDULED]
    if not todo:
        return 0
    found = _by_workspace(
        {workspace_of[s.channel_id] for s in todo},
        min(s.publish_at for s in todo),
        max(s.publish_at for s in todo),
    )
    skipped = 0
    for slot in todo:
        blackout = _inside(found.get(workspace_of[slot.channel_id], []), slot.publish_at)
        if blackout is not None:
            slot.status = Timeslot.Status.SKIPPED
            stamp_for(blackout).put_on(slot)
            skipped += 1
    return skipped


def reasons_for_claimed(slots: list[tuple[int, int, dt.datetime]]) -> dict[int, reasons.Stamp]:
    """For a claimed batch [(slot id, workspace id, publish_at)]: the slots inside a
    blackout, with the reason they are skipped. One query."""
    if not slots:
        return {}
    found = _by_workspace(
        {ws for _, ws, _ in slots}, min(s[2] for s in slots), max(s[2] for s in slots)
    )
    if not found:
        return {}
    out = {}
    for slot_id, ws, at in slots:
        blackout = _inside(found.get(ws, []), at)
        if blackout is not None:
            out[slot_id] = stamp_for(blackout)
    return out


def flag_for(slots: Iterable[Timeslot]) -> str:
    """The warning shown when pins or moved slots are saved inside a blackout ("" if none):
    they stay planned and are skipped at their time, with the reason, unless it is lifted.
    One query for the slots' workspaces' blackouts."""
    slots = [s for s in slots if s.status == Timeslot.Status.SCHEDULED]
    if not slots:
        return ""
    ws = {s.id: s.channel.workspace_id for s in slots}
    found = _by_workspace(
        set(ws.values()), min(s.publish_at for s in slots), max(s.publish_at for s in slots)
    )
    hits = {
        b.name for s in slots if (b := _inside(found.get(ws[s.id], []), s.publish_at)) is not None
    }
    if not hits:
        return ""
    return (
        f"This time falls in the blackout “{'”, “'.join(sorted(hits))}”: the slot will be "
        "skipped at its time unless the blackout is deleted."
    )
