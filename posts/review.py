"""Approval: a post that needs it goes draft → in review → approved (or changes requested,
with a note in its comments), and only an approved one is taken by a slot (the claim reads
`Post.needs_approval` and `Post.review_state` from the post's own row: channels.sql,
channels.queue_rule, publishing.claim).

Who may do what is decided here, not only in the views: owners and editors write posts and
submit them; owners and approvers approve or ask for changes; an approver (or a viewer)
never writes a post. Every transition is a conditional UPDATE from the state it leaves, so
two approvers clicking at once change the post once. `needs_approval` is the workspace's
setting or the author's membership's, kept on each post by the two setters below.
"""

from __future__ import annotations

import datetime as dt
import secrets
from enum import StrEnum

from django.conf import settings
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from accounts.activity import activity_record
from accounts.models import (
    APPROVER_ROLES,
    POST_WRITE_ROLES,
    ActivityAction,
    EventType,
    Membership,
    Notice,
    Workspace,
)
from accounts.outbox import record_event
from accounts.services import PERSON_SUBJECT, notice_create
from posts.models import Post, PostComment, ReviewLink, word_preview

State = Post.ReviewState
MAX_NOTE = 5000
LINK_SALT = "posts.review-link"


def role_of(*, workspace_id: int, user) -> str | None:
    """The user's role in the workspace, or None for a stranger (one query)."""
    if user is None or not user.is_authenticated:
        return None
    return (
        Membership.objects.filter(workspace_id=workspace_id, user=user)
        .values_list("role", flat=True)
        .first()
    )


def check_can_write(*, workspace_id: int, user) -> None:
    """Owners and editors write posts; approvers and viewers never do."""
    if role_of(workspace_id=workspace_id, user=user) not in POST_WRITE_ROLES:
        raise PermissionDenied("Only owners and editors change posts.")


def check_can_approve(*, workspace_id: int, user) -> None:
    if role_of(workspace_id=workspace_id, user=user) not in APPROVER_ROLES:
        raise PermissionDenied("Only owners and approvers approve posts.")


def approval_required(*, workspace: Workspace, author_id: int | None) -> bool:
    """Whether a post of this author in this workspace needs approval now."""
    if workspace.needs_approval:
        return True
    if author_id is None:
        return False
    return Membership.objects.filter(
        workspace=workspace, user_id=author_id, needs_approval=True
    ).exists()


def _refresh(posts) -> int:
    """Set needs_approval on these posts from their workspace's and author's settings
    (two UPDATEs, however many posts)."""
    flagged = Membership.objects.filter(
        workspace_id=OuterRef("workspace_id"), user_id=OuterRef("author_id"), needs_approval=True
    )
    on = posts.filter(workspace__needs_approval=True) | posts.filter(Exists(flagged))
    changed = on.filter(needs_approval=False).update(needs_approval=True)
    return changed + posts.exclude(id__in=on.values("id")).filter(needs_approval=True).update(
        needs_approval=False
    )


@transaction.atomic
def workspace_set_needs_approval(*, workspace: Workspace, user, needs_approval: bool) -> Workspace:
    """Owners turn the workspace's approval on or off. On: every post not approved yet
    waits for an approver (the queue takes only approved ones from now on)."""
    if role_of(workspace_id=workspace.id, user=user) != Membership.Role.OWNER:
        raise PermissionDenied("Only owners change the workspace's settings.")
    Workspace.objects.filter(id=workspace.id).update(needs_approval=needs_approval)
    workspace.needs_approval = needs_approval
    activity_record(
        workspace_id=workspace.id,
        action=ActivityAction.SETTINGS_CHANGED,
        target="Posts need approval",
        details={"needs_approval": needs_approval},
        actor_id=user.pk,
    )
    _refresh(Post.objects.filter(workspace=workspace))
    return workspace


