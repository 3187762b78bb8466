"""Approvers told ahead (issue 27, item 2): a post in review due within the lead time
raises one notice and emails each approver a signed, single-use, expiring link, as a
background job after commit; the link approves (or asks for changes) once."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.core import mail
from django.test import override_settings

from accounts.models import Membership, Notice
from accounts.services import EmailOutcome
from editor import review_mail
from posts import review
from posts.models import Post, PostComment, ReviewLink
from scheduling.models import Timeslot
from tests.factories import ChannelFactory, MembershipFactory, PostFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)
State = Post.ReviewState
Role = Membership.Role


@pytest.fixture
def setup():
    ws = WorkspaceFactory(needs_approval=True)
    owner = MembershipFactory(workspace=ws, role=Role.OWNER, user__email="owner@example.com")
    client = MembershipFactory(workspace=ws, role=Role.APPROVER, user__email="client@example.com")
    MembershipFactory(workspace=ws, role=Role.EDITOR, user__email="editor@example.com")
    MembershipFactory(workspace=ws, role=Role.VIEWER, user__email="viewer@example.com")
    channel = ChannelFactory(workspace=ws)
    post = PostFactory(workspace=ws, needs_approval=True, review_state=State.IN_REVIEW)
    slot = Timeslot.objects.create(
        channel=channel, post=post, publish_at=T0 + dt.timedelta(hours=20)
    )
    return ws, owner.user, client.user, post, slot


def notify(at, callbacks_fixture):
    with time_machine.travel(at, tick=False), callbacks_fixture(execute=False) as callbacks:
        told = review_mail.reviews_due_notify()
    return told, callbacks


def send_all(at):
    with time_machine.travel(at, tick=False):
        return [
            review_mail.review_email_send(link_id=i)
            for i in ReviewLink.objects.values_list("id", flat=True)
        ]


def test_due_within_the_lead_time_one_notice_and_an_email_per_approver_after_commit(
    setup, django_capture_on_commit_callbacks
):
    ws = setup[0]
    # 20 h ahead is outside a 12 h lead time: nobody is told yet.
    with override_settings(REVIEW_LEAD_TIME=dt.timedelta(hours=12)):
        told, callbacks = notify(T0, django_capture_on_commit_callbacks)
    assert told == 0 and not callbacks

    told, callbacks = notify(T0, django_capture_on_commit_callbacks)  # default 24 h
    assert told == 1
    notice = Notice.objects.get(kind=Notice.Kind.REVIEW_DUE)
    assert notice.workspace == ws and "not approved yet" in notice.message
    assert len(callbacks) == 1  # the emails are queued after commit, not sent here
    assert mail.outbox == []

    assert send_all(T0) == [EmailOutcome.SENT, EmailOutcome.SENT]
    assert sorted(m.to[0] for m in mail.outbox) == ["client@example.com", "owner@example.com"]
    assert send_all(T0) == [EmailOutcome.SKIPPED, EmailOutcome.SKIPPED]  # once each

    # Once per review round: the next sweep tells nobody again.
    told, _ = notify(T0 + dt.timedelta(minutes=5), django_capture_on_commit_callbacks)
    assert told == 0
    assert Notice.objects.filter(kind=Notice.Kind.REVIEW_DUE).count() == 1


def test_an_approved_post_or_one_without_a_pinned_slot_tells_nobody(
    setup, django_capture_on_commit_callbacks
):
    _, _, _, post, slot = setup
    Post.objects.filter(id=post.id).update(review_state=State.APPROVED)
    assert notify(T0, django_capture_on_commit_callbacks)[0] == 0
    Post.objects.filter(id=post.id).update(review_state=State.IN_REVIEW)
    Timeslot.objects.filter(id=slot.id).update(status=Timeslot.Status.CANCELED)
    assert notify(T0, django_capture_on_commit_callbacks)[0] == 0


def link_of(email) -> str:
    return re.search(r"/review/link/([^/\s]+)/", email.body).group(1)


def emailed_links(setup, callbacks_fixture) -> dict[str, str]:
    notify(T0, callbacks_fixture)
    send_all(T0)
    return {m.to[0]: link_of(m) for m in mail.outbox}


def test_the_email_link_approves_once(setup, django_capture_on_commit_callbacks, client):
    _, _, approver, post, _ = setup
    token = emailed_links(setup, django_capture_on_commit_callbacks)["client@example.com"]

    with time_machine.travel(T0 + dt.timedelta(hours=1), tick=False):
        page = client.get(f"/review/link/{token}/")
        assert page.status_code == 200 and post.text in page.content.decode()
        assert Post.objects.get(id=post.id).review_state == State.IN_REVIEW  # GET changes nothing
        done = client.post(f"/review/link/{token}/", {"action": "approve"})
        assert done.status_code == 200 and "approved" in done.content.decode()
        post.refresh_from_db()
        assert (post.review_state, post.reviewed_by) == (State.APPROVED, approver)
        again = client.post(f"/review/link/{token}/", {"action": "approve"})
        assert again.status_code == 410
        assert "already used" in again.content.decode()


def test_the_link_expires_and_dies_with_its_review_round(
    setup, django_capture_on_commit_callbacks, client
):
    _, owner, _, post, _ = setup
    links = emailed_links(setup, django_capture_on_commit_callbacks)
    later = T0 + review_mail.settings.REVIEW_LINK_MAX_AGE + dt.timedelta(minutes=1)
    with time_machine.travel(later, tick=False):
        response = client.post(
            f"/review/link/{links['client@example.com']}/", {"action": "approve"}
        )
    assert response.status_code == 410 and "expired" in response.content.decode()
    assert Post.objects.get(id=post.id).review_state == State.IN_REVIEW

    # Approved on the web meanwhile: the owner's link no longer works.
    with time_machine.travel(T0 + dt.timedelta(hours=1), tick=False):
        review.post_approve(post=post, user=owner)
        response = client.post(f"/review/link/{links['owner@example.com']}/", {"action": "approve"})
    assert response.status_code == 410 and "no longer waiting" in response.content.decode()


def test_a_tampered_link_is_refused(setup, django_capture_on_commit_callbacks, client):
    token = emailed_links(setup, django_capture_on_commit_callbacks)["client@example.com"]
    with time_machine.travel(T0, tick=False):
        assert client.get(f"/review/link/{token[:-2]}xx/").status_code == 404
        assert client.get("/review/link/nonsense/").status_code == 404


def test_the_link_asks_for_changes_with_a_note(setup, django_capture_on_commit_callbacks, client):
    _, _, approver, post, _ = setup
    token = emailed_links(setup, django_capture_on_commit_callbacks)["client@example.com"]
    with time_machine.travel(T0, tick=False):
        empty = client.post(f"/review/link/{token}/", {"action": "changes", "note": ""})
        assert empty.status_code == 400
        client.post(f"/review/link/{token}/", {"action": "changes", "note": "Softer, please"})
    assert Post.objects.get(id=post.id).review_state == State.CHANGES_REQUESTED
    note = PostComment.objects.get(post=post)
    assert (note.author, note.text, note.is_review_note) == (approver, "Softer, please", True)


def test_a_failed_email_is_retried_with_backoff(setup, django_capture_on_commit_callbacks):
    notify(T0, django_capture_on_commit_callbacks)
    with override_settings(EMAIL_BACKEND="tests.editor.test_review_notify.RefusingBackend"):
        assert set(send_all(T0)) == {EmailOutcome.FAILED}
    assert mail.outbox == []
    with time_machine.travel(T0 + dt.timedelta(minutes=1), tick=False):
        assert review_mail.review_emails_retry() == 0  # still backing off
    with time_machine.travel(T0 + dt.timedelta(minutes=3), tick=False):
        assert review_mail.review_emails_retry() == 2
    assert len(mail.outbox) == 2


class RefusingBackend:
    """An SMTP server that refuses: what Django's backend raises then."""

    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise OSError("connection refused")
