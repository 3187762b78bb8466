"""Workspace-level writes: social accounts added from the web UI, and notices (shown in the
app and emailed to owners)."""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
from enum import StrEnum

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from accounts.activity import activity_record
from accounts.models import (
    ActivityAction,
    ApiToken,
    EventType,
    Membership,
    Notice,
    Profile,
    SocialAccount,
    Workspace,
)
from accounts.outbox import record_event
from ground.zones import iana_zone_names
from queueloop.celery import send_many

log = logging.getLogger(__name__)


def notice_create(
    *, workspace_id: int, kind: str, message: str, subject: str = "", fold: bool = True
) -> Notice:
    """Record a notice and email it to the workspace's owners after commit.

    One incident, one email: while a notice of the same kind and subject is still open (not
    dismissed), a new occurrence is folded into it (count, time, latest message) instead of
    adding a notice and an email per skipped or failed slot. `fold=False` for an event that
    is news each time (a mention, a review note to its author): a notice and email each.
    """
    now = timezone.now()
    # No lock: callers (the publisher's claim) already hold channel row locks, and a
    # workspace-wide lock here would serialise them and risk lock-order cycles. Two
    # occurrences in the same instant may open two notices; the count update is atomic.
    with transaction.atomic():
        open_notice = (
            Notice.objects.filter(
                workspace_id=workspace_id, kind=kind, subject=subject, dismissed_at__isnull=True
            )
            .order_by("-created_at")
            .first()
            if fold
            else None
        )
        if open_notice is not None:
            Notice.objects.filter(pk=open_notice.pk).update(
                occurrences=F("occurrences") + 1, last_seen_at=now, message=message
            )
            open_notice.refresh_from_db()
            return open_notice
        notice = Notice.objects.create(
            workspace_id=workspace_id, kind=kind, message=message, subject=subject
        )
    transaction.on_commit(lambda: notices_email_later([notice.id]))
    return notice


def account_mark_needs_reconnect(*, account: SocialAccount, error: str, now: dt.datetime) -> None:
    """The network refused the account's credentials (a delivery, manage.py check_accounts):
    mark it needs_reconnect and tell the workspace once per incident."""
    with transaction.atomic():  # the mark and its event, or neither
        SocialAccount.objects.filter(id=account.id).update(
            status=SocialAccount.Status.NEEDS_RECONNECT, last_error=error, last_checked_at=now
        )
        # One email (and one event) per incident: only the update that sets
        # reconnect_notified_at tells.
        if not SocialAccount.objects.filter(
            id=account.id, reconnect_notified_at__isnull=True
        ).update(reconnect_notified_at=now):
            return
        record_event(
            workspace_id=account.workspace_id,
            type=EventType.ACCOUNT_NEEDS_RECONNECT,
            payload={
                "account_id": account.id,
                "status": str(SocialAccount.Status.NEEDS_RECONNECT),
                "reason": error,
            },
        )
        notice_create(
            workspace_id=account.workspace_id,
            kind=Notice.Kind.ACCOUNT_RECONNECT,
            message=f"{account} needs to be reconnected: {error}",
        )


def notices_email_later(notice_ids: list[int]) -> None:
    """Queue each notice's email now (call it after commit). Sent by task name: the task
    module calls these services, so importing it here would make a circle."""
    try:
        send_many("accounts.send_notice_email", [((i,), None) for i in notice_ids], what="notice")
    except Exception:  # broker down: notice_emails_retry() sends them later
        log.warning("notices %s: email not queued, left for the retry sweep", notice_ids)


EMAIL_LEASE = dt.timedelta(minutes=5)
EMAIL_MAX_ATTEMPTS = 8


def _email_backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(minutes=min(2**attempts, 240))


class EmailOutcome(StrEnum):
    SENT = "sent"
    NO_RECIPIENTS = "no-recipients"  # the workspace has no owner with an address
    FAILED = "failed"  # SMTP refused it: retried with backoff
    SKIPPED = "skipped"  # not due, or already sent


