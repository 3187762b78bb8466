"""Invitation emails are background jobs (issue 27): sent after commit by a task, never
inside a request, and an SMTP failure delays one but loses none (retried with backoff until
sent). SMTP is faked at its boundary: a local server on 127.0.0.1 that refuses mail."""

from __future__ import annotations

import datetime as dt
import smtplib
import socketserver
import threading

import pytest
import time_machine
from django.core import mail
from django.core.mail import send_mail
from django.http import HttpResponse
from django.test import override_settings
from django.urls import path

from accounts import account_mail, members
from accounts.models import Invitation, Membership
from accounts.services import EmailOutcome
from queueloop.celery import app as celery_app
from tests.factories import MembershipFactory
from tests.locmem import EmailSentInsideRequest
from tests.publishing.test_notice_emails import refusing_smtp  # noqa: F401  (a fixture)

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def owner():
    return MembershipFactory(role=Membership.Role.OWNER)


def smtp_at(port: int) -> dict:
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": port,
        "EMAIL_USE_TLS": False,
        "EMAIL_TIMEOUT": 5,
    }


def test_an_smtp_failure_delays_an_invitation_but_loses_none(owner, refusing_smtp):  # noqa: F811
    with time_machine.travel(T0, tick=False):
        invitation = members.invitation_create(
            actor=owner.user, workspace=owner.workspace, email="guest@example.com", role="editor"
        )
    # SMTP refuses: twice, with growing backoff; nothing is sent early, nothing twice.
    with override_settings(**smtp_at(refusing_smtp)):
        with time_machine.travel(T0, tick=False):
            assert members.invitation_email_send(invitation_id=invitation.id) == EmailOutcome.FAILED
        invitation.refresh_from_db()
        assert invitation.email_attempts == 1 and invitation.email_sent_at is None
        first_retry = invitation.email_retry_at
        with time_machine.travel(first_retry - dt.timedelta(seconds=1), tick=False):
            assert members.invitation_emails_retry() == 0  # not due yet: no attempt
        with time_machine.travel(first_retry, tick=False):
            assert members.invitation_emails_retry() == 0  # due, tried, refused again
        invitation.refresh_from_db()
        assert invitation.email_attempts == 2
        assert invitation.email_retry_at - first_retry > first_retry - T0  # backing off
    # SMTP is back: the sweep sends it once.
    with time_machine.travel(invitation.email_retry_at, tick=False):
        assert members.invitation_emails_retry() == 1
        assert members.invitation_emails_retry() == 0
    (message,) = mail.outbox
    assert message.to == ["guest@example.com"] and "/invite/" in message.body
    invitation.refresh_from_db()
    assert invitation.email_sent_at is not None
    # The link in the late email works.
    token = message.body.split("/invite/", 1)[1].split("/", 1)[0]
    assert members.invitation_from_token(token).id == invitation.id


def test_an_invitation_whose_task_never_ran_is_sent_by_the_sweep(owner):
    with time_machine.travel(T0, tick=False):
        # on_commit never runs in this test's transaction: as if the broker was down.
        members.invitation_create(
            actor=owner.user, workspace=owner.workspace, email="g@example.com", role="viewer"
        )
    with time_machine.travel(T0 + dt.timedelta(minutes=1), tick=False):
        assert members.invitation_emails_retry() == 0  # its task may still be on its way
    with time_machine.travel(T0 + dt.timedelta(minutes=6), tick=False):
        assert members.invitation_emails_retry() == 1
    assert len(mail.outbox) == 1


def test_a_revoked_invitation_is_never_emailed(owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        invitation = members.invitation_create(
            actor=owner.user, workspace=owner.workspace, email="g@example.com", role="viewer"
        )
    assert len(callbacks) == 1  # queued after commit, not sent here
    members.invitation_revoke(actor=owner.user, invitation=invitation)
    assert members.invitation_email_send(invitation_id=invitation.id) == EmailOutcome.SKIPPED
    assert mail.outbox == [] and Invitation.objects.get().revoked_at is not None


def test_the_account_email_tasks_retry_smtp_failures_with_backoff():
    import accounts.tasks  # noqa: F401  (registers the tasks)

    for name in (account_mail.RESET_TASK, account_mail.UNLOCK_TASK):
        task = celery_app.tasks[name]
        assert smtplib.SMTPException in task.autoretry_for and OSError in task.autoretry_for
        assert task.retry_backoff and task.max_retries >= 10


# --- The guard: no email inside a request ------------------------------------------------------


def _sends_inside(request):
    send_mail("inside", "body", "a@example.com", ["b@example.com"])
    return HttpResponse("sent")


urlpatterns = [path("send-inside/", _sends_inside)]


@override_settings(ROOT_URLCONF=__name__)
def test_the_guard_fails_a_view_that_sends_email_inside_the_request(client):
    with pytest.raises(EmailSentInsideRequest):
        client.get("/send-inside/")
    assert mail.outbox == []
    # Outside a request the same call goes to the outbox.
    send_mail("outside", "body", "a@example.com", ["b@example.com"])
    assert [m.subject for m in mail.outbox] == ["outside"]


# --- Password reset: a Celery task, retried with backoff on SMTP failure ------------------------


class _FlakySMTP(socketserver.StreamRequestHandler):
    """An SMTP server that refuses the first `server.refusals` messages (451), then takes
    them; what it took is in `server.received`."""

    def handle(self):
        server = self.server
        self.wfile.write(b"220 fake ESMTP\r\n")
        while line := self.rfile.readline():
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                self.wfile.write(b"250 fake\r\n")
            elif verb == b"MAIL":
                if server.refusals > 0:
                    server.refusals -= 1
                    self.wfile.write(b"451 try again later\r\n")
                else:
                    self.wfile.write(b"250 ok\r\n")
            elif verb in (b"RCPT", b"RSET", b"NOOP"):
                self.wfile.write(b"250 ok\r\n")
            elif verb == b"DATA":
                self.wfile.write(b"354 go ahead\r\n")
                body = []
                while (data := self.rfile.readline()) not in (b".\r\n", b""):
                    body.append(data)
                server.received.append(b"".join(body).decode())
                self.wfile.write(b"250 queued\r\n")
            elif verb == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"502 no\r\n")


@pytest.fixture
def flaky_smtp():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _FlakySMTP)
    server.daemon_threads = True
    server.refusals, server.received = 2, []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.django_db(transaction=True)
def test_a_password_reset_email_refused_by_smtp_is_retried_until_sent(flaky_smtp):
    import accounts.tasks  # noqa: F401  (registers the tasks)

    user = MembershipFactory(user__email="reset@example.com").user
    task = celery_app.tasks[account_mail.RESET_TASK]
    with override_settings(**smtp_at(flaky_smtp.server_address[1])):
        # apply() runs it here, and a retry at once (eager): no waiting on the backoff.
        result = task.apply(args=(user.pk, "https://ql.example"))
    assert result.successful() and result.result is True
    assert flaky_smtp.refusals == 0  # refused twice first
    (message,) = flaky_smtp.received
    assert "reset@example.com" in message and "https://ql.example/password-reset/" in message
