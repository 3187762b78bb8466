from __future__ import annotations

import smtplib

from celery import shared_task
from django.utils import timezone

from accounts import account_mail, idempotency, members, services

# An SMTP refusal or a network error is retried with exponential backoff (30 s doubling,
# at most an hour apart, for about a day): the message is not lost while the mail server
# is down (issue 27).
_MAIL_RETRY = {
    "autoretry_for": (OSError, smtplib.SMTPException),
    "retry_backoff": 30,
    "retry_backoff_max": 3600,
    "retry_jitter": True,
    "max_retries": 30,
    "soft_time_limit": 30,
    "time_limit": 60,
}


@shared_task(name="accounts.send_notice_email", soft_time_limit=30, time_limit=60)
def send_notice_email(notice_id: int) -> None:
    services.notice_email_send(notice_id=notice_id)


@shared_task(name="accounts.retry_notice_emails", soft_time_limit=120, time_limit=180)
def retry_notice_emails() -> int:
    return services.notice_emails_retry()


@shared_task(name="accounts.send_invitation_email", soft_time_limit=30, time_limit=60)
def send_invitation_email(invitation_id: int) -> str:
    # A failure is recorded on the invitation and retried by retry_invitation_emails.
    return members.invitation_email_send(invitation_id=invitation_id)


@shared_task(name="accounts.retry_invitation_emails", soft_time_limit=120, time_limit=180)
def retry_invitation_emails() -> int:
    return members.invitation_emails_retry()


@shared_task(name=account_mail.RESET_TASK, **_MAIL_RETRY)
def send_password_reset_email(user_id: int, origin: str) -> bool:
    return account_mail.password_reset_send(user_id=user_id, origin=origin)


@shared_task(name=account_mail.UNLOCK_TASK, **_MAIL_RETRY)
def send_unlock_email(user_id: int, origin: str) -> bool:
    return account_mail.unlock_send(user_id=user_id, origin=origin)


@shared_task(name="accounts.purge_idempotency_keys", soft_time_limit=120, time_limit=180)
def purge_idempotency_keys() -> int:
    return idempotency.idempotency_keys_purge(now=timezone.now())