def notice_email_send(*, notice_id: int) -> EmailOutcome:
    """Email a notice to the workspace's owners once it is sure to have gone out.

    The notice is claimed for EMAIL_LEASE first (two workers never send it at once; a worker
    that died mid-send leaves it to the sweep after the lease), and marked emailed only after
    the SMTP server took it. A failure is retried with backoff by notice_emails_retry().
    Returns what became of it (EmailOutcome).
    """
    now = timezone.now()
    due = Q(email_retry_at__isnull=True) | Q(email_retry_at__lte=now)
    claimed = Notice.objects.filter(
        due, id=notice_id, emailed_at__isnull=True, email_attempts__lt=EMAIL_MAX_ATTEMPTS
    ).update(email_retry_at=now + EMAIL_LEASE)
    if not claimed:
        return EmailOutcome.SKIPPED
    notice = Notice.objects.select_related("workspace").get(id=notice_id)
    recipients = _notice_recipients(notice)
    if recipients:
        try:
            send_mail(
                subject=f"[Queue Loop] {notice.get_kind_display()} in {notice.workspace.name}",
                message=notice.message,
                from_email=settings.DEFAULT_FROM_EMAIL,
                recipient_list=recipients,
            )
        except (OSError, smtplib.SMTPException) as exc:
            attempts = notice.email_attempts + 1
            Notice.objects.filter(id=notice_id).update(
                email_attempts=attempts, email_retry_at=now + _email_backoff(attempts)
            )
            log.warning("notice %s: email failed (%s), attempt %s", notice_id, exc, attempts)
            return EmailOutcome.FAILED
    Notice.objects.filter(id=notice_id).update(emailed_at=timezone.now(), email_retry_at=None)
    return EmailOutcome.SENT if recipients else EmailOutcome.NO_RECIPIENTS


# A notice about one person (a mention) has the subject "user:<id>": it is emailed to them.
PERSON_SUBJECT = "user:"


def _notice_recipients(notice: Notice) -> list[str]:
    """The owners' addresses, or the one member's a personal notice is about."""
    members = Membership.objects.filter(workspace_id=notice.workspace_id)
    if notice.subject.startswith(PERSON_SUBJECT):
        members = members.filter(user_id=notice.subject.removeprefix(PERSON_SUBJECT) or 0)
    else:
        members = members.filter(role=Membership.Role.OWNER)
    return list(members.exclude(user__email="").values_list("user__email", flat=True))


def notice_emails_retry(*, limit: int = 100) -> int:
    """Send the notices whose email has not gone out and is due: failed ones after their
    backoff, and ones whose task was never queued or died (older than the lease). Run by
    the watchdog's beat (accounts.retry_notice_emails). Returns how many were sent."""
    now = timezone.now()
    due = (
        Notice.objects.filter(
            Q(email_retry_at__lte=now)
            | Q(email_retry_at__isnull=True, created_at__lte=now - EMAIL_LEASE),
            emailed_at__isnull=True,
            email_attempts__lt=EMAIL_MAX_ATTEMPTS,
        )
        .order_by("created_at")
        .values_list("id", flat=True)[:limit]
    )
    return sum(notice_email_send(notice_id=i) == EmailOutcome.SENT for i in list(due))


def notice_dismiss(*, notice: Notice) -> Notice:
    """Hide a notice; dismissing it again keeps the first dismissal time."""
    now = timezone.now()
    if Notice.objects.filter(pk=notice.pk, dismissed_at__isnull=True).update(dismissed_at=now):
        notice.dismissed_at = now
    return notice


def notices_visible(*, workspace: Workspace, user) -> QuerySet[Notice]:
    """The workspace's notices a member sees: everyone's, and their own personal ones
    (a mention of another member is theirs alone)."""
    return Notice.objects.filter(workspace=workspace).filter(
        ~Q(subject__startswith=PERSON_SUBJECT) | Q(subject=f"{PERSON_SUBJECT}{user.id}")
    )


def notices_dismiss_all(*, workspace: Workspace, user=None) -> int:
    """Hide every notice of the workspace that is still shown (to `user`, when given);
    returns how many."""
    shown = (
        notices_visible(workspace=workspace, user=user)
        if user is not None
        else Notice.objects.filter(workspace=workspace)
    )
    return shown.filter(dismissed_at__isnull=True).update(dismissed_at=timezone.now())


# --- Social accounts ------------------------------------------------------------------------
# The forms check that the handle is free in the workspace; X accounts are created by their
# OAuth flow (networks.x.views), not here.


def account_record(*, account: SocialAccount, action: ActivityAction, **details) -> None:
    """The activity entry of an account change (also called by networks' own connect flows)."""
    activity_record(
        workspace_id=account.workspace_id,
        action=action,
        target=str(account),
        details={"account_id": account.pk, "provider": account.provider, **details},
    )


