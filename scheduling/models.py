from __future__ import annotations

import datetime as dt
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from ground.fields import EncryptedJSONField
from scheduling.fields import RecurrenceField
from scheduling.reasons import Reason


class Schedule(models.Model):
    """One or more recurrence rules, expanded in the channel's wall-clock time.

    The rules' DTSTART is ignored (django-recurrence stores it in UTC with no TZID): rules
    are anchored at local midnight of `starts_on` instead, see scheduling/rules.py.
    """

    channel = models.ForeignKey(
        "channels.Channel", on_delete=models.CASCADE, related_name="schedules"
    )
    name = models.CharField(max_length=100)
    recurrence = RecurrenceField()
    starts_on = models.DateField(default=dt.date(2020, 1, 6))  # a Monday: weekly rules anchor here
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["channel", "name"]

    def __str__(self) -> str:
        return f"{self.channel}: {self.name}"


class Timeslot(models.Model):
    """One moment at which a channel publishes: planned from a schedule, or a pinned post."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        PUBLISHING = "publishing", "Publishing"
        PUBLISHED = "published", "Published"
        PARTIAL = "partial", "Partly published"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"
        MISSED = "missed", "Missed"
        CANCELED = "canceled", "Canceled"

    TERMINAL = (
        Status.PUBLISHED,
        Status.PARTIAL,
        Status.FAILED,
        Status.SKIPPED,
        Status.MISSED,
        Status.CANCELED,
    )

    channel = models.ForeignKey(
        "channels.Channel", on_delete=models.CASCADE, related_name="timeslots"
    )
    # Deleting a schedule deletes its slots (a deleted slot's messages are no-ops); to keep
    # history, deactivate the schedule instead.
    schedule = models.ForeignKey(
        Schedule, on_delete=models.CASCADE, null=True, blank=True, related_name="timeslots"
    )
    post = models.ForeignKey(
        "posts.Post",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="pinned_timeslots",
        help_text="The pinned post; empty for a queue slot, which takes the channel's next post.",
    )
    publish_at = models.DateTimeField()
    # The rule occurrence this slot was planned for. It never changes when a user moves the
    # slot, so re-planning recognises a moved (detached) slot and never plans it twice.
    planned_for = models.DateTimeField(null=True, blank=True)
    # Every enqueued message carries the token; rotating it makes old messages no-ops.
    token = models.UUIDField(default=uuid.uuid4)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.SCHEDULED)
    published_post = models.ForeignKey(
        "posts.Post",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="published_timeslots",
    )
    published_text = models.TextField(blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    # The queue entry this slot used and the entry's state before the use, so a slot that
    # ends up publishing nothing (failed) can give the use back: {"entry", "at", "last",
    # "active"} (channels/queue_rule.py). Empty until the slot is claimed.
    entry_use = models.JSONField(null=True, blank=True, editable=False)
    published_at = models.DateTimeField(null=True, blank=True)
    detached = models.BooleanField(default=False)
    # A pinned or moved slot's wall-clock intent: the local time a person chose ("2026-06-01
    # T09:00:00") and the zone it was chosen in. Checked against the running tzdata at every
    # planner run (scheduling/wall_times.py): when a zone's law changes, publish_at follows
    # the local time, not the old UTC instant. Empty for rule slots (re-planned from rules).
    wall_clock = models.CharField(max_length=19, blank=True, default="")
    wall_zone = models.CharField(max_length=64, blank=True, default="")
    # Why it was skipped, failed, missed or canceled: the code logic reads, and the text
    # people read, always set together (scheduling/reasons.py).
    reason_code = models.CharField(max_length=20, choices=Reason.choices, blank=True, default="")
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["publish_at", "id"]
        constraints = [
            # Planning is idempotent: a schedule has one live slot per instant...
            models.UniqueConstraint(
                fields=["schedule", "publish_at"],
                condition=~Q(status="canceled"),
                name="timeslot_unique_schedule_publish_at",
            ),
            # ...and one slot per rule occurrence, wherever a user moved it.
            models.UniqueConstraint(
                fields=["schedule", "planned_for"], name="timeslot_unique_schedule_occurrence"
            ),
            models.CheckConstraint(
                condition=Q(schedule__isnull=False) | Q(post__isnull=False),
                name="timeslot_schedule_or_pinned_post",
            ),
        ]
        indexes = [
            # The watchdog's and planner's "due and still scheduled" query.
            models.Index(
                fields=["publish_at"],
                condition=Q(status="scheduled"),
                name="timeslot_due_scheduled_idx",
            ),
            models.Index(fields=["channel", "publish_at"], name="timeslot_channel_time_idx"),
            # The API list's keyset pages (read backwards for its ascending order) and the
            # problem lists' newest-first order.
            models.Index(fields=["-publish_at", "-id"], name="timeslot_recent_idx"),
            # The wall-clock check reads only the coming slots that keep one.
            models.Index(
                fields=["publish_at"],
                condition=Q(status="scheduled") & ~Q(wall_zone=""),
                name="timeslot_wall_clock_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} @ {self.publish_at:%Y-%m-%d %H:%M}Z ({self.status})"

    @property
    def is_pinned(self) -> bool:
        return self.post_id is not None


class PlannerState(models.Model):
    """A single row: how far ahead the planner has planned, and when it last ran."""

    key = models.CharField(max_length=20, unique=True, default="default")
    planned_until = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_run_created = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"planned until {self.planned_until}"


class PlannerChunk(models.Model):
    """One part of a fanned-out planner run (DESIGN §3): the schedules with ids in
    [first_schedule_id, last_schedule_id], planned by one `scheduling.plan_chunk` task.

    The run's watermark moves only when its last chunk is done (fan-in), so a chunk that
    is lost or fails leaves the window to the next run, which plans it again (planning is
    idempotent). A chunk that runs twice (a redelivered message) creates nothing new and
    is counted once: `done_at` is set by a conditional UPDATE.
    """

    run_at = models.DateTimeField(db_index=True)  # the fan-out's `now`: names the run
    first_schedule_id = models.BigIntegerField()
    last_schedule_id = models.BigIntegerField()
    start = models.DateTimeField()
    end = models.DateTimeField()
    created = models.PositiveIntegerField(default=0)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run_at", "first_schedule_id"]

    def __str__(self) -> str:
        return f"run {self.run_at:%Y-%m-%d %H:%M} schedules {self.first_schedule_id}…"


class CalendarFeed(models.Model):
    """A private ICS feed of a workspace's slots, or one channel's, for calendar apps
    (scheduling/feeds.py). Whoever holds its URL reads it without signing in, so the URL's
    token is its whole secret: only its SHA-256 is looked up, the token itself is kept
    encrypted so its creator can copy the URL again. Revoking it, or its creator leaving
    the workspace, ends it at once."""

    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.CASCADE, related_name="calendar_feeds"
    )
    # None: every channel of the workspace.
    channel = models.ForeignKey(
        "channels.Channel",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="calendar_feeds",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feeds"
    )
    token_sha256 = models.CharField(max_length=64, unique=True)
    secret = EncryptedJSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["channel_id", "id"]

    def __str__(self) -> str:
        return f"Feed {self.id} of {self.channel or 'every channel'}"


class Stop(models.Model):
    """An emergency stop of publishing: one workspace's, or the whole instance's (no
    workspace). Written in the transaction that rotated the tokens and paused the channels
    (scheduling/stops.py); `cutoff_at` is read from the database once that transaction
    committed, so no claim can succeed after it."""

    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.CASCADE, null=True, blank=True, related_name="stops"
    )
    # Who pressed it: a user, or an operator's command (by_user empty, by_label set).
    by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    by_label = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)
    cutoff_at = models.DateTimeField(null=True, blank=True)
    # Channels that were paused before the stop: resume leaves them paused.
    already_paused = models.JSONField(default=list)
    rotated = models.PositiveIntegerField(default=0)  # slots whose tokens rotated
    # Slots claimed before the stop (their deliveries may still go out): timeslot ids.
    claimed_before = models.JSONField(default=list)
    resumed_at = models.DateTimeField(null=True, blank=True)
    resumed_by_label = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Stop of {self.workspace or 'every workspace'} by {self.by_label}"

    @property
    def is_active(self) -> bool:
        return self.resumed_at is None


class Blackout(models.Model):
    """Dates on which no channel of the workspace publishes (a holiday, a crisis): from local
    midnight of `starts_on` to local midnight after `ends_on`, in `timezone`. The instants are
    stored in UTC so the planner and the claim compare them with slots directly."""

    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.CASCADE, related_name="blackouts"
    )
    name = models.CharField(max_length=100)
    starts_on = models.DateField()
    ends_on = models.DateField()
    timezone = models.CharField(max_length=64, default="UTC")
    start_at = models.DateTimeField(editable=False)
    end_at = models.DateTimeField(editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["start_at", "id"]
        indexes = [models.Index(fields=["workspace", "end_at"], name="blackout_ws_end_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.starts_on} to {self.ends_on}, {self.timezone})"
