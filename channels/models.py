from __future__ import annotations

import zoneinfo

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower

from ground.workspace_pin import WorkspacePinnedOnceLinked
from ground.zones import INVALID_ZONE, iana_zone_names

NAME_TAKEN = "This workspace already has a channel with this name (case does not count)."


def validate_timezone(value: str) -> None:
    # Only IANA names: ZoneInfo() also opens "localtime" (the server's /etc/localtime) and
    # other files that are not zones a user could mean.
    try:
        if value not in iana_zone_names():
            raise ValueError(value)
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(INVALID_ZONE, params={"value": value}) from None


class Channel(WorkspacePinnedOnceLinked, models.Model):
    """An evergreen queue of posts published to a group of accounts at the schedules' times."""

    # Rows that pin the workspace (ground.workspace_pin).
    workspace_links = ("entries", "accounts", "schedules", "timeslots")

    class Mode(models.TextChoices):
        LOOP = "loop", "Loop (evergreen: recycle posts forever)"
        ONCE = "once", "Once (drain the queue)"

    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.CASCADE, related_name="channels"
    )
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    accounts = models.ManyToManyField("accounts.SocialAccount", related_name="channels", blank=True)
    is_paused = models.BooleanField(default=False)
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.LOOP)
    # Links that count clicks (links/): each link of a delivery becomes a short link on this
    # instance, redirecting with these UTM parameters ({network}, {channel}, {post}).
    count_clicks = models.BooleanField(
        "Count clicks on links",
        default=False,
        help_text="Each link in a post becomes a short link on this site that counts clicks.",
    )
    utm_source = models.CharField(max_length=100, default="{network}", blank=True)
    utm_medium = models.CharField(max_length=100, default="social", blank=True)
    utm_campaign = models.CharField(max_length=100, default="{channel}", blank=True)
    utm_content = models.CharField(max_length=100, default="{post}", blank=True)
    # Evergreen hygiene (results/audience.py): a queued post is marked when this many of its
    # latest publications each did worse than the channel's median; empty = the default (3).
    hygiene_lookback = models.PositiveSmallIntegerField(
        "Publications to judge a looping post by",
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(20)],
        help_text="A queued post is marked when this many of its latest publications each did "
        "worse than the channel's median. Empty: 3.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "slug"], name="channel_unique_slug"),
            # Channels are picked by name in the UI and the CSV import: two "#tech" in one
            # workspace are a trap, and so are "#Tech" and "#tech".
            models.UniqueConstraint(
                Lower("name"),
                "workspace",
                name="channel_unique_name_ci",
                violation_error_message=NAME_TAKEN,
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


def channel_name_taken(*, workspace_id: int, name: str, exclude_id: int | None = None) -> bool:
    """Whether another channel of the workspace has `name`, compared as the constraint does
    (the database's LOWER, not Python's: they differ for a few letters)."""
    qs = Channel.objects.alias(lower_name=Lower("name")).filter(
        workspace_id=workspace_id, lower_name=Lower(models.Value(name))
    )
    if exclude_id is not None:
        qs = qs.exclude(pk=exclude_id)
    return qs.exists()


class QueueEntry(models.Model):
    """A post's place in a channel's queue, with its publication history in that channel."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="entries")
    post = models.ForeignKey("posts.Post", on_delete=models.CASCADE, related_name="entries")
    position = models.PositiveIntegerField(default=0)
    times_published = models.PositiveIntegerField(default=0)
    last_published_at = models.DateTimeField(null=True, blank=True)
    max_publications = models.PositiveIntegerField(
        null=True, blank=True, help_text="Stop after this many publications; empty = forever."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "id"]
        verbose_name_plural = "queue entries"
        constraints = [
            models.UniqueConstraint(fields=["channel", "post"], name="queueentry_unique_post")
        ]
        indexes = [
            # Serves next-post selection: active entries of one channel in loop order.
            models.Index(
                fields=["channel", "last_published_at", "position", "id"],
                condition=models.Q(is_active=True),
                name="queueentry_next_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel} #{self.position}: post {self.post_id}"
