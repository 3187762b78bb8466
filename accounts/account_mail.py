"""The emails one logged-out request asks for (password reset, login unlock), sent by
Celery tasks after the request's transaction commits, never inside the request.

Nothing secret travels through the broker: the task gets the user's id and the site's
address, and makes the link itself (the reset token from Django's token generator, the
unlock token from accounts.auth), so a retry after an SMTP failure sends a working link.
The tasks retry with backoff on SMTP and network errors (accounts.tasks).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts import auth
from queueloop.celery import send_many

log = logging.getLogger(__name__)

RESET_TASK = "accounts.send_password_reset_email"
UNLOCK_TASK = "accounts.send_unlock_email"


def _queue(task: str, args: tuple) -> None:
    try:
        send_many(task, [(args, None)], what="email")
    except Exception:  # broker down: the person asks again; nothing was promised stored
        log.warning("%s: not queued (broker unavailable)", task)


def email_later(*, task: str, user_id: int, origin: str) -> None:
    """Queue `task` for the user once the current transaction commits."""
    transaction.on_commit(lambda: _queue(task, (user_id, origin)))


def _user(user_id: int):
    User = get_user_model()
    return User.objects.filter(pk=user_id, is_active=True).exclude(email="").first()


def password_reset_send(*, user_id: int, origin: str) -> bool:
    """Email a fresh reset link; False when the user is gone or inactive."""
    user = _user(user_id)
    if user is None:
        return False
    protocol, _, domain = origin.partition("://")
    context = {
        "email": user.email,
        "domain": domain,
        "site_name": domain,
        "uid": urlsafe_base64_encode(force_bytes(user.pk)),
        "user": user,
        "token": default_token_generator.make_token(user),
        "protocol": protocol,
    }
    subject = render_to_string("registration/password_reset_subject.txt", context)
    send_mail(
        subject="".join(subject.splitlines()),
        message=render_to_string("registration/password_reset_email.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[user.email],
    )
    return True


def unlock_send(*, user_id: int, origin: str) -> bool:
    """Email a fresh single-use unlock link (only its hash is stored, in the cache)."""
    user = _user(user_id)
    if user is None:
        return False
    token = auth.unlock_link_create(user=user)
    context = {
        "user": user,
        "url": origin + reverse("login_unlock", args=[token]),
        "minutes": int(settings.LOGIN_UNLOCK_LINK_AGE.total_seconds() // 60),
    }
    send_mail(
        subject=render_to_string("registration/unlock_subject.txt").strip(),
        message=render_to_string("registration/unlock_email.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[user.email],
    )
    return True
