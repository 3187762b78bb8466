"""Workspace-level writes: social accounts added from the web UI, and notices (shown in the
app and emailed to owners)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts.models import Notice, SocialAccount, Workspace


def notice_create(*, workspace_id: int, kind: str, message: str) -> Notice:
    """Record a notice and email it to the workspace's owners after commit."""
    from accounts.tasks import send_notice_email

    notice = Notice.objects.create(workspace_id=workspace_id, kind=kind, message=message)
    transaction.on_commit(lambda: send_notice_email.delay(notice.id))
    return notice


def notice_dismiss(*, notice: Notice) -> Notice:
    """Hide a notice; dismissing it again keeps the first dismissal time."""
    now = timezone.now()
    if Notice.objects.filter(pk=notice.pk, dismissed_at__isnull=True).update(dismissed_at=now):
        notice.dismissed_at = now
    return notice


def notices_dismiss_all(*, workspace: Workspace) -> int:
    """Hide every notice of the workspace that is still shown; returns how many."""
    return Notice.objects.filter(workspace=workspace, dismissed_at__isnull=True).update(
        dismissed_at=timezone.now()
    )


# --- Social accounts ------------------------------------------------------------------------
# The forms check that the handle is free in the workspace; X accounts are created by their
# OAuth flow (accounts.x_views), not here.


def account_create_sandbox(*, workspace: Workspace, handle: str) -> SocialAccount:
    return SocialAccount.objects.create(
        workspace=workspace, provider=SocialAccount.Provider.SANDBOX, handle=handle
    )


def account_create_webhook(
    *, workspace: Workspace, handle: str, url: str, secret: str
) -> SocialAccount:
    """A webhook account: each post is POSTed to `url`, signed with `secret` (both stored
    encrypted in credentials)."""
    return SocialAccount.objects.create(
        workspace=workspace,
        provider=SocialAccount.Provider.WEBHOOK,
        handle=handle,
        credentials={"url": url, "secret": secret},
    )


def account_set_status(*, account: SocialAccount, status: str) -> SocialAccount:
    """Enable (active) or disable an account by hand.

    Only the status changes. Enabling a needs_reconnect account trusts the user and lets the
    next delivery (or check) tell; last_error stays as the record of what last went wrong,
    and reconnect_notified_at is kept so a still-broken account does not email its owners a
    second time for the same incident (a real reconnect clears it).
    """
    if status not in SocialAccount.Status.values:
        raise ValueError(f"Unknown account status {status!r}")
    SocialAccount.objects.filter(pk=account.pk).update(status=status)
    account.status = status
    return account
