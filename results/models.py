"""What each sent delivery earned: its public counts at about +1 h, +24 h and +7 days.

`Tracking` is the collector's to-do list (one row per sent delivery, `due_at` the next
collection, indexed); `Snapshot` is what was read, kept so growth can be drawn.
"""

from __future__ import annotations

import datetime as dt

from django.db import models
from django.db.models import Q


class Age(models.TextChoices):
    """When after sending a snapshot is taken (its bucket)."""

    HOUR = "1h", "After 1 hour"
    DAY = "24h", "After 24 hours"
    WEEK = "7d", "After 7 days"

    @property
    def delay(self) -> dt.timedelta:
        return AGE_DELAYS[self]


AGE_DELAYS = {
    Age.HOUR: dt.timedelta(hours=1),
    Age.DAY: dt.timedelta(hours=24),
    Age.WEEK: dt.timedelta(days=7),
}
AGES = list(AGE_DELAYS)


class Tracking(models.Model):
    """A sent delivery whose counts are still to be collected."""

    class State(models.TextChoices):
        ACTIVE = "active", "Collecting"
        DONE = "done", "All three ages collected"
        DELETED = "deleted", "Deleted on its network"
        UNSUPPORTED = "unsupported", "Its network reports no metrics"

    delivery = models.OneToOneField(
        "publishing.Delivery", on_delete=models.CASCADE, primary_key=True, related_name="tracking"
    )
    # Copied from the delivery: the enrolment watermark (the newest enrolled) and the ages.
    sent_at = models.DateTimeField()
    state = models.CharField(max_length=12, choices=State.choices, default=State.ACTIVE)
    next_age = models.CharField(max_length=3, choices=Age.choices, blank=True)
    # When the next collection is due (sent_at + its age), pushed later by a rate limit, a
    # failure's backoff or a claim's lease; null once nothing is left to collect.
    due_at = models.DateTimeField(null=True, blank=True)
    # When the next age became due, for the collector's lag (not moved by backoffs).
    age_due_at = models.DateTimeField(null=True, blank=True)
    failures = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        indexes = [
            # The collector's "what is due" query and /healthz's lag: a range of this.
            models.Index(
                fields=["due_at"], condition=Q(due_at__isnull=False), name="tracking_due_idx"
            ),
            models.Index(fields=["sent_at"], name="tracking_sent_at_idx"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.delivery_id}: {self.state} (next {self.next_age or '-'})"


class Snapshot(models.Model):
    """A delivery's counts as its network showed them at `taken_at`."""

    delivery = models.ForeignKey(
        "publishing.Delivery", on_delete=models.CASCADE, related_name="snapshots"
    )
    taken_at = models.DateTimeField()
    age = models.CharField(max_length=3, choices=Age.choices)
    deleted = models.BooleanField(default=False)
    likes = models.PositiveIntegerField(null=True, blank=True)
    reposts = models.PositiveIntegerField(null=True, blank=True)
    replies = models.PositiveIntegerField(null=True, blank=True)
    quotes = models.PositiveIntegerField(null=True, blank=True)
    impressions = models.PositiveBigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["delivery_id", "taken_at"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "age"], name="snapshot_one_per_age")
        ]
        indexes = [models.Index(fields=["delivery", "taken_at"], name="snapshot_delivery_idx")]

    def __str__(self) -> str:
        return f"delivery {self.delivery_id} at {self.age}"

    @property
    def engagement(self) -> int:
        return sum(n or 0 for n in (self.likes, self.reposts, self.replies, self.quotes))
