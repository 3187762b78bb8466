"""Does the queue still fit its accounts? A channel's queued posts were checked against its
networks when written (publishing/compose.py); an account added later (X's 280 to a queue
written for Mastodon's 500) can make some too long. These reads find them, with the same
per-account check (`validate_for`), so the channel form can warn and the upcoming slots
show the problem before the slot fails. A post with images on a webhook account is a misfit
too when the site cannot give the webhook absolute image URLs (PUBLIC_BASE_URL unset), and a
post without one on a network whose every post needs an image (Instagram: needs_image).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.db.models import Exists, OuterRef

from accounts.models import SocialAccount
from channels.models import Channel, QueueEntry
from networks import get_provider, needs_image, validate_for
from networks.webhook import image_url_problem
from posts.models import Post, PostImage


@dataclass
class Misfit:
    post: Post
    errors: list[str] = field(default_factory=list)

    @property
    def message(self) -> str:
        return " ".join(self.errors)


def _entries(**filters):
    # Whether the post has images is read in the same query (Exists), so checking them
    # costs no query per post.
    return (
        QueueEntry.objects.filter(is_active=True, **filters)
        .select_related("post")
        .prefetch_related("post__variations")
        .annotate(has_images=Exists(PostImage.objects.filter(post_id=OuterRef("post_id"))))
    )


def _check(
    post: Post, accounts: Sequence[SocialAccount], *, has_images: bool = False
) -> Misfit | None:
    misfit = Misfit(post)
    if has_images and (problem := image_url_problem()):
        for account in accounts:
            if account.provider == SocialAccount.Provider.WEBHOOK:
                misfit.errors.append(f"@{account.handle}: {problem}")
    if not has_images:
        for account in accounts:
            if problem := needs_image(get_provider(account.provider)):
                misfit.errors.append(f"@{account.handle}: {problem}")
    for index, text in enumerate(post.texts()):
        label = "" if index == 0 else f"Variation {index}: "
        for account in accounts:
            for error in validate_for(get_provider(account.provider), text, account):
                line = f"{label}@{account.handle}: {error}"
                if line not in misfit.errors:
                    misfit.errors.append(line)
    return misfit if misfit.errors else None


def queue_misfits(
    *,
    channel: Channel,
    accounts: Iterable[SocialAccount] | None = None,
    post_ids: Iterable[int] | None = None,
) -> dict[int, Misfit]:
    """post id → what is wrong, for each active entry of the channel's queue that one of
    `accounts` (default: the channel's enabled accounts) would refuse; only the posts of
    `post_ids` when given (a page checks the posts it shows, not a 10,000-post queue)."""
    if accounts is None:
        return queue_misfits_many(channels=[channel], post_ids=post_ids).get(channel.id, {})
    accounts = list(accounts)
    entries = _entries(channel=channel)
    if post_ids is not None:
        entries = entries.filter(post_id__in=list(post_ids))
    found = {}
    for entry in entries if accounts else ():
        if misfit := _check(entry.post, accounts, has_images=entry.has_images):
            found[entry.post_id] = misfit
    return found


def queue_misfits_many(
    *, channels: Sequence[Channel], post_ids: Iterable[int] | None = None
) -> dict[int, dict[int, Misfit]]:
    """channel id → post id → what is wrong, for several channels with their own enabled
    accounts: three queries however many channels (the dashboard's "Next up"); only the
    posts of `post_ids` when given."""
    ids = [c.id for c in channels]
    if not ids:
        return {}
    accounts: dict[int, list[SocialAccount]] = defaultdict(list)
    links = Channel.accounts.through.objects.filter(channel_id__in=ids).select_related(
        "socialaccount"
    )
    for link in links.exclude(socialaccount__status=SocialAccount.Status.DISABLED):
        accounts[link.channel_id].append(link.socialaccount)
    entries = _entries(channel_id__in=list(accounts))
    if post_ids is not None:
        entries = entries.filter(post_id__in=list(post_ids))
    found: dict[int, dict[int, Misfit]] = defaultdict(dict)
    for entry in entries:
        if misfit := _check(entry.post, accounts[entry.channel_id], has_images=entry.has_images):
            found[entry.channel_id][entry.post_id] = misfit
    return dict(found)