@transaction.atomic
def member_set_needs_approval(*, member: Membership, user, needs_approval: bool) -> Membership:
    """Owners say whether this member's posts need approval."""
    if role_of(workspace_id=member.workspace_id, user=user) != Membership.Role.OWNER:
        raise PermissionDenied("Only owners change a member's settings.")
    Membership.objects.filter(id=member.id).update(needs_approval=needs_approval)
    member.needs_approval = needs_approval
    activity_record(
        workspace_id=member.workspace_id,
        action=ActivityAction.SETTINGS_CHANGED,
        target=f"{member.user.get_username()}'s posts need approval",
        details={"needs_approval": needs_approval, "member": member.user_id},
        actor_id=user.pk,
    )
    _refresh(Post.objects.filter(workspace_id=member.workspace_id, author_id=member.user_id))
    return member


class Transition(StrEnum):
    SUBMIT = "submit"
    APPROVE = "approve"
    REQUEST_CHANGES = "request_changes"
    BACK_TO_REVIEW = "back_to_review"


# What each transition leaves from, and where it goes.
_MOVES: dict[Transition, tuple[frozenset[str], str]] = {
    Transition.SUBMIT: (frozenset({State.DRAFT, State.CHANGES_REQUESTED}), State.IN_REVIEW),
    Transition.APPROVE: (frozenset({State.IN_REVIEW}), State.APPROVED),
    Transition.REQUEST_CHANGES: (frozenset({State.IN_REVIEW}), State.CHANGES_REQUESTED),
    Transition.BACK_TO_REVIEW: (frozenset({State.APPROVED}), State.IN_REVIEW),
}


def _move(post: Post, transition: Transition, *, user=None) -> bool:
    sources, target = _MOVES[transition]
    now = timezone.now()
    fields: dict = {"review_state": target}
    if transition in (Transition.APPROVE, Transition.REQUEST_CHANGES):
        fields |= {"reviewed_by": user, "reviewed_at": now}
    else:
        # A new review round: the approvers are told again, old email links stop working.
        fields |= {"review_due_notified_at": None}
    if not Post.objects.filter(id=post.id, review_state__in=sources).update(**fields):
        return False
    ReviewLink.objects.filter(post_id=post.id, used_at__isnull=True).update(expires_at=now)
    for name, value in fields.items():
        setattr(post, name, value)
    return True


def _reviewed(
    post: Post, *, user, action: ActivityAction, event: EventType, note: str = ""
) -> None:
    """An approver's decision: one activity entry, and one outbound event (integrations),
    in the decision's transaction."""
    activity_record(workspace_id=post.workspace_id, action=action, post=post, actor_id=user.pk)
    facts = {
        "post": post.id,
        "review_state": post.review_state,
        "reviewed_by": user.get_username(),
        "reviewed_at": post.reviewed_at.isoformat() if post.reviewed_at else None,
    }
    if note:
        facts["note"] = note
    record_event(workspace_id=post.workspace_id, type=event, payload=facts)


def _refuse(post: Post, action: str) -> None:
    raise ValidationError(f"This post is {post.get_review_state_display().lower()}: {action}.")


@transaction.atomic
def post_submit_for_review(*, post: Post, user) -> Post:
    check_can_write(workspace_id=post.workspace_id, user=user)
    post.refresh_from_db(fields=["review_state"])
    if not _move(post, Transition.SUBMIT):
        _refuse(post, "only a draft or a post with changes requested is submitted")
    return post


@transaction.atomic
def post_approve(*, post: Post, user) -> Post:
    check_can_approve(workspace_id=post.workspace_id, user=user)
    post.refresh_from_db(fields=["review_state"])
    if not _move(post, Transition.APPROVE, user=user):
        _refuse(post, "only a post in review is approved")
    _reviewed(post, user=user, action=ActivityAction.POST_APPROVED, event=EventType.POST_APPROVED)
    return post


