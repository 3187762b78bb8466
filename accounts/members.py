"""Members of a workspace: invitations, roles, removal, leaving, renaming (issue 27, item 1).

Every write takes the acting user and checks their role here, not only in the views: the
web pages and the API call the same functions. Only owners manage members; the last owner
can neither leave nor be demoted nor removed (a workspace always has someone who can).

Invitation links: `invitation_token()` signs "<id>-<version>" with Django's Signer (a
salted HMAC over SECRET_KEY, with SECRET_KEY_FALLBACKS honoured); nothing of the link is
stored, and resending bumps the version so an older link stops working. Opening a link does
nothing (mail scanners open links); accepting it is a POST, once.

Emails: sent by the `accounts.send_invitation_email` task after the transaction commits,
never inside the request; an SMTP failure is retried with backoff (`email_retry_at`) by the
task itself and by the `accounts.retry_invitation_emails` sweep, so none is lost.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.activity import activity_record
from accounts.models import (
    ActivityAction,
    ApiToken,
    Invitation,
    Membership,
    Profile,
    Workspace,
)
from accounts.services import EMAIL_LEASE, EMAIL_MAX_ATTEMPTS, EmailOutcome, _email_backoff
from queueloop.celery import send_many

log = logging.getLogger(__name__)

INVITATION_AGE = dt.timedelta(days=7)
_SIGNER_SALT = "accounts.invitation"
LAST_OWNER_MESSAGE = "A workspace needs at least one owner: make another member an owner first."
NOT_OWNER_MESSAGE = "Only an owner of this workspace can manage its members."


def _signer() -> signing.Signer:
    return signing.Signer(salt=_SIGNER_SALT, sep=".", algorithm="sha256")


def invitation_token(invitation: Invitation) -> str:
    return _signer().sign(f"{invitation.id}-{invitation.version}")


def invitation_from_token(token: str) -> Invitation | None:
    """The invitation a link's token names, if the signature holds and it is the current
    version; None otherwise (whether it is still pending is the caller's question)."""
    try:
        value = _signer().unsign(token)
        ident, version = (int(part) for part in value.split("-", 1))
    except (signing.BadSignature, ValueError):
        return None
    return Invitation.objects.select_related("workspace").filter(id=ident, version=version).first()


def invitation_url(invitation: Invitation) -> str:
    from django.urls import reverse

    base = settings.PUBLIC_BASE_URL or invitation.origin.rstrip("/") or "http://localhost:8000"
    return base + reverse("invitation_open", args=[invitation_token(invitation)])


# --- Permission checks ------------------------------------------------------------------------


def _role_of(*, user, workspace: Workspace) -> str | None:
    return (
        Membership.objects.filter(user=user, workspace=workspace)
        .values_list("role", flat=True)
        .first()
    )


def require_owner(*, actor, workspace: Workspace) -> None:
    if _role_of(user=actor, workspace=workspace) != Membership.Role.OWNER:
        raise PermissionDenied(NOT_OWNER_MESSAGE)


def _check_role(role: str) -> Membership.Role:
    if role not in Membership.Role.values:
        raise ValidationError(
            {"role": f"Unknown role {role!r}: one of {', '.join(Membership.Role.values)}."}
        )
    return Membership.Role(role)


def _other_owners(*, workspace: Workspace, membership: Membership) -> bool:
    return (
        Membership.objects.filter(workspace=workspace, role=Membership.Role.OWNER)
        .exclude(id=membership.id)
        .exists()
    )


# --- Workspace ----------------------------------------------------------------------------------


def workspace_rename(*, actor, workspace: Workspace, name: str) -> Workspace:
    require_owner(actor=actor, workspace=workspace)
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "A workspace needs a name."})
    if len(name) > Workspace._meta.get_field("name").max_length:
        raise ValidationError({"name": "At most 100 characters."})
    with transaction.atomic():
        Workspace.objects.filter(id=workspace.id).update(name=name)
        activity_record(
            workspace_id=workspace.id,
            action=ActivityAction.SETTINGS_CHANGED,
            target=name,
            details={"name": name},
            actor_id=actor.pk,
        )
    workspace.name = name
    return workspace


# --- Invitations --------------------------------------------------------------------------------


