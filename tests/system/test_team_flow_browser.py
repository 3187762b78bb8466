"""Issue 27's acceptance test, in a real browser with a real Celery worker: an owner invites
an editor and an approver (each email read from the outbox, each link opened in a browser
context of its own), the editor writes a post that needs approval and submits it, the
approver asks for changes from the review page, the editor edits and submits again, the
approver approves from the link of the "due soon" email, and the worker publishes it at its
pinned slot once. A second post, never approved, ends `skipped` at its slot, its approvers
told before (the notice and the email).

The review page's screenshot goes to QUEUELOOP_SCREENSHOT_DIR (else a temporary folder).
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import Membership, Notice
from editor import review_mail
from editor import services as editor_services
from posts import review
from posts.models import Post, PostComment
from publishing.models import SandboxPost
from scheduling import services as scheduling
from scheduling.models import Timeslot
from scheduling.reasons import Reason
from tests.conftest import wait_for
from tests.factories import ChannelFactory, MembershipFactory, UserFactory, WorkspaceFactory
from tests.system.test_web_ui_browser import SCREENSHOTS, login, page  # noqa: F401 (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

State = Post.ReviewState
# The channel's zone is not UTC, so the composer's pin time is read in it.
ZONE = "Europe/Berlin"
FIRST = "Our autumn sale starts Monday: everything 20% off!"
SECOND = "Our autumn sale starts Monday: 20% off the whole shop."


@pytest.fixture(autouse=True)
def links_to_this_server(settings, live_server):
    # The emails' links point at the site under test (the worker sends them in-process).
    settings.PUBLIC_BASE_URL = live_server.url


def emails_to(address: str, *, containing: str = "") -> list:
    return [m for m in mail.outbox if m.to == [address] and containing in m.body]


def link_in(message, pattern: str) -> str:
    return re.search(rf"(https?://\S+{pattern}\S+/)", message.body).group(1)


def invite(owner_page, *, email: str, role: str) -> None:
    owner_page.goto(owner_page.base_url + "/members/")
    owner_page.fill("#id_email", email)
    owner_page.select_option("#id_role", role)
    owner_page.get_by_role("button", name="Send invitation").click()
    owner_page.wait_for_url(owner_page.base_url + "/members/")
    assert email in owner_page.inner_text("main")


def join(owner_page, *, email: str, username: str, workspace_name: str):
    """Open the invitation's link in a browser context of its own; create the login."""
    [message] = wait_for(
        lambda: emails_to(email, containing="/invite/"), what=f"the invitation to {email}"
    )
    link = link_in(message, "/invite/")
    assert link.startswith(owner_page.base_url)
    context = owner_page.context.browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="en-US"
    )
    context.set_default_timeout(15_000)
    joiner = context.new_page()
    joiner.base_url = owner_page.base_url
    joiner.goto(link)
    assert f"Join {workspace_name}" in joiner.inner_text("main")
    joiner.fill("#id_username", username)
    joiner.fill("#id_password1", "a long passphrase 42")
    joiner.fill("#id_password2", "a long passphrase 42")
    joiner.get_by_role("button", name="Create my login and join").click()
    joiner.wait_for_url(joiner.base_url + "/")
    assert f"Welcome to {workspace_name}" in joiner.inner_text("main")
    return joiner


