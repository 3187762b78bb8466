"""Endpoints a workspace registered, and what became of each event sent to each of them."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from accounts.models import EventType, OutboxEvent, Workspace
from ground.fields import EncryptedJSONField


class Endpoint(models.Model):
    """A receiver of a workspace's events: a URL under the webhook address rules (DESIGN
    §7.6), a Standard Webhooks secret (`whsec_` + base64, encrypted at rest), and the
    event types it wants (empty: every type)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="endpoints")
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    # {"secret": "whsec_..."}: encrypted like every credential, never logged.
    credentials = EncryptedJSONField(default=dict)
    event_types = models.JSONField(default=list, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.url

    @property
    def secret(self) -> str:
        return self.credentials.get("secret", "")

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types

    def type_labels(self) -> list[str]:
        return list(self.event_types) or ["every event"]


class EventDelivery(models.Model):
    """One event for one endpoint: unique, so it is sent to that receiver until it answers
    2xx and never after (the conditional updates in integrations.sending)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"
        SENDING = "sending", "Sending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Gave up"

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    # While `sending`: after this instant the sweep takes it back (the worker died).
    lease_until = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="one_delivery_per_endpoint")
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status__in=["pending", "sending"]),
                name="event_delivery_due_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint}"

    @property
    def event_type(self) -> EventType:
        return EventType(self.event.type)


class Attempt(models.Model):
    """One POST and its answer, as the endpoint's page shows it."""

    delivery = models.ForeignKey(EventDelivery, on_delete=models.CASCADE, related_name="tries")
    at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    # The start of the answer's body, or why there was none (refused address, timeout).
    excerpt = models.CharField(max_length=300, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.status_code or '—'} at {self.at:%Y-%m-%d %H:%M:%S}"

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