@transaction.atomic
def post_request_changes(*, post: Post, user, note: str) -> Post:
    """Send the post back to its author with a note, which lands in its comments."""
    check_can_approve(workspace_id=post.workspace_id, user=user)
    note = (note or "").strip()
    if not note:
        raise ValidationError("Say what should change: the note is empty.")
    if len(note) > MAX_NOTE or "\x00" in note:
        raise ValidationError(f"A note has at most {MAX_NOTE} characters and no NUL.")
    post.refresh_from_db(fields=["review_state"])
    if not _move(post, Transition.REQUEST_CHANGES, user=user):
        _refuse(post, "only a post in review gets changes requested")
    PostComment.objects.create(post=post, author=user, text=note, is_review_note=True)
    _reviewed(
        post,
        user=user,
        action=ActivityAction.POST_CHANGES_REQUESTED,
        event=EventType.POST_CHANGES_REQUESTED,
        note=note,
    )
    if post.author_id and post.author_id != user.id:
        # The author hears of it (a notice of their own, emailed to them after commit).
        notice_create(
            workspace_id=post.workspace_id,
            kind=Notice.Kind.CHANGES_REQUESTED,
            message=(
                f"{user.get_username()} asked for changes to “{word_preview(post.text)}”: "
                f"{word_preview(note, 200)}"
            ),
            subject=f"{PERSON_SUBJECT}{post.author_id}",
            fold=False,
        )
    return post


def post_edited(*, post: Post) -> bool:
    """Its text, images or thread changed: an approved post that needs approval goes back
    to review (the services that edit call this; not a signal). True when it went back."""
    if not post.needs_approval:
        return False
    return _move(post, Transition.BACK_TO_REVIEW)


# --- One-time links in the approvers' emails -----------------------------------------------


def review_link_create(*, post: Post, user, now: dt.datetime) -> ReviewLink:
    return ReviewLink.objects.create(
        post=post,
        user=user,
        nonce=secrets.token_hex(16),
        expires_at=now + settings.REVIEW_LINK_MAX_AGE,
    )


def review_link_token(link: ReviewLink) -> str:
    return signing.dumps({"l": link.id, "n": link.nonce}, salt=LINK_SALT, compress=True)


class LinkProblem(StrEnum):
    INVALID = "This link is not valid."
    EXPIRED = "This link has expired; approve from the review page instead."
    USED = "This link was already used."
    STALE = "This post is no longer waiting for this review."


def review_link_check(
    *, token: str, now: dt.datetime
) -> tuple[ReviewLink | None, LinkProblem | None]:
    """The link a token names, or why it does not work (nothing is changed)."""
    try:
        data = signing.loads(
            token,
            salt=LINK_SALT,
            max_age=settings.REVIEW_LINK_MAX_AGE.total_seconds(),
        )
    except signing.SignatureExpired:
        return None, LinkProblem.EXPIRED
    except signing.BadSignature:
        return None, LinkProblem.INVALID
    if not isinstance(data, dict) or not isinstance(data.get("l"), int):
        return None, LinkProblem.INVALID
    link = ReviewLink.objects.select_related("post", "user").filter(id=data["l"]).first()
    if link is None or not constant_time_compare(str(data.get("n", "")), link.nonce):
        return None, LinkProblem.INVALID
    if link.used_at is not None:
        return link, LinkProblem.USED
    if link.expires_at <= now:
        # Expired by time, or by a new review round (_move sets expires_at to then).
        if link.post.review_state != State.IN_REVIEW:
            return link, LinkProblem.STALE
        return link, LinkProblem.EXPIRED
    if link.post.review_state != State.IN_REVIEW:
        return link, LinkProblem.STALE
    return link, None


@transaction.atomic
def review_link_use(
    *, token: str, approve: bool, note: str = "", now: dt.datetime | None = None
) -> Post:
    """Approve (or ask for changes) through an email link: once, before it expires, by the
    approver it was made for (who must still be one). ValidationError says why not."""
    now = now or timezone.now()
    link, problem = review_link_check(token=token, now=now)
    if problem is not None:
        raise ValidationError(problem.value)
    if not approve and not (note or "").strip():
        raise ValidationError("Say what should change: the note is empty.")
    # Single use: only the request that sets used_at goes on.
    if not ReviewLink.objects.filter(id=link.id, used_at__isnull=True).update(used_at=now):
        raise ValidationError(LinkProblem.USED.value)
    if approve:
        return post_approve(post=link.post, user=link.user)
    return post_request_changes(post=link.post, user=link.user, note=note)
