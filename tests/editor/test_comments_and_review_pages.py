"""Comments on a post (issue 27, item 3) and the review's pages and API: mentions tell the
member (a notice of their own, emailed to them), viewers read but do not write, another
workspace's posts and comments are a 404, and the review queue page costs constant
queries."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import ApiToken, Membership, Notice
from accounts.services import notice_email_send
from posts import comments
from posts.models import Post, PostComment
from scheduling.models import Timeslot
from tests.factories import ChannelFactory, MembershipFactory, PostFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db
State = Post.ReviewState
Role = Membership.Role


@pytest.fixture
def ws():
    return WorkspaceFactory(needs_approval=True)


def person(ws, role, **kw):
    return MembershipFactory(workspace=ws, role=role, **kw).user


_clients: dict[int, APIClient] = {}


def api(user) -> APIClient:
    """The user's API client (one token a person: made once per user)."""
    if user.id not in _clients or not ApiToken.objects.filter(user=user).exists():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {ApiToken.objects.create(user=user).key}")
        _clients[user.id] = client
    return _clients[user.id]


def test_a_mention_tells_that_member_only_and_emails_them(ws, django_capture_on_commit_callbacks):
    writer = person(ws, Role.EDITOR, user__username="writer")
    alice = person(ws, Role.APPROVER, user__username="alice", user__email="alice@example.com")
    person(ws, Role.OWNER, user__email="owner@example.com")
    outsider = person(WorkspaceFactory(), Role.OWNER, user__username="bob")
    post = PostFactory(workspace=ws)
    with django_capture_on_commit_callbacks(execute=False):
        comments.comment_create(
            post=post, user=writer, text="@alice is this fine? (cc @bob @writer, me@x.org)"
        )
    notice = Notice.objects.get(kind=Notice.Kind.MENTIONED)
    assert notice.subject == f"user:{alice.id}"
    assert "writer mentioned you" in notice.message
    notice_email_send(notice_id=notice.id)
    assert [m.to for m in mail.outbox] == [["alice@example.com"]]  # not the owners
    assert not Notice.objects.filter(subject=f"user:{outsider.id}").exists()
    assert comments.mentioned_names("@alice, @bob. x@y @a") == ["alice", "bob", "a"]


@pytest.mark.parametrize(
    ("role", "may"),
    [(Role.OWNER, True), (Role.EDITOR, True), (Role.APPROVER, True), (Role.VIEWER, False)],
)
def test_who_comments(ws, role, may):
    post = PostFactory(workspace=ws)
    user = person(ws, role)
    if may:
        comments.comment_create(post=post, user=user, text="Looks good")
        assert PostComment.objects.get().author == user
    else:
        with pytest.raises(PermissionDenied):
            comments.comment_create(post=post, user=user, text="Looks good")


def test_a_blank_or_nul_comment_is_refused(ws):
    post, user = PostFactory(workspace=ws), person(ws, Role.EDITOR)
    for text in ("   ", "a\x00b", "x" * 5001):
        with pytest.raises(ValidationError):
            comments.comment_create(post=post, user=user, text=text)
    assert not PostComment.objects.exists()


def test_the_composer_and_the_slot_panel_show_the_thread_and_the_actions(client, ws):
    approver = person(ws, Role.APPROVER)
    post = PostFactory(workspace=ws, needs_approval=True, review_state=State.IN_REVIEW)
    PostComment.objects.create(post=post, author=approver, text="First note")
    client.force_login(approver)
    page = client.get(f"/posts/{post.id}/").content.decode()
    assert "First note" in page and f"/posts/{post.id}/review/approve/" in page
    slot = Timeslot.objects.create(
        channel=ChannelFactory(workspace=ws),
        post=post,
        publish_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
    )
    panel = client.get(reverse("calendar_slot", args=[f"t{slot.id}"])).content.decode()
    assert "First note" in panel and f"/posts/{post.id}/review/approve/" in panel

    response = client.post(f"/posts/{post.id}/review/approve/", {"next": f"/posts/{post.id}/"})
    assert response.status_code == 302
    assert Post.objects.get(id=post.id).review_state == State.APPROVED
    client.post(f"/posts/{post.id}/comments/", {"text": "Thanks"})
    assert PostComment.objects.filter(post=post, text="Thanks").exists()


