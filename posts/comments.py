"""A post's comment thread: notes of owners, editors and approvers (viewers read them).

"@username" mentions a member of the post's workspace: they get a notice of their own
(subject "user:<id>", seen by them alone, emailed to them after commit by
accounts.services), one per comment that mentions them.
A name that is no member of the workspace is left as text and tells nobody.
"""

from __future__ import annotations

import re

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from accounts.models import APPROVER_ROLES, COMMENT_ROLES, POST_WRITE_ROLES, Membership, Notice
from accounts.services import PERSON_SUBJECT, notice_create
from posts.models import Post, PostComment, word_preview
from posts.review import role_of

MAX_COMMENT = 5000
# Django's username characters (letters, digits and @.+-_), after an @ that starts a word.
MENTION = re.compile(r"(?<![\w@])@([\w.+-]+[\w+-]|[\w])")


def mentioned_names(text: str) -> list[str]:
    """The usernames a text mentions, in order, once each."""
    return list(dict.fromkeys(MENTION.findall(text)))


@transaction.atomic
def comment_create(*, post: Post, user, text: str) -> PostComment:
    """Add a note under the post and tell each member it mentions (not the writer)."""
    if role_of(workspace_id=post.workspace_id, user=user) not in COMMENT_ROLES:
        raise PermissionDenied("Viewers read comments but do not write them.")
    text = (text or "").strip()
    if not text:
        raise ValidationError("The comment is empty.")
    if len(text) > MAX_COMMENT:
        raise ValidationError(f"A comment has at most {MAX_COMMENT} characters.")
    if "\x00" in text:
        raise ValidationError("The comment contains a NUL character (\\x00); remove it.")
    comment = PostComment.objects.create(post=post, author=user, text=text)
    names = mentioned_names(text)
    if names:
        members = (
            Membership.objects.filter(workspace_id=post.workspace_id, user__username__in=names)
            .exclude(user=user)
            .values_list("user_id", flat=True)
        )
        for user_id in members:
            notice_create(
                workspace_id=post.workspace_id,
                kind=Notice.Kind.MENTIONED,
                message=(
                    f"{user.get_username()} mentioned you on “{word_preview(post.text)}”: "
                    f"{word_preview(text, 200)}"
                ),
                subject=f"{PERSON_SUBJECT}{user_id}",
                fold=False,  # each mention is news: its own notice and email
            )
    return comment


def comments_of(*, post: Post):
    """The post's thread, oldest first, with each author (one query)."""
    return PostComment.objects.filter(post=post).select_related("author")


def thread_context(*, post: Post, role: str | None) -> dict:
    """What the review-and-comments partial (posts/_review.html) shows for a member with
    this role: the state, the actions the role may take, the thread (one query)."""
    return {
        "post": post,
        "comments": list(comments_of(post=post)),
        "can_submit": role in POST_WRITE_ROLES,
        "can_approve": role in APPROVER_ROLES,
        "can_comment": role in COMMENT_ROLES,
    }
