"""Emails are part of reliability (issue 10, finding 8): one per incident, retried until
they went out, and Django's password reset with its email.

SMTP is faked at its boundary: a local SMTP server on 127.0.0.1 that can refuse mail.
"""

from __future__ import annotations

import datetime as dt
import re
import socketserver
import threading

import pytest
import time_machine
from django.core import mail
from django.test import override_settings
from django.urls import reverse

from accounts import services
from accounts.models import Membership, Notice
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def owner():
    return MembershipFactory(role=Membership.Role.OWNER, user__email="owner@example.com")


def empty_queue(owner, channel_id=12):
    return services.notice_create(
        workspace_id=owner.workspace_id,
        kind=Notice.Kind.QUEUE_EMPTY,
        message="#tech had a slot but its queue is empty: add posts.",
        subject=f"channel:{channel_id}",
    )


def test_four_skipped_slots_are_one_notice_and_one_email(owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        notices = [empty_queue(owner) for _ in range(4)]
    assert len({n.id for n in notices}) == 1
    assert len(callbacks) == 1  # one email queued
    notice = Notice.objects.get()
    assert notice.occurrences == 4
    services.notice_email_send(notice_id=notice.id)
    assert len(mail.outbox) == 1
    # Another channel's empty queue is another incident; a dismissed one opens a new one.
    assert empty_queue(owner, channel_id=13).id != notice.id
    services.notice_dismiss(notice=notice)
    assert empty_queue(owner).id != notice.id


class _RefusingSMTP(socketserver.StreamRequestHandler):
    """Answers like an SMTP server that is up but refuses every message (451)."""

    def handle(self):
        self.wfile.write(b"220 fake ESMTP\r\n")
        while line := self.rfile.readline():
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                self.wfile.write(b"250 fake\r\n")
            elif verb == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"451 try again later\r\n")


@pytest.fixture
def refusing_smtp():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _RefusingSMTP)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_an_smtp_failure_is_retried_with_backoff_until_sent(owner, refusing_smtp):
    with time_machine.travel(T0, tick=False):
        notice = empty_queue(owner)
    smtp = {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": refusing_smtp,
        "EMAIL_USE_TLS": False,
        "EMAIL_TIMEOUT": 5,
    }
    with override_settings(**smtp), time_machine.travel(T0, tick=False):
        assert services.notice_email_send(notice_id=notice.id) == services.EmailOutcome.FAILED
    notice.refresh_from_db()
    assert notice.emailed_at is None and notice.email_attempts == 1
    # Not due before its backoff; sent by the sweep once due and SMTP is back.
    with time_machine.travel(T0 + dt.timedelta(minutes=1), tick=False):
        assert services.notice_emails_retry() == 0
    with time_machine.travel(T0 + dt.timedelta(minutes=3), tick=False):
        assert services.notice_emails_retry() == 1
    notice.refresh_from_db()
    assert notice.emailed_at is not None
    assert len(mail.outbox) == 1


def test_a_notice_whose_email_task_was_never_queued_is_sent_by_the_sweep(owner):
    with time_machine.travel(T0, tick=False):
        notice = empty_queue(owner)  # on_commit never runs here: as if .delay was refused
    with time_machine.travel(T0 + dt.timedelta(minutes=1), tick=False):
        assert services.notice_emails_retry() == 0  # its task may still be on its way
    with time_machine.travel(T0 + dt.timedelta(minutes=6), tick=False):
        assert services.notice_emails_retry() == 1
        assert services.notice_emails_retry() == 0  # never twice
    assert len(mail.outbox) == 1
    assert Notice.objects.get(pk=notice.pk).emailed_at is not None


def test_password_reset_sends_a_link_that_sets_a_new_password(client, owner, mail_jobs):
    user = owner.user
    with mail_jobs():
        response = client.post(reverse("password_reset"), {"email": "owner@example.com"})
        assert response.status_code == 302
        assert mail.outbox == []  # a background job sends it, after the request
    [message] = mail.outbox
    assert message.to == ["owner@example.com"]
    link = re.search(r"https?://[^/]+(/password-reset/\S+/)", message.body).group(1)
    page = client.get(link, follow=True)
    assert page.status_code == 200
    new = "a-brand-new-passphrase-42"
    response = client.post(page.redirect_chain[-1][0], {"new_password1": new, "new_password2": new})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(new)
    # An unknown address gets the same answer and no email.
    with mail_jobs():
        assert client.post(reverse("password_reset"), {"email": "x@example.com"}).status_code == 302
    assert len(mail.outbox) == 1