def test_an_editor_cannot_approve_on_the_web_and_a_viewer_cannot_comment(client, ws):
    post = PostFactory(workspace=ws, needs_approval=True, review_state=State.IN_REVIEW)
    client.force_login(person(ws, Role.EDITOR))
    assert client.post(f"/posts/{post.id}/review/approve/").status_code == 403
    client.force_login(person(ws, Role.VIEWER))
    assert client.post(f"/posts/{post.id}/comments/", {"text": "hi"}).status_code == 403
    assert client.post(f"/posts/{post.id}/review/submit/").status_code == 403
    assert Post.objects.get(id=post.id).review_state == State.IN_REVIEW
    assert not PostComment.objects.exists()


def test_another_workspaces_post_and_comments_are_a_404(client, ws):
    theirs = PostFactory(workspace=WorkspaceFactory(), review_state=State.IN_REVIEW)
    PostComment.objects.create(post=theirs, text="secret plan")
    owner = person(ws, Role.OWNER)
    client.force_login(owner)
    for url in (
        f"/posts/{theirs.id}/review/approve/",
        f"/posts/{theirs.id}/review/changes/",
        f"/posts/{theirs.id}/review/submit/",
        f"/posts/{theirs.id}/comments/",
    ):
        assert client.post(url, {"text": "x", "note": "x"}).status_code == 404
    assert "secret plan" not in client.get("/review/").content.decode()
    rest = api(owner)
    assert rest.get(f"/api/v1/posts/{theirs.id}/comments/").status_code == 404
    for action in ("approve", "submit", "request-changes", "comments"):
        response = rest.post(f"/api/v1/posts/{theirs.id}/{action}/", {"note": "x", "text": "x"})
        assert response.status_code == 404, action
    assert Post.objects.get(id=theirs.id).review_state == State.IN_REVIEW
    assert PostComment.objects.count() == 1


def test_the_api_review_actions_and_comments(ws):
    editor, approver = person(ws, Role.EDITOR), person(ws, Role.APPROVER)
    viewer = person(ws, Role.VIEWER)
    post = PostFactory(workspace=ws, needs_approval=True)
    base = f"/api/v1/posts/{post.id}"

    assert api(approver).post(f"{base}/submit/").status_code == 403
    answer = api(editor).post(f"{base}/submit/")
    assert answer.status_code == 200
    assert (answer.json()["review_state"], answer.json()["needs_approval"]) == ("in_review", True)
    assert api(editor).post(f"{base}/approve/").status_code == 403

    refused = api(approver).post(f"{base}/request-changes/", {"note": ""}, format="json")
    assert refused.status_code == 400
    changed = api(approver).post(f"{base}/request-changes/", {"note": "Shorter"}, format="json")
    assert changed.json()["review_state"] == "changes_requested"
    assert api(editor).post(f"{base}/approve/").status_code == 403
    wrong = api(approver).post(f"{base}/approve/")
    assert wrong.status_code == 400 and "only a post in review" in str(wrong.json())

    api(editor).post(f"{base}/submit/")
    assert api(approver).post(f"{base}/approve/").json()["review_state"] == "approved"
    # An approver writes no post through the API either.
    assert api(approver).patch(f"{base}/", {"text": "mine now"}, format="json").status_code == 403
    assert (
        api(approver).post("/api/v1/posts/", {"text": "x", "workspace": ws.slug}).status_code == 403
    )

    created = api(approver).post(f"{base}/comments/", {"text": "@nobody ok"}, format="json")
    assert created.status_code == 201 and created.json()["author"] == approver.username
    assert api(viewer).post(f"{base}/comments/", {"text": "hi"}, format="json").status_code == 403
    listed = api(viewer).get(f"{base}/comments/").json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert [c["text"] for c in rows] == ["Shorter", "@nobody ok"]
    assert rows[0]["is_review_note"] is True


