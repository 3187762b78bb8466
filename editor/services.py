"""Composing posts: validate against every network the post will reach, then queue or pin.

The web form, the API, the admin, the CSV import and the feeds all call these, so a text
that X would reject is refused the same way everywhere, with X's weighted count in the
message. The editor's service sits above publishing (it asks the networks' rules and pins
through scheduling) and below bulk, whose import and feeds create posts through it; the
editor's pages, API and forms sit on top with every app's web modules (README,
"Architecture").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from accounts.activity import activity_record
from accounts.models import ActivityAction, SocialAccount, Workspace
from channels.models import Channel
from channels.services import queue_entry_add
from links.rewrite import as_sent
from networks import get_provider, limit_for, registry, validate_for
from posts.labels import post_labels_set
from posts.models import MAX_COMMENT_DELAY, MAX_TEXT, MAX_THREAD_PARTS, Label, Post, Variation
from posts.review import approval_required, check_can_write, post_edited
from scheduling.models import Timeslot
from scheduling.services import post_archive, post_share_now, timeslot_pin


def accounts_to_check(*, channels: Sequence[Channel]) -> list[SocialAccount]:
    """The accounts whose rules a text for these channels must meet (text_errors)."""
    return list(
        SocialAccount.objects.filter(channels__in=channels)
        .exclude(status=SocialAccount.Status.DISABLED)
        .order_by("provider", "id")
        .distinct()
        .only("id", "provider", "options")
    )


def sent_forms(text: str, channels: Sequence[Channel]) -> list[str]:
    """The text as each of these channels will send it: a channel that counts clicks sends
    every link as a short link of a fixed length (links/), which the networks count like
    any link (X's and Mastodon's 23) and the others by its characters. Both forms when the
    channels differ: a text must fit either way."""
    counting = {bool(c.count_clicks) for c in channels}
    if True not in counting:
        return [text]
    short = as_sent(text)
    if short == text:
        return [text]
    return [short] if counting == {True} else [text, short]


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
    forms = sent_forms(text, channels)
    errors: list[str] = []
    for account in accounts:
        # Per account: a Mastodon instance sets its own limit (validate_for passes the
        # account to providers whose rules depend on it).
        for form in forms:
            for error in validate_for(get_provider(account.provider), form, account):
                if error not in errors:
                    errors.append(error)
    return errors


# --- Counting per network (the composer's counters and previews) -------------------------


@dataclass(frozen=True)
class PartCount:
    count: int
    limit: int
    errors: tuple[str, ...]

    @property
    def over(self) -> bool:
        return self.count > self.limit

    @property
    def near(self) -> bool:
        return not self.over and self.limit - self.count < 20


@dataclass(frozen=True)
class NetworkCount:
    provider: str
    name: str
    how: str
    parts: tuple[PartCount, ...]

    @property
    def over(self) -> bool:
        return any(p.over or p.errors for p in self.parts)


def network_counts(*, texts: Sequence[str], channels: Sequence[Channel]) -> list[NetworkCount]:
    """For each network the channels' accounts reach (one row per provider and limit): each
    part's count and limit, by the same provider functions that validate on save."""
    rows: dict[tuple, NetworkCount] = {}
    for account in accounts_to_check(channels=channels):
        provider = get_provider(account.provider)
        limit = limit_for(provider, account)
        name = registry.short_name(account.provider)
        # A network whose accounts live on an instance (Mastodon) sets its own limit there.
        instance = (account.options or {}).get("instance", "")
        if instance:
            name = f"{name} ({instance.split('://', 1)[-1]})"
        key = (account.provider, name, limit)
        if key in rows:
            continue
        parts = tuple(_part_count(provider, text, account, limit, channels) for text in texts)
        how = provider.capabilities.length_counting.description
        rows[key] = NetworkCount(account.provider, name, how, parts)
    return list(rows.values())


def _part_count(provider, text: str, account, limit: int, channels) -> PartCount:
    """The longest of the text's sent forms (sent_forms), and every form's errors."""
    forms = sent_forms(text, channels) if text else [text]
    errors: list[str] = []
    if text.strip():
        for form in forms:
            errors += [e for e in validate_for(provider, form, account) if e not in errors]
    return PartCount(
        count=max(provider.text_length(f) for f in forms) if text else 0,
        limit=limit,
        errors=tuple(errors),
    )


