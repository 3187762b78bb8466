from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models

from ground.workspace_pin import WorkspacePinnedOnceLinked

# The longest text any way in accepts (API, web form, admin); the networks' own limits are
# lower and checked per channel.
MAX_TEXT = 10_000
# Parts a thread may have, the first included.
MAX_THREAD_PARTS = 25
# Alternative texts a post may carry through the API and the CSV import.
MAX_VARIATIONS = 20
# The longest wait, in minutes, between a post and its first comment.
MAX_COMMENT_DELAY = 60


class LabelColor(models.TextChoices):
    """The fixed palette: each colour carries white text at a WCAG AA contrast of at least
    4.5:1 (tests/posts/test_labels.py computes it), so no label is unreadable."""

    RED = "#B91C1C", "Red"
    ORANGE = "#C2410C", "Orange"
    AMBER = "#A16207", "Amber"
    GREEN = "#15803D", "Green"
    TEAL = "#0F766E", "Teal"
    BLUE = "#1D4ED8", "Blue"
    INDIGO = "#4338CA", "Indigo"
    PURPLE = "#7E22CE", "Purple"
    PINK = "#BE185D", "Pink"
    GRAY = "#4B5563", "Gray"


LABEL_TEXT_COLOR = "#FFFFFF"
MAX_LABEL_NAME = 50


class Label(models.Model):
    """A coloured label of a workspace ("campaign: launch", "evergreen"), put on posts to
    find and filter them (posts list, channel queue, calendar)."""

    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.CASCADE, related_name="labels"
    )
    name = models.CharField(max_length=MAX_LABEL_NAME)
    color = models.CharField(max_length=7, choices=LabelColor.choices, default=LabelColor.BLUE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="label_unique_name")
        ]

    def __str__(self) -> str:
        return self.name


class Post(WorkspacePinnedOnceLinked, models.Model):
    # Rows that pin the workspace (ground.workspace_pin).
    workspace_links = ("entries", "pinned_timeslots", "deliveries")

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        READY = "ready", "Ready"
        ARCHIVED = "archived", "Archived"

    class ReviewState(models.TextChoices):
        DRAFT = "draft", "Not submitted"
        IN_REVIEW = "in_review", "In review"
        APPROVED = "approved", "Approved"
        CHANGES_REQUESTED = "changes_requested", "Changes requested"

    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.CASCADE, related_name="posts"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="posts",
    )
    text = models.TextField()
    # A thread: the texts that follow `text` (or the variation used), each posted as a
    # reply to the one before. Empty for a single post.
    thread_parts = models.JSONField(default=list, blank=True)
    # A first comment (links, hashtags): posted as a reply under the post's first part on
    # the networks that have comments, `first_comment_delay` minutes after the post.
    first_comment = models.TextField(blank=True, default="", db_default="")
    first_comment_delay = models.PositiveSmallIntegerField(
        default=0,
        db_default=0,
        validators=[MaxValueValidator(MAX_COMMENT_DELAY)],
        help_text=f"Minutes between the post and its first comment (0 to {MAX_COMMENT_DELAY}).",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.READY)
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="After this moment the post is never published again."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Approval (posts.review): `needs_approval` says whether the workspace or the author's
    # membership asks for it (kept by posts.review when either setting changes), so the
    # claim reads it from the post's own row; a post that needs approval is taken by a slot
    # only in the `approved` state.
    needs_approval = models.BooleanField(default=False)
    review_state = models.CharField(
        max_length=20, choices=ReviewState.choices, default=ReviewState.DRAFT
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    # When the approvers were told it is due soon (once per review round).
    review_due_notified_at = models.DateTimeField(null=True, blank=True)
    labels = models.ManyToManyField(Label, blank=True, related_name="posts")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.text[:50]

    @property
    def awaits_approval(self) -> bool:
        """A slot may not take it: it needs approval and is not approved."""
        return self.needs_approval and self.review_state != self.ReviewState.APPROVED

    def texts(self) -> list[str]:
        """The main text then the variations, in rotation order. Uses the variations a
        caller loaded into `variation_list` (a plain list, in Variation's order: the publish
        claim loads them for a whole batch in one query), else a prefetch or a query."""
        loaded = getattr(self, "variation_list", None)
        variations = loaded if loaded is not None else self.variations.all()
        return [self.text] + [v.text for v in variations]


class Variation(models.Model):
    """An alternative text used on a later loop: X rejects a repeated identical post."""

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="variations")
    text = models.TextField()
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.text[:50]


