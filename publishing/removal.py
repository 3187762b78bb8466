"""Deleting what never published (issue 13, item 5): a channel or a post with no delivery.

Archiving (a post) and pausing (a channel) stay the default: they keep the history. Delete
is for mistakes, so it is refused as soon as anything was sent for them — a delivery is the
record of what went out (at most once), and deleting it would let the account's history
lie. Coming slots go with the row; their broker messages then find no slot and do nothing.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.activity import activity_record
from accounts.models import ActivityAction
from channels.models import Channel
from posts.models import Post, PostImage
from publishing.models import Delivery


def channel_delete(*, channel: Channel) -> None:
    """Delete a channel that never delivered anything (schedules, queue and slots too)."""
    with transaction.atomic():
        locked = Channel.objects.select_for_update().get(pk=channel.pk)
        if Delivery.objects.filter(timeslot__channel=locked).exists():
            raise ValidationError(
                f"{locked.name} has published before, so it is kept with its history. "
                "Pause it instead: nothing is planned or published while it is paused."
            )
        # Recorded first, with its id and name: the log keeps it after the row is gone.
        activity_record(
            workspace_id=locked.workspace_id, action=ActivityAction.CHANNEL_DELETED, channel=locked
        )
        locked.delete()


def post_delete(*, post: Post) -> None:
    """Delete a post that was never delivered anywhere (queue entries, pinned slots and
    images too; the image files after the commit)."""
    with transaction.atomic():
        locked = Post.objects.select_for_update().get(pk=post.pk)
        if Delivery.objects.filter(post=locked).exists() or locked.published_timeslots.exists():
            raise ValidationError(
                "This post has been published, so it is kept with its history. "
                "Archive it instead: it leaves every queue and its pinned slots are canceled."
            )
        files = [image.file for image in PostImage.objects.filter(post=locked)]
        activity_record(
            workspace_id=locked.workspace_id, action=ActivityAction.POST_DELETED, post=locked
        )
        locked.delete()
        for file in files:
            transaction.on_commit(lambda file=file: file.delete(save=False))