# --- Threads ------------------------------------------------------------------------------

THREAD_SEPARATOR = "---"


def split_thread(text: str) -> list[str]:
    """The parts of a "thread" textarea: separated by lines holding only ---."""
    parts: list[list[str]] = [[]]
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.strip() == THREAD_SEPARATOR:
            parts.append([])
        else:
            parts[-1].append(line)
    return clean_thread_parts("\n".join(p) for p in parts)


def clean_thread_parts(parts) -> list[str]:
    """The non-blank parts, stripped of surrounding blank space."""
    return [p.strip() for p in parts if p and p.strip()]


def thread_errors(*, parts: Sequence[str], channels: Sequence[Channel]) -> list[str]:
    """Every reason a network would refuse a thread's later parts (part 1 is the text)."""
    if len(parts) + 1 > MAX_THREAD_PARTS:
        return [f"A thread has at most {MAX_THREAD_PARTS} parts; this one has {len(parts) + 1}."]
    accounts = accounts_to_check(channels=channels) if parts else []
    return [
        f"Thread part {index}: {error}"
        for index, part in enumerate(parts, start=2)
        for error in text_errors(text=part, channels=channels, accounts=accounts)
    ]


# --- First comment ------------------------------------------------------------------------


def comment_errors(*, comment: str, delay, channels: Sequence[Channel]) -> list[str]:
    """Every reason the first comment or its delay is refused: the delay out of 0 to
    MAX_COMMENT_DELAY minutes, or the comment too long for a network of these channels
    that has comments (the others never get it; the composer says so)."""
    errors: list[str] = []
    if isinstance(delay, bool) or not isinstance(delay, int) or not 0 <= delay <= MAX_COMMENT_DELAY:
        errors.append(
            f"The first comment's delay is a whole number of minutes from 0 to "
            f"{MAX_COMMENT_DELAY}; got {delay!r}."
        )
    if not comment:
        return errors
    if len(comment) > MAX_TEXT:
        return [*errors, f"The first comment is {len(comment)} characters; at most {MAX_TEXT}."]
    if "\x00" in comment:
        return [*errors, "The first comment contains a NUL character (\\x00); remove it."]
    for account in accounts_to_check(channels=channels):
        provider = get_provider(account.provider)
        if not provider.capabilities.first_comment:
            continue
        for error in validate_for(provider, comment, account):
            if f"First comment: {error}" not in errors:
                errors.append(f"First comment: {error}")
    return errors


def _validate_texts(
    texts: Sequence[str],
    channels: Sequence[Channel],
    thread_parts: Sequence[str] = (),
    *,
    comment: str = "",
    delay: int = 0,
) -> None:
    errors: list[str] = []
    for index, text in enumerate(texts):
        label = "Text" if index == 0 else f"Variation {index}"
        errors.extend(f"{label}: {e}" for e in text_errors(text=text, channels=channels))
    errors.extend(thread_errors(parts=thread_parts, channels=channels))
    errors.extend(comment_errors(comment=comment, delay=delay, channels=channels))
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def post_create(
    *,
    workspace: Workspace,
    text: str,
    channels: Sequence[Channel] = (),
    author=None,
    acting_user=None,
    variations: Sequence[str] = (),
    thread_parts: Sequence[str] = (),
    status: str = Post.Status.READY,
    expires_at: dt.datetime | None = None,
    publish_at: dt.datetime | None = None,
    publish_at_by_channel: Mapping[int, dt.datetime] | None = None,
    first_comment: str = "",
    first_comment_delay: int = 0,
    labels: Sequence[Label] = (),
) -> Post:
    """Create a post; queue it in each channel, or pin it to `publish_at` on each channel.

    `publish_at_by_channel` ({channel id: aware instant}) pins it at a different instant per
    channel: one wall-clock time read in each channel's zone (API, naive `publish_at`).
    `thread_parts` makes it a thread: each part is posted as a reply to the one before.
    `first_comment` is posted under the post `first_comment_delay` minutes after it, on the
    networks that have comments.
    """
    if acting_user is not None:
        # The person asking may write posts here (an approver or a viewer never does).
        check_can_write(workspace_id=workspace.id, user=acting_user)
    foreign = [c.slug for c in channels if c.workspace_id != workspace.id]
    if foreign:
        raise ValidationError(f"Unknown channel(s): {', '.join(foreign)}")
    variations = [v for v in variations if v and v.strip()]
    thread_parts = clean_thread_parts(thread_parts)
    first_comment = (first_comment or "").strip()
    _validate_texts(
        [text, *variations],
        channels,
        thread_parts,
        comment=first_comment,
        delay=first_comment_delay,
    )
    post = Post.objects.create(
        workspace=workspace,
        author=author,
        text=text,
        thread_parts=thread_parts,
        first_comment=first_comment,
        first_comment_delay=first_comment_delay,
        status=status,
        expires_at=expires_at,
        # Starts as a draft of the review: submitted by its author (posts.review).
        needs_approval=approval_required(
            workspace=workspace, author_id=author.id if author else None
        ),
    )
    Variation.objects.bulk_create(
        [Variation(post=post, text=v, position=i) for i, v in enumerate(variations, start=1)]
    )
    activity_record(workspace_id=workspace.id, action=ActivityAction.POST_CREATED, post=post)
    if labels:
        post_labels_set(post=post, labels=labels)
    for channel in channels:
        at = publish_at_by_channel.get(channel.id) if publish_at_by_channel else publish_at
        if at is not None:
            timeslot_pin(post=post, channel=channel, publish_at=at)
        else:
            queue_entry_add(channel=channel, post=post)
    return post