@transaction.atomic
def account_create_sandbox(*, workspace: Workspace, handle: str) -> SocialAccount:
    account = SocialAccount.objects.create(
        workspace=workspace, provider=SocialAccount.Provider.SANDBOX, handle=handle
    )
    account_record(account=account, action=ActivityAction.ACCOUNT_CONNECTED)
    return account


def account_create_webhook(
    *, workspace: Workspace, handle: str, url: str, secret: str
) -> SocialAccount:
    """A webhook account: each post is POSTed to `url`, signed with `secret` (both stored
    encrypted in credentials)."""
    with transaction.atomic():
        account = SocialAccount.objects.create(
            workspace=workspace,
            provider=SocialAccount.Provider.WEBHOOK,
            handle=handle,
            credentials={"url": url, "secret": secret},
        )
        account_record(account=account, action=ActivityAction.ACCOUNT_CONNECTED)
    return account


def account_set_status(*, account: SocialAccount, status: str) -> SocialAccount:
    """Enable (active) or disable an account by hand.

    Only the status changes. Enabling a needs_reconnect account trusts the user and lets the
    next delivery (or check) tell; last_error stays as the record of what last went wrong,
    and reconnect_notified_at is kept so a still-broken account does not email its owners a
    second time for the same incident (a real reconnect clears it).
    """
    if status not in SocialAccount.Status.values:
        raise ValueError(f"Unknown account status {status!r}")
    with transaction.atomic():
        changed = (
            SocialAccount.objects.filter(pk=account.pk).exclude(status=status).update(status=status)
        )
        account.status = status
        if changed and status != SocialAccount.Status.NEEDS_RECONNECT:
            # Disabled by a person: disconnected; enabled again: connected (not a reconnect).
            action = (
                ActivityAction.ACCOUNT_DISCONNECTED
                if status == SocialAccount.Status.DISABLED
                else ActivityAction.ACCOUNT_CONNECTED
            )
            account_record(account=account, action=action, status=status)
    return account


def account_connect(
    *,
    workspace: Workspace,
    provider: str,
    handle: str,
    external_id: str,
    credentials: dict,
    options: dict,
) -> SocialAccount:
    """Store a connected Mastodon or Bluesky account, or reconnect the one the workspace
    already has with this external id: new credentials and options, active again, and a
    later incident may email the owners again."""
    with transaction.atomic():
        account = (
            SocialAccount.objects.select_for_update()
            .filter(workspace=workspace, provider=provider, external_id=external_id)
            .first()
        )
        if account is None:
            account = SocialAccount.objects.create(
                workspace=workspace,
                provider=provider,
                handle=handle,
                external_id=external_id,
                credentials=credentials,
                options=options,
            )
            account_record(account=account, action=ActivityAction.ACCOUNT_CONNECTED)
            return account
        account.handle = handle
        account.credentials = credentials
        account.options = {**account.options, **options}
        account.status = SocialAccount.Status.ACTIVE
        account.last_error = ""
        account.reconnect_notified_at = None
        account.save(
            update_fields=[
                "handle",
                "credentials",
                "options",
                "status",
                "last_error",
                "reconnect_notified_at",
            ]
        )
        account_record(account=account, action=ActivityAction.ACCOUNT_CONNECTED, reconnected=True)
        return account


# --- Profile -------------------------------------------------------------------------------


def profile_set_timezone(*, user_id: int, timezone_name: str, only_if_unset: bool = False) -> bool:
    """Store a person's display zone; False (nothing changed) for a name that is not an
    IANA zone, or when `only_if_unset` and one is already stored (the browser's guess
    never overrides a choice)."""
    if timezone_name not in iana_zone_names():
        return False
    profile, created = Profile.objects.get_or_create(
        user_id=user_id, defaults={"timezone": timezone_name}
    )
    if created:
        return True
    if only_if_unset and profile.timezone:
        return False
    return bool(Profile.objects.filter(id=profile.id).update(timezone=timezone_name))


# --- API tokens ------------------------------------------------------------------------------
# One token per person, sent as `Authorization: Token <key>` (accounts.tokens). Only its
# digest is stored: the key is shown once, when made; afterwards only its first characters.


def api_token_create(*, user) -> str:
    """A new key for the person, replacing any old one (which stops working at once).
    The returned key is the only copy: the database keeps its SHA-256 digest."""
    with transaction.atomic():
        ApiToken.objects.filter(user=user).delete()
        return ApiToken.objects.create(user=user).key


def api_token_revoke(*, user) -> bool:
    """Delete the person's key; False when there was none."""
    deleted, _ = ApiToken.objects.filter(user=user).delete()
    return bool(deleted)