def invitation_create(
    *, actor, workspace: Workspace, email: str, role: str, origin: str = ""
) -> Invitation:
    """Invite `email` with `role`; the email goes out after commit. A pending invitation of
    the same address is replaced (its link stops working). `origin` is the site's address
    the link starts with ("https://host"; PUBLIC_BASE_URL wins when set)."""
    require_owner(actor=actor, workspace=workspace)
    role = _check_role(role)
    email = (email or "").strip()
    from django.core.validators import validate_email

    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError({"email": "Enter a valid email address."}) from None
    if Membership.objects.filter(workspace=workspace, user__email__iexact=email).exists():
        raise ValidationError({"email": f"{email} is already a member of this workspace."})
    now = timezone.now()
    with transaction.atomic():
        Invitation.objects.filter(
            workspace=workspace,
            email__iexact=email,
            accepted_at__isnull=True,
            revoked_at__isnull=True,
        ).update(revoked_at=now)
        invitation = Invitation.objects.create(
            workspace=workspace,
            email=email,
            role=role,
            invited_by=actor,
            origin=origin[:200],
            created_at=now,
            expires_at=now + INVITATION_AGE,
        )
        activity_record(
            workspace_id=workspace.id,
            action=ActivityAction.MEMBER_INVITED,
            target=email,
            details={"role": role},
            actor_id=actor.pk,
        )
        transaction.on_commit(lambda: invitation_email_later(invitation.id))
    return invitation


def _pending(*, workspace: Workspace, invitation_id: int) -> Invitation:
    invitation = Invitation.objects.filter(
        id=invitation_id, workspace=workspace, accepted_at__isnull=True, revoked_at__isnull=True
    ).first()
    if invitation is None:
        raise ValidationError("This invitation was already accepted or revoked.")
    return invitation


def invitation_resend(*, actor, invitation: Invitation) -> Invitation:
    """A new link (the old one stops working), 7 more days, and the email again."""
    require_owner(actor=actor, workspace=invitation.workspace)
    now = timezone.now()
    with transaction.atomic():
        _pending(workspace=invitation.workspace, invitation_id=invitation.id)
        Invitation.objects.filter(id=invitation.id).update(
            version=F("version") + 1,
            expires_at=now + INVITATION_AGE,
            email_sent_at=None,
            email_attempts=0,
            email_retry_at=None,
        )
        invitation.refresh_from_db()
        transaction.on_commit(lambda: invitation_email_later(invitation.id))
    return invitation


def invitation_revoke(*, actor, invitation: Invitation) -> Invitation:
    require_owner(actor=actor, workspace=invitation.workspace)
    now = timezone.now()
    Invitation.objects.filter(
        id=invitation.id, accepted_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=now)
    invitation.refresh_from_db()
    return invitation


def invitation_accept(*, token: str, user) -> Membership:
    """The signed-in `user` joins with the invitation's role. Single use: the conditional
    update lets one acceptance through; an expired, revoked, resent (old version) or used
    link is a ValidationError with a message the page shows."""
    invitation = invitation_from_token(token)
    now = timezone.now()
    if invitation is None:
        raise ValidationError("This invitation link is not valid (it may have been resent).")
    with transaction.atomic():
        taken = Invitation.objects.filter(
            id=invitation.id,
            version=invitation.version,
            accepted_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=now,
        ).update(accepted_at=now, accepted_by=user)
        if not taken:
            raise ValidationError(
                "This invitation has expired, was revoked or was already used. "
                "Ask an owner of the workspace for a new one."
            )
        membership, _ = Membership.objects.get_or_create(
            workspace=invitation.workspace, user=user, defaults={"role": invitation.role}
        )
    return membership


def invitation_accept_new_user(*, token: str, username: str, password: str):
    """Create the invitee's login (with the invited address) and accept, in one transaction:
    a refused invitation creates no user."""
    User = get_user_model()
    invitation = invitation_from_token(token)
    if invitation is None:
        raise ValidationError("This invitation link is not valid (it may have been resent).")
    with transaction.atomic():
        if User.objects.filter(username__iexact=username).exists():
            raise ValidationError({"username": "That username is taken."})
        user = User.objects.create_user(
            username=username, email=invitation.email, password=password
        )
        invitation_accept(token=token, user=user)
    return user


def invitation_email_later(invitation_id: int) -> None:
    """Queue the email (call after commit); a broker outage leaves it to the sweep."""
    try:
        send_many("accounts.send_invitation_email", [((invitation_id,), None)], what="invitation")
    except Exception:
        log.warning("invitation %s: email not queued, left for the retry sweep", invitation_id)


