from __future__ import annotations

from django.conf import settings
from django.db import models


class ImportJob(models.Model):
    """One CSV upload: validated row by row into a preview, then imported in chunks by the
    workers (bulk.imports). Nothing but the job and its rows exists until it is confirmed;
    canceling the preview deletes both."""

    class Status(models.TextChoices):
        PREVIEW = "preview", "Waiting for confirmation"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Importing"
        DONE = "done", "Done"

    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.CASCADE, related_name="import_jobs"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="import_jobs",
    )
    filename = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PREVIEW)
    total = models.PositiveIntegerField(default=0, help_text="Rows that passed the preview.")
    done = models.PositiveIntegerField(default=0, help_text="Of those, rows already handled.")
    imported = models.PositiveIntegerField(default=0, help_text="Posts created.")
    errors = models.PositiveIntegerField(default=0, help_text="Rows refused (preview or import).")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Import {self.pk} ({self.filename or 'CSV'}, {self.status})"

    @property
    def percent(self) -> int:
        return 100 if not self.total else min(100, self.done * 100 // self.total)


class ImportRow(models.Model):
    """One data line of the file. (job, line) is the row's import key: its post is created
    and linked in one transaction, under a lock on this row, so a chunk run twice (a worker
    killed mid-chunk, a redelivered message) never creates the post twice."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="rows")
    line = models.PositiveIntegerField(help_text="Line number in the file (the header is 1).")
    # What the preview resolved: text, variations, channel ids, publish_at (ISO, naive =
    # each channel's wall-clock time), max_publications.
    data = models.JSONField(default=dict)
    valid = models.BooleanField(default=True)
    errors = models.JSONField(default=list, blank=True)
    # Stored for later, never fetched by the import.
    image_url = models.URLField(max_length=500, blank=True)
    post = models.ForeignKey(
        "posts.Post", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["job", "line"]
        constraints = [
            models.UniqueConstraint(fields=["job", "line"], name="importrow_unique_line")
        ]

    def __str__(self) -> str:
        return f"Import {self.job_id} line {self.line}"


class ChannelFeed(models.Model):
    """An RSS or Atom feed whose new items join the channel's queue (bulk.feeds)."""

    channel = models.ForeignKey("channels.Channel", on_delete=models.CASCADE, related_name="feeds")
    url = models.URLField(max_length=500)
    is_active = models.BooleanField(default=True)
    # Conditional GET: the validators of the last answer, sent back on the next poll.
    etag = models.CharField(max_length=300, blank=True)
    modified = models.CharField(max_length=100, blank=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["channel", "url"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "url"], name="channelfeed_unique_url")
        ]

    def __str__(self) -> str:
        return f"{self.channel}: {self.url}"


class FeedItem(models.Model):
    """An item seen in a feed, by its guid (else its link): seen once, queued once."""

    feed = models.ForeignKey(ChannelFeed, on_delete=models.CASCADE, related_name="items")
    # sha256 of the guid: guids can be longer than an index entry may be.
    key_hash = models.CharField(max_length=64)
    key = models.TextField()
    post = models.ForeignKey(
        "posts.Post", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["feed", "key_hash"], name="feeditem_unique_key")
        ]

    def __str__(self) -> str:
        return self.key[:80]
