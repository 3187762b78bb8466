from __future__ import annotations

import datetime as dt

from django.db import models
from django.db.models import Q


class Delivery(models.Model):
    """One timeslot's publication to one account: the unit of at-most-once sending."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        # The provider call may or may not have posted (crash or timeout mid-call); a
        # non-idempotent provider is never called again for it. A person decides.
        UNCONFIRMED = "unconfirmed", "Unconfirmed"
        # A thread whose later part failed for good: the parts in `thread_sent` went out.
        PARTIAL = "partial", "Partly sent"

    FINISHED = (Status.SENT, Status.FAILED, Status.UNCONFIRMED, Status.PARTIAL)

    class CommentStatus(models.TextChoices):
        """Where the post's first comment is (publishing/comments.py). The delivery's own
        status is the post's: a comment that fails leaves it `sent`."""

        NONE = "", "No first comment"
        # The post has one, but the network has no comments: nothing is sent.
        NOT_HERE = "not_here", "Not on this network"
        # To go once the post is sent (all its parts), `comment_delay` after it.
        DUE = "due", "Due after the post"
        # Its call began at `comment_at`: never started again on a network that is not
        # idempotent (a lost worker leaves it `unconfirmed`).
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        UNCONFIRMED = "unconfirmed", "Unconfirmed"

    timeslot = models.ForeignKey(
        "scheduling.Timeslot", on_delete=models.CASCADE, related_name="deliveries"
    )
    account = models.ForeignKey(
        "accounts.SocialAccount", on_delete=models.CASCADE, related_name="deliveries"
    )
    post = models.ForeignKey(
        "posts.Post", on_delete=models.SET_NULL, null=True, related_name="deliveries"
    )
    text = models.TextField()
    # The thread's later parts, as the post had them when the delivery was made.
    thread_parts = models.JSONField(default=list, blank=True)
    # The parts already posted, in order: [{"id", "url"} (+ "cid" on Bluesky)]. Written
    # after each part, so a retry resumes after the last one and never posts one twice.
    thread_sent = models.JSONField(default=list, blank=True)
    # What a network keeps between attempts of one delivery (networks/progress.py): a
    # Meta container made but not yet published, so a retry publishes that container
    # instead of making a second one; the first comment's reference.
    network_state = models.JSONField(default=dict, blank=True)
    # The post's first comment as it was when the delivery was made (like thread_parts: an
    # edit later does not change what a delivery in flight sends), its delay after the
    # post, and where it is. Its reference, once posted, is network_state["comment"].
    comment = models.TextField(blank=True, default="", db_default="")
    comment_delay = models.DurationField(default=dt.timedelta(0), db_default=dt.timedelta(0))
    comment_status = models.CharField(
        max_length=12, choices=CommentStatus.choices, blank=True, default="", db_default=""
    )
    # DUE: not before this moment (a retry's), or NULL: sent_at + comment_delay.
    # SENDING: when its call began.
    comment_at = models.DateTimeField(null=True, blank=True)
    comment_error = models.TextField(blank=True, default="", db_default="")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    external_id = models.CharField(max_length=100, blank=True)
    url = models.URLField(max_length=500, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # When a retryable error happened: not before this moment.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    # When a chunk claimed it (pending -> sending), and when its provider call began: a
    # delivery claimed but never begun was never sent, so recovery may send it again even
    # for a non-idempotent provider (X); one begun and abandoned is `unconfirmed`.
    claimed_at = models.DateTimeField(null=True, blank=True)
    sending_started_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "id"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["timeslot", "account"], name="delivery_unique_account")
        ]
        indexes = [
            # The watchdog's "stuck pending/sending" query.
            models.Index(
                fields=["status", "created_at"],
                condition=Q(status__in=["pending", "sending"]),
                name="delivery_unfinished_idx",
            ),
            # Recent deliveries (dashboard) and the API list's keyset pages.
            models.Index(fields=["-created_at", "-id"], name="delivery_recent_idx"),
            # The accounts page's "latest attempt of each account" subqueries.
            models.Index(
                fields=["account", "-created_at", "-id"], name="delivery_account_recent_idx"
            ),
            # The problem lists: the few deliveries a person must look at, out of a year.
            models.Index(
                fields=["status", "created_at"],
                condition=Q(status__in=["unconfirmed", "failed", "partial"]),
                name="delivery_problem_idx",
            ),
            # /metrics' lateness histogram over the recently sent.
            models.Index(
                fields=["sent_at"], condition=Q(status="sent"), name="delivery_sent_at_idx"
            ),
            # Recovery's "first comments due or abandoned": the few not yet settled.
            models.Index(
                fields=["comment_status", "sent_at"],
                condition=Q(comment_status__in=["due", "sending"]),
                name="delivery_comment_open_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account} ← timeslot {self.timeslot_id} ({self.status})"


class SandboxPost(models.Model):
    """What the sandbox network 'published': an in-app timeline per sandbox account."""

    account = models.ForeignKey(
        "accounts.SocialAccount", on_delete=models.CASCADE, related_name="sandbox_posts"
    )
    delivery = models.OneToOneField(
        Delivery, on_delete=models.SET_NULL, null=True, blank=True, related_name="sandbox_post"
    )
    text = models.TextField()
    # The first comment: a reply under this post (networks/sandbox.py publish_comment).
    comment = models.TextField(blank=True, default="", db_default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.account}: {self.text[:40]}"
