"""Preview a schedule edit before saving it (issue 28, item 4): which planned slots the save
would cancel, create (or skip over the channel's bound), revive, and which moved or pinned
slots it leaves alone; plus how the rule's later times (beyond the planned window, not rows
yet) change.

The planned-window part is `services.schedule_reconcile_plan`, the very plan the save
applies (`schedule_reconcile` = plan, then apply), so what is previewed is what is done.
Nothing here writes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.utils import timezone

from scheduling import rules, services, spacing
from scheduling.models import Schedule, Timeslot

# How far beyond the planned window the preview compares the old and the new rule.
LATER_SPAN = dt.timedelta(days=7)
LATER_SHOWN = 50  # times listed per side; the counts are exact


@dataclass
class SchedulePreview:
    errors: list[str] = field(default_factory=list)  # what the save would refuse
    canceled: list[Timeslot] = field(default_factory=list)
    created: list[Timeslot] = field(default_factory=list)
    skipped: list[Timeslot] = field(default_factory=list)  # would be created skipped
    revived: list[Timeslot] = field(default_factory=list)
    moved: list[Timeslot] = field(default_factory=list)  # this schedule's, moved: untouched
    pinned: list[Timeslot] = field(default_factory=list)  # the channel's pins: untouched
    later_added: list[dt.datetime] = field(default_factory=list)
    later_removed: list[dt.datetime] = field(default_factory=list)
    later_added_count: int = 0
    later_removed_count: int = 0
    planned_until: dt.datetime | None = None

    @property
    def changes_nothing(self) -> bool:
        return not (
            self.canceled or self.created or self.skipped or self.revived
            or self.later_added_count or self.later_removed_count
        )  # fmt: skip


def _times(schedule: Schedule, *, start: dt.datetime, end: dt.datetime) -> set[dt.datetime]:
    if not schedule.is_active or schedule.channel.is_paused:
        return set()
    return set(
        rules.occurrences(
            schedule.recurrence,
            tz=schedule.channel.tz,
            starts_on=schedule.starts_on,
            start=start,
            end=end,
        )
    )


def schedule_preview_changes(
    *, schedule: Schedule, now: dt.datetime | None = None
) -> SchedulePreview:
    """The difference saving `schedule` (edited in memory, not saved) would make. The
    checks `services.schedule_save` runs first come first here too: a refused edit
    previews as its errors only."""
    now = now or timezone.now()
    out = SchedulePreview()
    try:
        rules.validate(
            schedule.recurrence, starts_on=schedule.starts_on, now=now, tz=schedule.channel.tz
        )
        spacing.schedule_check(schedule=schedule, now=now)
    except ValidationError as exc:
        out.errors = list(exc.messages)
        return out
    plan = services.schedule_reconcile_plan(schedule=schedule, now=now)
    out.planned_until = plan.end
    out.canceled = plan.cancel
    out.revived = plan.revive
    out.created = [s for s in plan.create if s.status == Timeslot.Status.SCHEDULED]
    out.skipped = [s for s in plan.create if s.status == Timeslot.Status.SKIPPED]
    out.moved = plan.untouched
    out.pinned = list(
        Timeslot.objects.filter(
            channel_id=schedule.channel_id,
            schedule__isnull=True,
            status=Timeslot.Status.SCHEDULED,
            publish_at__gte=now,
            publish_at__lt=plan.end,
        ).order_by("publish_at", "id")
    )
    # Beyond the planned window there are no rows yet: compare the rules' times.
    before = Schedule.objects.filter(pk=schedule.pk).select_related("channel").first()
    start, end = plan.end, plan.end + LATER_SPAN
    new = _times(schedule, start=start, end=end)
    old = _times(before, start=start, end=end) if before is not None else set()
    added, removed = sorted(new - old), sorted(old - new)
    out.later_added, out.later_added_count = added[:LATER_SHOWN], len(added)
    out.later_removed, out.later_removed_count = removed[:LATER_SHOWN], len(removed)
    return out
