from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

from accounts.models import Membership, Notice


@shared_task(name="accounts.send_notice_email", soft_time_limit=30, time_limit=60)
def send_notice_email(notice_id: int) -> None:
    # Claim first: a redelivered message never emails twice.
    if not Notice.objects.filter(id=notice_id, emailed_at__isnull=True).update(
        emailed_at=timezone.now()
    ):
        return
    notice = Notice.objects.select_related("workspace").get(id=notice_id)
    recipients = list(
        Membership.objects.filter(workspace_id=notice.workspace_id, role=Membership.Role.OWNER)
        .exclude(user__email="")
        .values_list("user__email", flat=True)
    )
    if recipients:
        send_mail(
            subject=f"[Queue Loop] {notice.get_kind_display()} in {notice.workspace.name}",
            message=notice.message,
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=recipients,
        )