@transaction.atomic
def post_update(
    *,
    post: Post,
    text: str,
    variations: Sequence[str] | None = None,
    thread_parts: Sequence[str] | None = None,
    expires_at=None,
    status=None,
    first_comment: str | None = None,
    first_comment_delay: int | None = None,
    labels: Sequence[Label] | None = None,
    acting_user=None,
) -> Post:
    """Change a post; None leaves the variations, thread, first comment or delay as they
    are. A delivery already made keeps the texts it was made with. `acting_user`: the person
    asking (the composer, the API), refused unless they may write posts here (an approver
    or a viewer never does); None for the engine, an import or a command."""
    if acting_user is not None:
        check_can_write(workspace_id=post.workspace_id, user=acting_user)
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
    new_parts = clean_thread_parts(thread_parts) if thread_parts is not None else post.thread_parts
    comment = (first_comment or "").strip() if first_comment is not None else post.first_comment
    delay = first_comment_delay if first_comment_delay is not None else post.first_comment_delay
    _validate_texts([text, *new_variations], channels, new_parts, comment=comment, delay=delay)
    archiving = status == Post.Status.ARCHIVED and post.status != Post.Status.ARCHIVED
    content_changed = (
        text != post.text
        or list(new_parts) != list(post.thread_parts or [])
        or (variations is not None and new_variations != [v.text for v in post.variations.all()])
    )
    post.text = text
    post.thread_parts = new_parts
    post.first_comment = comment
    post.first_comment_delay = delay
    post.expires_at = expires_at
    if status is not None and not archiving:
        post.status = status
    post.save()
    if content_changed:
        # What an approver approved changed: it is reviewed again (posts.review).
        post_edited(post=post)
    activity_record(workspace_id=post.workspace_id, action=ActivityAction.POST_EDITED, post=post)
    if labels is not None:
        post_labels_set(post=post, labels=labels)
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


def _check_fits(*, post: Post, channel: Channel) -> None:
    errors = text_errors(text=post.text, channels=[channel]) + thread_errors(
        parts=post.thread_parts, channels=[channel]
    )
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def post_share(*, post: Post, channel: Channel) -> Timeslot:
    """Share an existing post now on one channel (a pinned slot at this moment), once its
    text fits every account of the channel. The composer's Share now, its list's button
    and the API's share call this."""
    _check_fits(post=post, channel=channel)
    return post_share_now(post=post, channel=channel)


@transaction.atomic
def post_pin(*, post: Post, channel: Channel, publish_at: dt.datetime) -> Timeslot:
    """Pin an existing post to one time on one channel, once its text fits the channel."""
    _check_fits(post=post, channel=channel)
    return timeslot_pin(post=post, channel=channel, publish_at=publish_at)
