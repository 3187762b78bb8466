from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from accounts import idempotency, services


@shared_task(name="accounts.send_notice_email", soft_time_limit=30, time_limit=60)
def send_notice_email(notice_id: int) -> None:
    services.notice_email_send(notice_id=notice_id)


@shared_task(name="accounts.retry_notice_emails", soft_time_limit=120, time_limit=180)
def retry_notice_emails() -> int:
    return services.notice_emails_retry()


@shared_task(name="accounts.purge_idempotency_keys", soft_time_limit=120, time_limit=180)
def purge_idempotency_keys() -> int:
    return idempotency.idempotency_keys_purge(now=timezone.now())