class PostComment(models.Model):
    """A note in a post's thread (editor.comments): who, when, what. A "changes requested"
    note of a review lands here too (`is_review_note`)."""

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    text = models.TextField(max_length=5000)
    is_review_note = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.text[:50]


class ReviewLink(models.Model):
    """An approver's one-time link to approve a post from an email (posts.review; sent by
    editor.review_mail).

    The link carries (link id, nonce) signed with SECRET_KEY (django.core.signing), so the
    stored row alone is no link (invariant §7.5). It works once (`used_at`), until
    `expires_at`, and only while the post is still in the review round it was made for.
    Its email is sent by a background job after commit and retried with backoff, like the
    notices' emails.
    """

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="review_links")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    # Random; the link is it signed with SECRET_KEY (a row alone makes no link).
    nonce = models.CharField(max_length=64)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    email_attempts = models.PositiveSmallIntegerField(default=0)
    email_retry_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Review link of post {self.post_id} for {self.user}"


class PostImage(models.Model):
    """An image of a post (up to 4), stored through Django's storage API (var/media by
    default). The web request only checks the upload's header (posts.media.inspect_upload)
    and keeps it in `original`; a worker re-encodes it without its metadata into `file`
    (posts.media.reencode). Only a `ready` image is published or scheduled."""

    class Status(models.TextChoices):
        PROCESSING = "processing", "Processing"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    class Failure(models.TextChoices):
        REFUSED = "refused", "The image is beyond the limits or damaged"
        WORKER_LOST = "worker_lost", "The worker stopped while processing it"
        ERROR = "error", "An unexpected error"

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="images")
    position = models.PositiveSmallIntegerField(default=0)
    # The re-encoded image; empty until the worker made it.
    file = models.FileField(upload_to="posts/%Y/%m/", max_length=300, blank=True)
    # The upload as received (metadata and all) until the worker has re-encoded it; never
    # shown or sent anywhere, deleted once processed.
    original = models.FileField(upload_to="posts/uploads/%Y/%m/", max_length=300, blank=True)
    upload_name = models.CharField(max_length=255, blank=True)
    # Read aloud by screen readers on every network; a missing one is a warning, not an error.
    alt_text = models.TextField(blank=True, max_length=1500)
    content_type = models.CharField(max_length=30)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    # Bytes of `file` (0 until it exists).
    size = models.PositiveIntegerField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PROCESSING)
    failure_code = models.CharField(max_length=20, choices=Failure.choices, blank=True)
    failure_reason = models.TextField(blank=True)
    # Processing runs started: a worker killed by an image does not get it forever.
    attempts = models.PositiveSmallIntegerField(default=0)
    queued_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"Image {self.position + 1} of post {self.post_id}"

    @property
    def is_ready(self) -> bool:
        return self.status == self.Status.READY

    @property
    def is_processing(self) -> bool:
        return self.status == self.Status.PROCESSING

    def fetch_url(self) -> str:
        """The stored file's URL for a receiver that fetches it later (a webhook network):
        signed for MEDIA_FETCH_URL_MAX_AGE (posts.signed_media)."""
        from posts import signed_media

        return signed_media.fetch_url(self.file)


PREVIEW_CHARS = 60


def word_preview(text: str, limit: int = PREVIEW_CHARS) -> str:
    """The text's start, cut at a word boundary, with an ellipsis when cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit + 1].rsplit(" ", 1)[0] if " " in text[: limit + 1] else text[:limit]
    return cut.rstrip(" ,.;:\u2013-") + "…"
