"""Does the queue still fit its accounts? A channel's queued posts were checked against its
networks when written (publishing/compose.py); an account added later (X's 280 to a queue
written for Mastodon's 500) can make some too long. These reads find them, with the same
per-account check (`validate_for`), so the channel form can warn and the upcoming slots
show the problem before the slot fails.
"""

from __future__ import annotations

from collections.abc import Iterable
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


def queue_misfits(
    *, channel: Channel, accounts: Iterable[SocialAccount] | None = None
) -> dict[int, Misfit]:
    """post id → what is wrong, for each active entry of the channel's queue that one of
    `accounts` (default: the channel's enabled accounts) would refuse. Three queries."""
    if accounts is None:
        accounts = channel.accounts.exclude(status=SocialAccount.Status.DISABLED)
    accounts = list(accounts)
    if not accounts:
        return {}
    entries = (
        QueueEntry.objects.filter(channel=channel, is_active=True)
        .select_related("post")
        .prefetch_related("post__variations")
    )
    found: dict[int, Misfit] = {}
    for entry in entries:
        post = entry.post
        for index, text in enumerate(post.texts()):
            label = "" if index == 0 else f"Variation {index}: "
            for account in accounts:
                for error in validate_for(get_provider(account.provider), text, account):
                    misfit = found.setdefault(post.id, Misfit(post))
                    line = f"{label}@{account.handle}: {error}"
                    if line not in misfit.errors:
                        misfit.errors.append(line)
    return found
