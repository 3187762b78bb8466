"""Approval (issue 27, item 2): the review state machine, who may do what (in the services),
editing an approved post sends it back to review, and the claim takes only approved posts —
skipping unapproved queue entries, ending an unapproved pinned slot `skipped` with its
reason — at the same query cost."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Membership, Notice
from editor import services as editor
from posts import images, review
from posts.models import Post, PostComment
from publishing import services as publishing
from publishing.models import Delivery
from scheduling.models import Timeslot
from scheduling.reasons import Reason
from tests.factories import (
    ChannelFactory,
    MembershipFactory,
    PostFactory,
    QueueEntryFactory,
    ScheduleFactory,
    WorkspaceFactory,
)

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)
State = Post.ReviewState
Role = Membership.Role


@pytest.fixture
def ws():
    return WorkspaceFactory(needs_approval=True)


def person(ws, role):
    return MembershipFactory(workspace=ws, role=role).user


def test_draft_in_review_approved_and_changes_requested_with_a_note(ws):
    editor_user, approver = person(ws, Role.EDITOR), person(ws, Role.APPROVER)
    post = editor.post_create(workspace=ws, text="Launch day", author=editor_user)
    assert (post.needs_approval, post.review_state) == (True, State.DRAFT)

    review.post_submit_for_review(post=post, user=editor_user)
    assert post.review_state == State.IN_REVIEW
    review.post_request_changes(post=post, user=approver, note="Say which day")
    post.refresh_from_db()
    assert post.review_state == State.CHANGES_REQUESTED
    assert post.reviewed_by == approver
    note = PostComment.objects.get(post=post)
    assert (note.text, note.author, note.is_review_note) == ("Say which day", approver, True)
    told = Notice.objects.get(kind=Notice.Kind.CHANGES_REQUESTED)
    assert told.subject == f"user:{editor_user.id}" and "Say which day" in told.message

    review.post_submit_for_review(post=post, user=editor_user)
    review.post_approve(post=post, user=approver)
    post.refresh_from_db()
    assert post.review_state == State.APPROVED
    assert post.awaits_approval is False


def test_transitions_from_the_wrong_state_are_refused_with_a_message(ws):
    owner = person(ws, Role.OWNER)
    post = PostFactory(workspace=ws, needs_approval=True)
    with pytest.raises(ValidationError, match="only a post in review is approved"):
        review.post_approve(post=post, user=owner)
    review.post_submit_for_review(post=post, user=owner)
    with pytest.raises(ValidationError, match="only a draft"):
        review.post_submit_for_review(post=post, user=owner)
    with pytest.raises(ValidationError, match="note is empty"):
        review.post_request_changes(post=post, user=owner, note="  ")
    assert Post.objects.get(id=post.id).review_state == State.IN_REVIEW


@pytest.mark.parametrize(
    ("role", "may_write", "may_approve"),
    [
        (Role.OWNER, True, True),
        (Role.EDITOR, True, False),
        (Role.APPROVER, False, True),
        (Role.VIEWER, False, False),
    ],
)
def test_roles_in_the_services(ws, role, may_write, may_approve):
    user = person(ws, role)
    post = PostFactory(workspace=ws, needs_approval=True)
    if may_write:
        review.post_submit_for_review(post=post, user=user)
    else:
        with pytest.raises(PermissionDenied):
            review.post_submit_for_review(post=post, user=user)
        Post.objects.filter(id=post.id).update(review_state=State.IN_REVIEW)
    if may_approve:
        review.post_approve(post=post, user=user)
        assert Post.objects.get(id=post.id).review_state == State.APPROVED
    else:
        with pytest.raises(PermissionDenied):
            review.post_approve(post=post, user=user)
        with pytest.raises(PermissionDenied):
            review.post_request_changes(post=post, user=user, note="no")
        assert Post.objects.get(id=post.id).review_state == State.IN_REVIEW


def test_a_member_of_another_workspace_can_do_nothing(ws):
    stranger = person(WorkspaceFactory(), Role.OWNER)
    post = PostFactory(workspace=ws, needs_approval=True, review_state=State.IN_REVIEW)
    with pytest.raises(PermissionDenied):
        review.post_approve(post=post, user=stranger)
    with pytest.raises(PermissionDenied):
        review.post_submit_for_review(post=post, user=stranger)


def test_approvers_and_viewers_never_write_a_post_on_the_web(client, ws):
    post = PostFactory(workspace=ws, text="Before")
    for role in (Role.APPROVER, Role.VIEWER):
        client.force_login(person(ws, role))
        response = client.post(f"/posts/{post.id}/", {"text": "After"})
        assert response.status_code == 403
        assert client.post("/posts/new/", {"text": "New"}).status_code == 403
    assert Post.objects.get(id=post.id).text == "Before"
    assert Post.objects.count() == 1


def test_the_settings_decide_which_posts_need_approval():
    ws = WorkspaceFactory()
    owner = person(ws, Role.OWNER)
    careful = MembershipFactory(workspace=ws, role=Role.EDITOR)
    trusted = person(ws, Role.EDITOR)
    theirs = editor.post_create(workspace=ws, text="a", author=careful.user)
    mine = editor.post_create(workspace=ws, text="b", author=trusted)
    assert not theirs.needs_approval

    review.member_set_needs_approval(member=careful, user=owner, needs_approval=True)
    assert Post.objects.get(id=theirs.id).needs_approval
    assert not Post.objects.get(id=mine.id).needs_approval
    later = editor.post_create(workspace=ws, text="c", author=careful.user)
    assert later.needs_approval

    review.workspace_set_needs_approval(workspace=ws, user=owner, needs_approval=True)
    assert set(Post.objects.values_list("needs_approval", flat=True)) == {True}
    review.workspace_set_needs_approval(workspace=ws, user=owner, needs_approval=False)
    assert dict(Post.objects.values_list("id", "needs_approval")) == {
        theirs.id: True,
        mine.id: False,
        later.id: True,
    }
    with pytest.raises(PermissionDenied):
        review.workspace_set_needs_approval(workspace=ws, user=trusted, needs_approval=True)


def approved_post(ws, **fields) -> Post:
    return PostFactory(
        workspace=ws,
        needs_approval=True,
        review_state=State.APPROVED,
        thread_parts=["two"],
        **fields,
    )


def test_editing_text_or_thread_of_an_approved_post_sends_it_back_to_review(ws):
    post = approved_post(ws)
    editor.post_update(post=post, text=post.text, expires_at=None)  # nothing changed
    assert Post.objects.get(id=post.id).review_state == State.APPROVED
    editor.post_update(post=post, text="New words", expires_at=None)
    assert Post.objects.get(id=post.id).review_state == State.IN_REVIEW

    post = approved_post(ws)
    editor.post_update(post=post, text=post.text, thread_parts=["changed"], expires_at=None)
    assert Post.objects.get(id=post.id).review_state == State.IN_REVIEW

    free = PostFactory(workspace=WorkspaceFactory(), review_state=State.APPROVED)
    editor.post_update(post=free, text="New words", expires_at=None)
    assert Post.objects.get(id=free.id).review_state == State.APPROVED  # needs none


def test_adding_or_removing_an_image_sends_an_approved_post_back_to_review(ws, tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path)
    from tests.posts.test_images import png  # the project's own small image

    post = approved_post(ws)
    image = images.post_image_add(post=post, data=png(), filename="a.png")
    assert Post.objects.get(id=post.id).review_state == State.IN_REVIEW
    Post.objects.filter(id=post.id).update(review_state=State.APPROVED)
    images.post_image_remove(image=image)
    assert Post.objects.get(id=post.id).review_state == State.IN_REVIEW


# --- The claim -------------------------------------------------------------------------------


def run(slots: list[Timeslot], at: dt.datetime) -> None:
    with time_machine.travel(at, tick=False):
        publishing.timeslots_publish(pairs=[(s.id, str(s.token)) for s in slots])
    for s in slots:
        s.refresh_from_db()


def queue_slot(channel, at=T0) -> Timeslot:
    schedule = ScheduleFactory(channel=channel)
    return Timeslot.objects.create(
        channel=channel, schedule=schedule, publish_at=at, planned_for=at
    )


def test_a_queue_slot_skips_unapproved_posts_and_takes_the_next_approved_one(ws):
    channel = ChannelFactory(workspace=ws)
    states = [State.IN_REVIEW, State.DRAFT, State.APPROVED, State.CHANGES_REQUESTED]
    posts = [
        QueueEntryFactory(
            channel=channel,
            position=i,
            post__text=f"p{i}",
            post__needs_approval=True,
            post__review_state=state,
        ).post
        for i, state in enumerate(states)
    ]
    slot = queue_slot(channel)
    run([slot], T0)
    assert slot.status == Timeslot.Status.PUBLISHING
    assert slot.published_post_id == posts[2].id
    assert Delivery.objects.get(timeslot=slot).text == "p2"


def test_a_queue_of_only_unapproved_posts_is_skipped_as_empty(ws):
    channel = ChannelFactory(workspace=ws)
    QueueEntryFactory(channel=channel, post__needs_approval=True)
    slot = queue_slot(channel)
    run([slot], T0)
    assert (slot.status, slot.reason_code) == (Timeslot.Status.SKIPPED, Reason.QUEUE_EMPTY)


def test_a_pinned_unapproved_post_ends_skipped_not_approved_by_its_time(ws):
    channel = ChannelFactory(workspace=ws)
    post = PostFactory(workspace=ws, needs_approval=True, review_state=State.IN_REVIEW)
    slot = Timeslot.objects.create(channel=channel, post=post, publish_at=T0)
    run([slot], T0)
    assert (slot.status, slot.reason_code) == (Timeslot.Status.SKIPPED, Reason.NOT_APPROVED)
    assert slot.reason == "Skipped: the pinned post was not approved by its time."
    assert not Delivery.objects.filter(timeslot=slot).exists()


def test_a_pinned_approved_post_publishes(ws):
    channel = ChannelFactory(workspace=ws)
    post = approved_post(ws)
    slot = Timeslot.objects.create(channel=channel, post=post, publish_at=T0)
    run([slot], T0)
    assert slot.status == Timeslot.Status.PUBLISHING
    assert Delivery.objects.filter(timeslot=slot).count() == 1


def _batch_queries(*, needs_approval: bool, state: str) -> int:
    ws = WorkspaceFactory(needs_approval=needs_approval)
    channels = [ChannelFactory(workspace=ws) for _ in range(3)]
    slots = []
    for i, channel in enumerate(channels):
        for j in range(3):
            QueueEntryFactory(
                channel=channel,
                position=j,
                post__needs_approval=needs_approval,
                post__review_state=State.APPROVED if j else state,
            )
        slots.append(queue_slot(channel, T0 + dt.timedelta(hours=i * 0)))
        pinned = PostFactory(workspace=ws, needs_approval=needs_approval, review_state=state)
        slots.append(Timeslot.objects.create(channel=channel, post=pinned, publish_at=T0))
    with time_machine.travel(T0, tick=False), CaptureQueriesContext(connection) as ctx:
        publishing.timeslots_publish(pairs=[(s.id, str(s.token)) for s in slots])
    return len(ctx)


def test_the_claim_costs_the_same_queries_with_approval():
    without = _batch_queries(needs_approval=False, state=State.DRAFT)
    approved = _batch_queries(needs_approval=True, state=State.APPROVED)
    unapproved = _batch_queries(needs_approval=True, state=State.IN_REVIEW)
    assert without == approved
    # Skipping (a pinned slot ends, a queue takes the next entry) adds no query of its
    # own: it writes its final status in one UPDATE per (status, reason), as every skip
    # does, and records its `timeslot.skipped` events in one INSERT (integrations).
    assert unapproved <= without + 2


def test_share_now_of_an_unapproved_post_is_refused_with_the_way_out(ws):
    from scheduling.services import post_share_now

    channel = ChannelFactory(workspace=ws)
    post = PostFactory(workspace=ws, needs_approval=True, review_state=State.IN_REVIEW)
    with pytest.raises(ValidationError, match="needs approval"):
        post_share_now(post=post, channel=channel)
    assert not Timeslot.objects.filter(post=post).exists()
    Post.objects.filter(id=post.id).update(review_state=State.APPROVED)
    assert post_share_now(post=post, channel=channel).post_id == post.id


def test_an_approver_changes_no_slot_and_makes_no_feed(client, ws):
    channel = ChannelFactory(workspace=ws)
    post = PostFactory(workspace=ws)
    slot = Timeslot.objects.create(
        channel=channel, post=post, publish_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    )
    approver = MembershipFactory(workspace=ws, role=Role.APPROVER)
    client.force_login(approver.user)
    assert client.post(f"/slots/{slot.id}/cancel/").status_code == 403
    assert client.post(f"/posts/{post.id}/share/", {"channel": channel.id}).status_code == 403
    assert Timeslot.objects.get(id=slot.id).status == Timeslot.Status.SCHEDULED
    from scheduling.feeds import feed_create

    with pytest.raises(PermissionDenied):
        feed_create(workspace=ws, membership=approver)


@pytest.mark.parametrize("role", [Membership.Role.APPROVER, Membership.Role.VIEWER])
def test_the_post_services_refuse_a_person_who_may_not_write(role):
    """Checked in the services, not only in the views: whatever page or endpoint calls
    them, an approver or a viewer never writes a post."""
    from django.core.exceptions import PermissionDenied

    from editor import services as editor_services

    member = MembershipFactory(role=role)
    post = PostFactory(workspace=member.workspace, text="As it was")
    with pytest.raises(PermissionDenied):
        editor_services.post_create(
            workspace=member.workspace, text="New", author=member.user, acting_user=member.user
        )
    with pytest.raises(PermissionDenied):
        editor_services.post_update(post=post, text="Changed", acting_user=member.user)
    post.refresh_from_db()
    assert post.text == "As it was"
    assert Post.objects.count() == 1
