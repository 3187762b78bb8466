"""The world a scenario builds: a workspace, channels, schedules, queues, publishable
accounts."""

from __future__ import annotations

import datetime as dt

# --- Data --------------------------------------------------------------------------------


def make_workspace(slug: str):
    from accounts.models import Workspace

    return Workspace.objects.create(name=slug, slug=slug)


def make_channels(workspace, n: int):
    from channels.models import Channel

    return Channel.objects.bulk_create(
        [Channel(workspace=workspace, name=f"#c{i}", slug=f"c{i}") for i in range(n)],
        batch_size=2000,
    )


def daily_rule(at: dt.datetime):
    import recurrence

    return recurrence.deserialize(
        f"RRULE:FREQ=DAILY;BYHOUR={at.hour};BYMINUTE={at.minute};BYSECOND={at.second}"
    )


def make_schedules(channels, times_for) -> None:
    """times_for(i) -> list of aware UTC instants; one daily schedule per instant."""
    from scheduling.models import Schedule

    rows = [
        Schedule(channel=ch, name=f"s{k}", recurrence=daily_rule(at))
        for i, ch in enumerate(channels)
        for k, at in enumerate(times_for(i))
    ]
    Schedule.objects.bulk_create(rows, batch_size=2000)


def make_queues(workspace, channels) -> None:
    """One ready post in each channel's queue."""
    from channels.models import QueueEntry
    from posts.models import Post

    posts = Post.objects.bulk_create(
        [Post(workspace=workspace, text=f"Evergreen post {i}") for i in range(len(channels))],
        batch_size=2000,
    )
    QueueEntry.objects.bulk_create(
        [
            QueueEntry(channel=ch, post=post, position=0)
            for ch, post in zip(channels, posts, strict=True)
        ],
        batch_size=2000,
    )


def make_publishable(workspace, channels, url: str) -> None:
    """One webhook account (to the receiver) and one ready post in each channel's queue."""
    from accounts.models import SocialAccount
    from channels.models import Channel

    accounts = SocialAccount.objects.bulk_create(
        [
            SocialAccount(
                workspace=workspace,
                provider="webhook",
                handle=f"hook{i}",
                credentials={"url": url, "secret": f"secret-{i}"},
            )
            for i in range(len(channels))
        ],
        batch_size=2000,
    )
    Channel.accounts.through.objects.bulk_create(
        [
            Channel.accounts.through(channel_id=ch.id, socialaccount_id=acc.id)
            for ch, acc in zip(channels, accounts, strict=True)
        ],
        batch_size=2000,
    )
    make_queues(workspace, channels)