def test_an_invited_team_reviews_approves_from_the_email_and_the_worker_publishes_once(
    page,  # noqa: F811
    worker,
):
    owner = UserFactory(username="olga", email="olga@example.com")
    workspace = WorkspaceFactory(name="Acme Agency", needs_approval=True)
    MembershipFactory(user=owner, workspace=workspace, role=Membership.Role.OWNER)
    channel = ChannelFactory(workspace=workspace, name="#shop", slug="shop", timezone=ZONE)
    [account] = channel.accounts.all()  # the sandbox account

    # --- 1. The owner invites an editor and an approver; each joins in a browser. -------
    login(page, "olga")
    invite(page, email="eddie@example.com", role="editor")
    invite(page, email="clara@example.com", role="approver")
    editor = join(page, email="eddie@example.com", username="eddie", workspace_name="Acme Agency")
    approver = join(page, email="clara@example.com", username="clara", workspace_name="Acme Agency")
    roles = dict(
        Membership.objects.filter(workspace=workspace).values_list("user__username", "role")
    )
    assert roles == {"olga": "owner", "eddie": "editor", "clara": "approver"}

    # --- 2. The editor pins a post two hours ahead (channel's zone) and submits it. ------
    pin = (timezone.now() + dt.timedelta(hours=2)).astimezone(zoneinfo.ZoneInfo(ZONE))
    editor.goto(editor.base_url + "/posts/new/")
    editor.check(f"input[name=channels][value='{channel.id}']")
    editor.fill("#id_text", FIRST)
    editor.fill("#id_pin_at", f"{pin:%Y-%m-%dT%H:%M}")
    editor.click("#save-button")
    editor.wait_for_load_state()
    post = wait_for(lambda: Post.objects.filter(text=FIRST).first(), what="the post")
    assert post.needs_approval and post.review_state == State.DRAFT
    assert post.author.username == "eddie"
    [slot] = Timeslot.objects.filter(post=post, channel=channel)
    assert slot.publish_at == pin.replace(second=0, microsecond=0)
    editor.goto(editor.base_url + f"/posts/{post.id}/")
    assert "Slots will not take it until it is approved" in editor.inner_text(".review-card")
    editor.get_by_role("button", name="Submit for review").click()
    editor.wait_for_selector(".messages")
    assert "submitted for review" in editor.inner_text(".messages")
    assert Post.objects.get(id=post.id).review_state == State.IN_REVIEW

    # --- 3. The approver asks for changes on the review page. ------------------------------
    approver.goto(approver.base_url + "/review/")
    row = approver.locator("main li", has_text=FIRST)
    assert "by eddie" in row.inner_text() and "due" in row.inner_text()
    approver.screenshot(path=str(SCREENSHOTS / "review-queue.png"), full_page=True)
    row.get_by_label("What should change").fill("Say 20% off the whole shop, please.")
    row.get_by_role("button", name="Request changes").click()
    approver.wait_for_selector(".messages")
    assert "changes requested" in approver.inner_text(".messages")
    assert "Nothing to review" in approver.inner_text("main")
    post.refresh_from_db()
    assert post.review_state == State.CHANGES_REQUESTED
    note = PostComment.objects.get(post=post)
    assert (note.author.username, note.is_review_note) == ("clara", True)
    assert note.text == "Say 20% off the whole shop, please."

    # The editor reads the note under the post, edits the text and submits again.
    editor.goto(editor.base_url + f"/posts/{post.id}/")
    thread = editor.inner_text(".review-card .comments")
    assert "clara" in thread and "Say 20% off the whole shop, please." in thread
    editor.fill("#id_text", SECOND)
    editor.click("#save-button")
    editor.wait_for_load_state()
    wait_for(lambda: Post.objects.get(id=post.id).text == SECOND, what="the edit")
    editor.goto(editor.base_url + f"/posts/{post.id}/")
    editor.get_by_role("button", name="Submit for review").click()
    editor.wait_for_selector(".messages")
    assert Post.objects.get(id=post.id).review_state == State.IN_REVIEW
    assert Timeslot.objects.get(id=slot.id).status == Timeslot.Status.SCHEDULED  # still pinned

    # --- 4. Due within the lead time: the approver approves from the email's link. -------
    assert review_mail.reviews_due_notify() == 1  # what beat's editor.notify_reviews_due runs
    notice = Notice.objects.get(kind=Notice.Kind.REVIEW_DUE, subject=f"post:{post.id}")
    assert "not approved yet" in notice.message
    [email] = wait_for(
        lambda: emails_to("clara@example.com", containing="/review/link/"),
        what="clara's review email",
    )
    wait_for(
        lambda: emails_to("olga@example.com", containing="/review/link/"),
        what="the owner's review email",
    )
    assert SECOND in email.body
    approver.goto(link_in(email, "/review/link/"))
    assert SECOND in approver.inner_text("main")
    approver.get_by_role("button", name="Approve").click()
    approver.wait_for_load_state()
    assert "The post was approved" in approver.inner_text("main")
    post.refresh_from_db()
    assert (post.review_state, post.reviewed_by.username) == (State.APPROVED, "clara")

    # --- 5. The pin moved a few seconds ahead: the worker publishes it, once. ------------
    # (No browser step: moving a pin by the second is the calendar's drag, minute-grained.)
    at = (timezone.now() + dt.timedelta(seconds=3)).replace(microsecond=0)
    scheduling.timeslot_reschedule(timeslot=Timeslot.objects.get(id=slot.id), publish_at=at)
    wait_for(
        lambda: Timeslot.objects.get(id=slot.id).status == Timeslot.Status.PUBLISHED,
        timeout=30,
        what="the approved post's slot to publish",
    )
    assert Timeslot.objects.get(id=slot.id).published_at >= at
    assert list(SandboxPost.objects.filter(account=account).values_list("text", flat=True)) == [
        SECOND
    ]

    # --- 6. A post never approved: its approvers are told, then its slot is skipped. -----
    # (Pinned by the second through the service, on a second channel: a channel's slots are
    # CHANNEL_MIN_INTERVAL apart, and the composer's pin is minute-grained.)
    eddie = post.author
    news = ChannelFactory(workspace=workspace, name="#news", slug="news", timezone=ZONE)
    late = editor_services.post_create(
        workspace=workspace,
        text="Flash sale tonight only!",
        channels=[news],
        author=eddie,
        publish_at=(timezone.now() + dt.timedelta(seconds=4)).replace(microsecond=0),
    )
    review.post_submit_for_review(post=late, user=eddie)
    [late_slot] = Timeslot.objects.filter(post=late)
    assert review_mail.reviews_due_notify() == 1
    assert Notice.objects.filter(kind=Notice.Kind.REVIEW_DUE, subject=f"post:{late.id}").exists()
    wait_for(
        lambda: emails_to("clara@example.com", containing="Flash sale tonight"),
        what="the approver's email about the late post",
    )

    def skipped() -> bool:
        return Timeslot.objects.get(id=late_slot.id).status == Timeslot.Status.SKIPPED

    wait_for(skipped, timeout=30, what="the unapproved post's slot to be skipped")
    late_slot.refresh_from_db()
    assert late_slot.reason_code == Reason.NOT_APPROVED
    assert late_slot.reason == "Skipped: the pinned post was not approved by its time."
    assert not SandboxPost.objects.filter(text__startswith="Flash sale").exists()
    assert SandboxPost.objects.count() == 1
    for context in (editor.context, approver.context):
        context.close()
