"""Workspace-level writes: notices (shown in the app and emailed to owners)."""

from __future__ import annotations

from django.db import transaction

from accounts.models import Notice


def notice_create(*, workspace_id: int, kind: str, message: str) -> Notice:
    """Record a notice and email it to the workspace's owners after commit."""
    from accounts.tasks import send_notice_email

    notice = Notice.objects.create(workspace_id=workspace_id, kind=kind, message=message)
    transaction.on_commit(lambda: send_notice_email.delay(notice.id))
    return notice
