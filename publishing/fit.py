"""Does the queue still fit its accounts? A channel's queued posts were checked against its
networks when written (publishing/compose.py); an account added later (X's 280 to a queue
written for Mastodon's 500) can make some too long. These reads find them, with the same
per-account check (`validate_for`), so the channel form can warn and the upcoming slots
show the problem before the slot fails.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from accounts.models import SocialAccount
from channels.models import Channel, QueueEntry
from posts.models import Post
from publishing.providers import get_provider, validate_for


@dataclass
class Misfit:
    post: Post
    errors: list[str] = field(default_factory=list)

    @property
    def message(self) -> str:
        return " ".join(self.errors)


def _check(post: Post, accounts: Sequence[SocialAccount]) -> Misfit | None:
    misfit = Misfit(post)
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
    entries = (
        QueueEntry.objects.filter(channel=channel, is_active=True)
        .select_related("post")
        .prefetch_related("post__variations")
    )
    if post_ids is not None:
        entries = entries.filter(post_id__in=list(post_ids))
    found = {}
    for entry in entries if accounts else ():
        if misfit := _check(entry.post, accounts):
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
    entries = (
        QueueEntry.objects.filter(channel_id__in=list(accounts), is_active=True)
        .select_related("post")
        .prefetch_related("post__variations")
    )
    if post_ids is not None:
        entries = entries.filter(post_id__in=list(post_ids))
    found: dict[int, dict[int, Misfit]] = defaultdict(dict)
    for entry in entries:
        if misfit := _check(entry.post, accounts[entry.channel_id]):
            found[entry.channel_id][entry.post_id] = misfit
    return dict(found)