def invitation_email_send(*, invitation_id: int) -> EmailOutcome:
    """Send the invitation's email once, claimed for EMAIL_LEASE (two workers never send it
    twice at once); an SMTP failure records the attempt and the time to retry."""
    now = timezone.now()
    due = Q(email_retry_at__isnull=True) | Q(email_retry_at__lte=now)
    claimed = Invitation.objects.filter(
        due,
        id=invitation_id,
        email_sent_at__isnull=True,
        accepted_at__isnull=True,
        revoked_at__isnull=True,
        email_attempts__lt=EMAIL_MAX_ATTEMPTS,
    ).update(email_retry_at=now + EMAIL_LEASE)
    if not claimed:
        return EmailOutcome.SKIPPED
    invitation = Invitation.objects.select_related("workspace", "invited_by").get(id=invitation_id)
    context = {
        "invitation": invitation,
        "url": invitation_url(invitation),
        "inviter": invitation.invited_by,
        "days": INVITATION_AGE.days,
    }
    try:
        send_mail(
            subject=render_to_string("accounts/invitation_subject.txt", context).strip(),
            message=render_to_string("accounts/invitation_email.txt", context),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[invitation.email],
        )
    except (OSError, smtplib.SMTPException) as exc:
        attempts = invitation.email_attempts + 1
        Invitation.objects.filter(id=invitation_id).update(
            email_attempts=attempts, email_retry_at=now + _email_backoff(attempts)
        )
        log.warning("invitation %s: email failed (%s), attempt %s", invitation_id, exc, attempts)
        return EmailOutcome.FAILED
    Invitation.objects.filter(id=invitation_id).update(
        email_sent_at=timezone.now(), email_retry_at=None
    )
    return EmailOutcome.SENT


def invitation_emails_retry(*, limit: int = 100) -> int:
    """Send the due invitation emails that failed or whose task never ran (beat, every
    minute). Returns how many went out."""
    now = timezone.now()
    due = (
        Invitation.objects.filter(
            Q(email_retry_at__lte=now)
            | Q(email_retry_at__isnull=True, created_at__lte=now - EMAIL_LEASE),
            email_sent_at__isnull=True,
            accepted_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=now,
            email_attempts__lt=EMAIL_MAX_ATTEMPTS,
        )
        .order_by("created_at")
        .values_list("id", flat=True)[:limit]
    )
    return sum(invitation_email_send(invitation_id=i) == EmailOutcome.SENT for i in list(due))


# --- Members ------------------------------------------------------------------------------------


def member_set_role(*, actor, membership: Membership, role: str) -> Membership:
    require_owner(actor=actor, workspace=membership.workspace)
    role = _check_role(role)
    with transaction.atomic():
        # Lock the workspace's owners so two demotions at once cannot leave none.
        list(
            Membership.objects.select_for_update()
            .filter(workspace=membership.workspace, role=Membership.Role.OWNER)
            .order_by("id")
        )
        membership.refresh_from_db()
        if (
            membership.role == Membership.Role.OWNER
            and role != Membership.Role.OWNER
            and not _other_owners(workspace=membership.workspace, membership=membership)
        ):
            raise ValidationError({"role": LAST_OWNER_MESSAGE})
        Membership.objects.filter(id=membership.id).update(role=role)
        membership.role = role
        activity_record(
            workspace_id=membership.workspace_id,
            action=ActivityAction.MEMBER_ROLE_CHANGED,
            target=membership.user.get_username(),
            details={"role": role},
            actor_id=actor.pk,
        )
    return membership


def _end_access(*, user) -> None:
    """Log out every session of the person (on its next request) and revoke their API token
    (401 at once): what they saw of the workspace may be in an open tab or a script."""
    profile, _ = Profile.objects.get_or_create(user=user)
    Profile.objects.filter(id=profile.id).update(session_epoch=F("session_epoch") + 1)
    ApiToken.objects.filter(user=user).delete()


def member_remove(*, actor, membership: Membership) -> None:
    """Remove a member (an owner removes anyone but the last owner; anyone may leave)."""
    if actor.pk != membership.user_id:
        require_owner(actor=actor, workspace=membership.workspace)
    with transaction.atomic():
        list(
            Membership.objects.select_for_update()
            .filter(workspace=membership.workspace, role=Membership.Role.OWNER)
            .order_by("id")
        )
        membership.refresh_from_db()
        if membership.role == Membership.Role.OWNER and not _other_owners(
            workspace=membership.workspace, membership=membership
        ):
            raise ValidationError(
                "The last owner cannot leave or be removed: make another member an owner first."
            )
        Membership.objects.filter(id=membership.id).delete()
        activity_record(
            workspace_id=membership.workspace_id,
            action=ActivityAction.MEMBER_REMOVED,
            target=membership.user.get_username(),
            details={"left": actor.pk == membership.user_id},
            actor_id=actor.pk,
        )
        if actor.pk != membership.user_id:  # leaving by oneself keeps one's own session
            _end_access(user=membership.user)


def member_leave(*, user, workspace: Workspace) -> None:
    membership = Membership.objects.filter(user=user, workspace=workspace).first()
    if membership is None:
        raise ValidationError("You are not a member of this workspace.")
    member_remove(actor=user, membership=membership)
