"""Composing posts: validate against every network the post will reach, then queue or pin.

The web form, the API, the admin and the CSV import all call these, so a text that X would
reject is refused the same way everywhere, with X's weighted count in the message. It lives
in `publishing` because it asks the providers (DESIGN §1: the layer that may import them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from accounts.models import SocialAccount, Workspace
from channels.models import Channel
from channels.services import queue_entry_add
from posts.models import Post, Variation
from publishing.providers import get_provider, validate_for
from scheduling.models import Timeslot
from scheduling.services import post_archive, timeslot_pin


def accounts_to_check(*, channels: Sequence[Channel]) -> list[SocialAccount]:
    """The accounts whose rules a text for these channels must meet (text_errors)."""
    return list(
        SocialAccount.objects.filter(channels__in=channels)
        .exclude(status=SocialAccount.Status.DISABLED)
        .order_by("provider", "id")
        .distinct()
        .only("id", "provider", "options")
    )


def text_errors(
    *,
    text: str,
    channels: Sequence[Channel],
    accounts: Sequence[SocialAccount] | None = None,
) -> list[str]:
    """Every reason a network of these channels would refuse `text` (empty list = fine).

    `accounts`: accounts_to_check(channels=...) computed once by a caller that checks many
    texts for the same channels (the CSV import's preview)."""
    if not text or not text.strip():
        return ["The text is empty."]
    if "\x00" in text:
        # PostgreSQL cannot store NUL in text; refuse it here with a message, not a 500.
        return ["The text contains a NUL character (\\x00); remove it."]
    if accounts is None:
        accounts = accounts_to_check(channels=channels)
    errors: list[str] = []
    for account in accounts:
        # Per account: a Mastodon instance sets its own limit (validate_for passes the
        # account to providers whose rules depend on it).
        for error in validate_for(get_provider(account.provider), text, account):
            if error not in errors:
                errors.append(error)
    return errors


def _validate_texts(texts: Sequence[str], channels: Sequence[Channel]) -> None:
    errors: list[str] = []
    for index, text in enumerate(texts):
        label = "Text" if index == 0 else f"Variation {index}"
        errors.extend(f"{label}: {e}" for e in text_errors(text=text, channels=channels))
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def post_create(
    *,
    workspace: Workspace,
    text: str,
    channels: Sequence[Channel] = (),
    author=None,
    variations: Sequence[str] = (),
    status: str = Post.Status.READY,
    expires_at: dt.datetime | None = None,
    publish_at: dt.datetime | None = None,
    publish_at_by_channel: Mapping[int, dt.datetime] | None = None,
) -> Post:
    """Create a post; queue it in each channel, or pin it to `publish_at` on each channel.

    `publish_at_by_channel` ({channel id: aware instant}) pins it at a different instant per
    channel: one wall-clock time read in each channel's zone (API, naive `publish_at`).
    """
    foreign = [c.slug for c in channels if c.workspace_id != workspace.id]
    if foreign:
        raise ValidationError(f"Unknown channel(s): {', '.join(foreign)}")
    variations = [v for v in variations if v and v.strip()]
    _validate_texts([text, *variations], channels)
    post = Post.objects.create(
        workspace=workspace, author=author, text=text, status=status, expires_at=expires_at
    )
    Variation.objects.bulk_create(
        [Variation(post=post, text=v, position=i) for i, v in enumerate(variations, start=1)]
    )
    for channel in channels:
        at = publish_at_by_channel.get(channel.id) if publish_at_by_channel else publish_at
        if at is not None:
            timeslot_pin(post=post, channel=channel, publish_at=at)
        else:
            queue_entry_add(channel=channel, post=post)
    return post


@transaction.atomic
def post_update(
    *, post: Post, text: str, variations: Sequence[str] | None = None, expires_at=None, status=None
) -> Post:
    # Every channel the post can still reach: its queues and its scheduled pinned slots.
    channels = list(
        Channel.objects.filter(
            Q(entries__post=post)
            | Q(timeslots__post=post, timeslots__status=Timeslot.Status.SCHEDULED)
        ).distinct()
    )
    new_variations = (
        [v for v in variations if v and v.strip()]
        if variations is not None
        else [v.text for v in post.variations.all()]
    )
    _validate_texts([text, *new_variations], channels)
    archiving = status == Post.Status.ARCHIVED and post.status != Post.Status.ARCHIVED
    post.text = text
    post.expires_at = expires_at
    if status is not None and not archiving:
        post.status = status
    post.save()
    if archiving:
        # One way to archive, whichever form or endpoint asked: its pinned slots go too.
        post_archive(post=post)
    if variations is not None:
        post.variations.all().delete()
        Variation.objects.bulk_create(
            [
                Variation(post=post, text=v, position=i)
                for i, v in enumerate(new_variations, start=1)
            ]
        )
    return post
