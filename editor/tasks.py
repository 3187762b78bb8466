"""Approval's background jobs (editor.review_mail): the approvers' link emails, and the
sweep that tells them of posts in review due soon (beat, queueloop/celery.py)."""

from __future__ import annotations

from celery import shared_task

from editor import review_mail


@shared_task(name="editor.send_review_email", soft_time_limit=30, time_limit=60)
def send_review_email(link_id: int) -> None:
    review_mail.review_email_send(link_id=link_id)


@shared_task(name="editor.notify_reviews_due", soft_time_limit=120, time_limit=180)
def notify_reviews_due() -> int:
    told = review_mail.reviews_due_notify()
    review_mail.review_emails_retry()
    return told