def test_the_review_queue_costs_constant_queries(client, ws):
    owner = person(ws, Role.OWNER)
    channel = ChannelFactory(workspace=ws)
    client.force_login(owner)

    def add(n):
        for _ in range(n):
            post = PostFactory(
                workspace=ws,
                needs_approval=True,
                review_state=State.IN_REVIEW,
                author=person(ws, Role.EDITOR),
            )
            Timeslot.objects.create(
                channel=channel,
                post=post,
                publish_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1 + post.id),
            )

    def cost():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/review/").status_code == 200
        return len(ctx)

    add(2)
    few = cost()
    add(10)
    assert cost() == few
    page = client.get("/review/").content.decode()
    assert page.count("/review/approve/") == 12
    assert "Approval settings" in page


def test_only_owners_change_the_approval_settings(client):
    ws = WorkspaceFactory()
    editor = MembershipFactory(workspace=ws, role=Role.EDITOR)
    post = PostFactory(workspace=ws, author=editor.user)
    client.force_login(editor.user)
    assert client.post("/review/", {"needs_approval": "on"}).status_code == 403
    client.force_login(person(ws, Role.OWNER))
    client.post("/review/", {"member": [str(editor.id)]})
    assert Membership.objects.get(id=editor.id).needs_approval
    assert Post.objects.get(id=post.id).needs_approval
    client.post("/review/", {"needs_approval": "on"})
    ws.refresh_from_db()
    assert ws.needs_approval
    assert not Membership.objects.get(id=editor.id).needs_approval


def test_the_api_lists_posts_by_review_state_and_refuses_an_unknown_one(ws):
    user = person(ws, Role.VIEWER)
    waiting = PostFactory(workspace=ws, needs_approval=True, review_state=State.IN_REVIEW)
    PostFactory(workspace=ws, needs_approval=True, review_state=State.APPROVED)
    listed = api(user).get("/api/v1/posts/", {"review_state": "in_review"}).json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert [p["id"] for p in rows] == [waiting.id]
    bad = api(user).get("/api/v1/posts/", {"review_state": "maybe"})
    assert bad.status_code == 400 and "review_state" in bad.json()


def test_a_mention_is_news_each_time_and_seen_by_that_member_alone(
    client, ws, django_capture_on_commit_callbacks
):
    writer = person(ws, Role.OWNER, user__username="writer")
    alice = person(ws, Role.APPROVER, user__username="alice")
    post = PostFactory(workspace=ws)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        comments.comment_create(post=post, user=writer, text="@alice first")
        comments.comment_create(post=post, user=writer, text="@alice second")
    assert len(callbacks) == 2  # two emails, not one folded notice
    first, _second = Notice.objects.filter(kind=Notice.Kind.MENTIONED).order_by("id")

    client.force_login(writer)
    assert "@alice first" not in client.get("/").content.decode()
    assert client.post(f"/notices/{first.id}/dismiss/").status_code == 404

    client.force_login(alice)
    page = client.get("/").content.decode()
    assert "alice first" in page and "alice second" in page
    assert client.post(f"/notices/{first.id}/dismiss/").status_code == 302  # an approver may
    first.refresh_from_db()
    assert first.dismissed_at is not None


def test_the_composer_offers_each_role_its_own_actions(client, ws):
    post = PostFactory(workspace=ws, needs_approval=True)
    PostComment.objects.create(post=post, text="Read me")
    expected = {
        Role.EDITOR: ("/review/submit/", "/comments/"),
        Role.VIEWER: (),
    }
    for role, present in expected.items():
        client.force_login(person(ws, role))
        page = client.get(f"/posts/{post.id}/").content.decode()
        assert "Read me" in page, role  # everyone reads the thread
        for path in ("/review/submit/", "/review/approve/", "/comments/"):
            assert (f"/posts/{post.id}{path}" in page) == (path in present), (role, path)
