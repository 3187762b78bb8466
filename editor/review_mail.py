"""Telling approvers ahead: a post in review that a pinned slot will publish within
REVIEW_LEAD_TIME raises a notice (once per review round) and sends each approver (owners
and approvers with an address) an email with a one-time link to approve it.

Run by beat (editor.notify_reviews_due, every 5 minutes). The emails are background jobs
queued after commit, one per approver, claimed for a lease and retried with backoff until
sent, as the notices' emails are (accounts.services); the sweep here resends the ones that
failed or whose job was lost. A notice of this kind is marked emailed when made: its email
is these personal ones, with their links, not the owners' generic notice email.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Min, Q
from django.urls import reverse
from django.utils import timezone

from accounts.models import APPROVER_ROLES, Membership, Notice
from accounts.services import EMAIL_LEASE, EMAIL_MAX_ATTEMPTS, EmailOutcome
from posts.models import Post, ReviewLink, word_preview
from posts.review import review_link_create, review_link_token
from queueloop.celery import send_many
from scheduling.models import Timeslot

log = logging.getLogger(__name__)


def _backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(minutes=min(2**attempts, 240))


def reviews_due_notify(*, now: dt.datetime | None = None, limit: int = 200) -> int:
    """Tell the approvers of each post in review that a scheduled pinned slot publishes
    within the lead time; each post once per review round. Returns how many posts."""
    now = now or timezone.now()
    due = (
        Post.objects.filter(
            needs_approval=True,
            review_state=Post.ReviewState.IN_REVIEW,
            review_due_notified_at__isnull=True,
            pinned_timeslots__status=Timeslot.Status.SCHEDULED,
            pinned_timeslots__publish_at__gt=now,
            pinned_timeslots__publish_at__lte=now + settings.REVIEW_LEAD_TIME,
        )
        .annotate(due_at=Min("pinned_timeslots__publish_at"))
        .order_by("due_at", "id")[:limit]
    )
    told = 0
    for post in list(due):
        with transaction.atomic():
            # Once per round, even with two sweeps at once: only the UPDATE that sets it tells.
            if not Post.objects.filter(
                id=post.id,
                review_state=Post.ReviewState.IN_REVIEW,
                review_due_notified_at__isnull=True,
            ).update(review_due_notified_at=now):
                continue
            _tell(post, now=now)
            told += 1
    return told


def _tell(post: Post, *, now: dt.datetime) -> None:
    due = timezone.localtime(post.due_at, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    Notice.objects.create(
        workspace_id=post.workspace_id,
        kind=Notice.Kind.REVIEW_DUE,
        message=f"“{word_preview(post.text)}” publishes at {due} and is not approved yet.",
        subject=f"post:{post.id}",
        emailed_at=now,  # its emails are the approvers' own, with their links (below)
    )
    approvers = Membership.objects.filter(
        workspace_id=post.workspace_id, role__in=APPROVER_ROLES
    ).exclude(user__email="")
    links = [
        review_link_create(post=post, user=m.user, now=now)
        for m in approvers.select_related("user")
    ]
    ids = [link.id for link in links]
    transaction.on_commit(lambda: review_emails_later(ids))


def review_emails_later(link_ids: list[int]) -> None:
    """Queue each link's email (after commit); the sweep sends it if the broker is down."""
    if not link_ids:
        return
    try:
        send_many("editor.send_review_email", [((i,), None) for i in link_ids], what="review")
    except Exception:  # broker down: review_emails_retry() sends them later
        log.warning("review links %s: email not queued, left for the retry sweep", link_ids)


def review_email_send(*, link_id: int) -> EmailOutcome:
    """Email one approver their link, once; claimed for a lease, retried with backoff."""
    now = timezone.now()
    due = Q(email_retry_at__isnull=True) | Q(email_retry_at__lte=now)
    if not ReviewLink.objects.filter(
        due, id=link_id, emailed_at__isnull=True, email_attempts__lt=EMAIL_MAX_ATTEMPTS
    ).update(email_retry_at=now + EMAIL_LEASE):
        return EmailOutcome.SKIPPED
    link = ReviewLink.objects.select_related("post__workspace", "user").get(id=link_id)
    url = settings.PUBLIC_BASE_URL + reverse("review_link", args=[review_link_token(link)])
    body = (
        f"A post in {link.post.workspace.name} waits for your approval and is due soon:\n\n"
        f"{link.post.text}\n\n"
        f"Approve it or ask for changes (this link works once, until "
        f"{link.expires_at:%Y-%m-%d %H:%M} UTC):\n{url}\n"
    )
    try:
        send_mail(
            subject=f"[Queue Loop] Approve “{word_preview(link.post.text)}”",
            message=body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[link.user.email],
        )
    except (OSError, smtplib.SMTPException) as exc:
        attempts = link.email_attempts + 1
        ReviewLink.objects.filter(id=link_id).update(
            email_attempts=attempts, email_retry_at=now + _backoff(attempts)
        )
        log.warning("review link %s: email failed (%s), attempt %s", link_id, exc, attempts)
        return EmailOutcome.FAILED
    ReviewLink.objects.filter(id=link_id).update(emailed_at=timezone.now(), email_retry_at=None)
    return EmailOutcome.SENT


def review_emails_retry(*, limit: int = 100) -> int:
    """Send the link emails that failed (after their backoff) or whose job was lost."""
    now = timezone.now()
    due = (
        ReviewLink.objects.filter(
            Q(email_retry_at__lte=now)
            | Q(email_retry_at__isnull=True, created_at__lte=now - EMAIL_LEASE),
            emailed_at__isnull=True,
            used_at__isnull=True,
            expires_at__gt=now,
            email_attempts__lt=EMAIL_MAX_ATTEMPTS,
        )
        .order_by("created_at")
        .values_list("id", flat=True)[:limit]
    )
    return sum(review_email_send(link_id=i) == EmailOutcome.SENT for i in list(due))
