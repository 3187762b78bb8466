"""Email that is not configured sends nothing (production without EMAIL_URL).

Django's console backend writes each message, reset links included, to the web's stdout,
outside the log redaction: a link copied from the logs worked. So in production (DEBUG
off) with no EMAIL_URL the settings pick `DisabledEmailBackend`, which drops every message
and logs only that it did; the pages that would send a link say so instead of pretending,
and /healthz reports it. Development (DEBUG on, `make run`) keeps the console backend.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend

log = logging.getLogger(__name__)

DISABLED_BACKEND = "ground.mail.DisabledEmailBackend"
CANNOT_SEND = "This server cannot send email; ask your operator."


class DisabledEmailBackend(BaseEmailBackend):
    """Sends nothing and never writes a message's content anywhere."""

    def send_messages(self, email_messages) -> int:
        count = len(list(email_messages or []))
        if count:
            log.warning("email not sent: EMAIL_URL is not set (%d message(s) dropped)", count)
        return 0


def email_can_send() -> bool:
    """Whether this server delivers email at all (read per call: tests override it)."""
    return settings.EMAIL_BACKEND != DISABLED_BACKEND


def email_backend_name() -> str:
    """A short name for /healthz: smtp, console, locmem, disabled… (never a host or user)."""
    if not email_can_send():
        return "disabled"
    parts = settings.EMAIL_BACKEND.split(".")
    return parts[-2] if len(parts) >= 2 and parts[-1] == "EmailBackend" else parts[-1]
