"""Problems before their slot (issue 28, item 3): every coming slot, planned or projected,
checked ahead against what will make it fail or be refused, each warning naming the exact
slot (channel, time, post) and what fixes it.

One home per rule: each `_rule_*` below takes the coming slots (in time order, their posts
predicted by scheduling.selectors' replay) and the context read once for all of them
(`_Context`), and returns its warnings. `lint_slots` runs them all in a constant number of
queries (two, whatever the number of slots, channels or accounts); `warnings_ahead` reads
a workspace's coming slots first (calendar_reads.slots_between: constant too).

The rules: a text too long (or otherwise refused) for a network of the channel; a queue
that runs dry before the slot (the replay's QUEUE_EMPTY); an account over its network's
posts-per-24-hours cap (settings.POSTS_PER_24H_CAP: X_DAILY_POST_CAP, Threads 250,
Instagram 100), counting what it published in the 24 hours before; the same text to the
same account inside the network's duplicate window (settings.DUPLICATE_WINDOW_HOURS); an
account that needs reconnecting; a post waiting for approval (`post_awaits_approval`).
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from django.conf import settings
from django.utils import timezone

from accounts.models import SocialAccount
from channels.models import Channel
from networks import get_provider, validate_for
from posts.models import Post
from scheduling import calendar_reads
from scheduling.models import Timeslot
from scheduling.selectors import Problem, UpcomingSlot

DAY = dt.timedelta(hours=24)
SHOWN = 20  # warnings a page lists; it says how many there are in all
PUBLISHED = (Timeslot.Status.PUBLISHED, Timeslot.Status.PARTIAL)


class Check(StrEnum):
    TOO_LONG = "too_long"
    QUEUE_DRY = "queue_dry"
    OVER_CAP = "over_cap"
    DUPLICATE = "duplicate"
    RECONNECT = "reconnect"
    AWAITS_APPROVAL = "awaits_approval"


@dataclass(frozen=True)
class SlotWarning:
    check: Check
    channel: Channel
    publish_at: dt.datetime
    post: Post | None
    timeslot_id: int | None  # None: a rule occurrence not planned yet
    problem: str
    fix: str

    @property
    def key(self) -> tuple[int, dt.datetime]:
        """What a page matches its slots on (a projected slot has no row id)."""
        return (self.channel.id, self.publish_at)

    @property
    def local_time(self) -> dt.datetime:
        return self.publish_at.astimezone(self.channel.tz)

    @property
    def text(self) -> str:
        """The warning in one line, naming its slot: for the email and the API."""
        when = self.local_time.strftime("%a %d %b %H:%M")
        post = f" “{self.post.text[:60]}”" if self.post is not None else ""
        return (
            f"{self.channel.name}, {when} ({self.channel.timezone}){post}: "
            f"{self.problem} Fix: {self.fix}"
        )


@dataclass
class _Context:
    now: dt.datetime
    # channel id -> its accounts that publish (not disabled), needing reconnect included.
    accounts: dict[int, list[SocialAccount]] = field(default_factory=dict)
    # account id -> (time, text) of what its channels published lately, oldest first.
    history: dict[int, list[tuple[dt.datetime, str]]] = field(default_factory=dict)


def _read_context(slots: Sequence[UpcomingSlot], *, now: dt.datetime) -> _Context:
    """Two queries: the channels' accounts, then their recent publications (as far back as
    the longest cap or duplicate window)."""
    ctx = _Context(now=now)
    channel_ids = sorted({s.channel.id for s in slots})
    if not channel_ids:
        return ctx
    links = (
        Channel.accounts.through.objects.filter(channel_id__in=channel_ids)
        .exclude(socialaccount__status=SocialAccount.Status.DISABLED)
        .select_related("socialaccount")
        # The rules read names and states, never the credentials (decrypted per row).
        .defer("socialaccount__credentials")
        .order_by("socialaccount__provider", "socialaccount__handle")
    )
    by_account: dict[int, list[int]] = defaultdict(list)
    for link in links:
        ctx.accounts.setdefault(link.channel_id, []).append(link.socialaccount)
        by_account[link.socialaccount_id].append(link.channel_id)
    since = now - dt.timedelta(hours=max([24, *settings.DUPLICATE_WINDOW_HOURS.values()]))
    rows = (
        Timeslot.objects.filter(
            channel_id__in=channel_ids,
            status__in=PUBLISHED,
            published_at__gte=since,
            # The same rows, bounded by an indexed column (timeslot_channel_time_idx): a
            # slot publishes within MISSED_AFTER of its time, when its retries stop. Without
            # it a year of history was scanned whole on every page showing warnings.
            publish_at__gte=since - settings.MISSED_AFTER,
        )
        .order_by("published_at")
        .values_list("channel_id", "published_at", "published_text")
    )
    channel_history: dict[int, list[tuple[dt.datetime, str]]] = defaultdict(list)
    for channel_id, at, text in rows:
        channel_history[channel_id].append((at, text))
    for account_id, channels in by_account.items():
        ctx.history[account_id] = sorted(
            item for channel_id in channels for item in channel_history.get(channel_id, ())
        )
    return ctx


def _warn(slot: UpcomingSlot, check: Check, problem: str, fix: str) -> SlotWarning:
    return SlotWarning(
        check=check,
        channel=slot.channel,
        publish_at=slot.publish_at,
        post=slot.post,
        timeslot_id=slot.timeslot.id if slot.timeslot is not None else None,
        problem=problem,
        fix=fix,
    )


def _publishing(slots: Sequence[UpcomingSlot]) -> list[UpcomingSlot]:
    """The slots that will send something (a predicted post, not paused or skipped)."""
    return [s for s in slots if s.post is not None and not s.problem]


def _rule_too_long(slots: Sequence[UpcomingSlot], ctx: _Context) -> list[SlotWarning]:
    out = []
    checked: dict[tuple[int, str], list[str]] = {}  # a loop repeats few texts many times
    for slot in _publishing(slots):
        text = slot.text or slot.post.text
        for account in ctx.accounts.get(slot.channel.id, ()):
            errors = checked.get((account.id, text))
            if errors is None:
                errors = validate_for(get_provider(account.provider), text, account)
                checked[(account.id, text)] = errors
            if errors:
                out.append(
                    _warn(
                        slot,
                        Check.TOO_LONG,
                        f"@{account.handle}: {' '.join(errors)}",
                        "Shorten the post (or this variation), or take the account off the "
                        "channel.",
                    )
                )
    return out


def _rule_queue_dry(slots: Sequence[UpcomingSlot], ctx: _Context) -> list[SlotWarning]:
    return [
        _warn(
            slot,
            Check.QUEUE_DRY,
            "The queue runs dry before this slot: it will be skipped.",
            "Add posts to the channel's queue (or switch it to loop mode).",
        )
        for slot in slots
        if slot.problem_code == Problem.QUEUE_EMPTY
    ]


def _by_account(
    slots: Sequence[UpcomingSlot], ctx: _Context, providers: Callable[[str], bool]
) -> dict[int, tuple[SocialAccount, list[UpcomingSlot]]]:
    found: dict[int, tuple[SocialAccount, list[UpcomingSlot]]] = {}
    for slot in _publishing(slots):
        for account in ctx.accounts.get(slot.channel.id, ()):
            if providers(account.provider):
                found.setdefault(account.id, (account, []))[1].append(slot)
    return found


def _rule_over_cap(slots: Sequence[UpcomingSlot], ctx: _Context) -> list[SlotWarning]:
    caps = settings.POSTS_PER_24H_CAP
    out = []
    for account_id, (account, mine) in _by_account(slots, ctx, lambda p: p in caps).items():
        cap = caps[account.provider]
        # Any 24 hours: the publications before now, then each coming slot in turn.
        times = [at for at, _ in ctx.history.get(account_id, ()) if at > ctx.now - DAY]
        for slot in sorted(mine, key=lambda s: s.publish_at):
            times.append(slot.publish_at)
            count = len(times) - bisect.bisect_right(times, slot.publish_at - DAY)
            if count > cap:
                label = get_provider(account.provider).label
                out.append(
                    _warn(
                        slot,
                        Check.OVER_CAP,
                        f"@{account.handle} would publish its {count}th post in 24 hours; "
                        f"{label} allows {cap}.",
                        "Cancel or move this slot (or an earlier one of that account) "
                        "later, or space the schedule out.",
                    )
                )
    return out


def _rule_duplicate(slots: Sequence[UpcomingSlot], ctx: _Context) -> list[SlotWarning]:
    windows = settings.DUPLICATE_WINDOW_HOURS
    out = []
    for account_id, (account, mine) in _by_account(slots, ctx, lambda p: p in windows).items():
        window = dt.timedelta(hours=windows[account.provider])
        last: dict[str, dt.datetime] = {}  # text -> when it last went out to this account
        for at, text in ctx.history.get(account_id, ()):
            last[text.strip()] = at
        for slot in sorted(mine, key=lambda s: s.publish_at):
            text = (slot.text or slot.post.text).strip()
            before = last.get(text)
            if before is not None and slot.publish_at - before < window:
                again = (before + window).astimezone(slot.channel.tz).strftime("%a %H:%M")
                out.append(
                    _warn(
                        slot,
                        Check.DUPLICATE,
                        f"@{account.handle} gets the same text again within "
                        f"{windows[account.provider]} h: {get_provider(account.provider).label} "
                        "refuses duplicates.",
                        f"Add a variation to the post, or move this slot to {again} or later.",
                    )
                )
            last[text] = slot.publish_at
    return out


def _rule_reconnect(slots: Sequence[UpcomingSlot], ctx: _Context) -> list[SlotWarning]:
    out = []
    for slot in slots:
        if slot.channel.is_paused:
            continue
        for account in ctx.accounts.get(slot.channel.id, ()):
            if account.status == SocialAccount.Status.NEEDS_RECONNECT:
                out.append(
                    _warn(
                        slot,
                        Check.RECONNECT,
                        f"@{account.handle} needs reconnecting: nothing goes out to it.",
                        "Reconnect the account (Accounts page).",
                    )
                )
    return out


def post_awaits_approval(post: Post | None) -> bool:
    """The claim's own rule (Post.awaits_approval): it needs approval and is not approved,
    so the slot would skip it."""
    return post is not None and post.awaits_approval


def _rule_awaits_approval(slots: Sequence[UpcomingSlot], ctx: _Context) -> list[SlotWarning]:
    return [
        _warn(
            slot,
            Check.AWAITS_APPROVAL,
            "The post is waiting for approval: it will not publish unapproved.",
            "Ask an approver to approve the post before this slot.",
        )
        for slot in _publishing(slots)
        if post_awaits_approval(slot.post)
    ]


RULES = (
    _rule_too_long,
    _rule_queue_dry,
    _rule_over_cap,
    _rule_duplicate,
    _rule_reconnect,
    _rule_awaits_approval,
)


def lint_slots(slots: Sequence[UpcomingSlot], *, now: dt.datetime) -> list[SlotWarning]:
    """Every rule's warnings for these coming slots (their posts predicted), in time order.
    Two queries whatever their number."""
    coming = [s for s in slots if s.publish_at >= now - settings.MISSED_AFTER and (
        s.timeslot is None or s.timeslot.status == Timeslot.Status.SCHEDULED)]  # fmt: skip
    if not coming:
        return []
    ctx = _read_context(coming, now=now)
    found = [w for rule in RULES for w in rule(coming, ctx)]
    found.sort(key=lambda w: (w.publish_at, w.channel.name, w.check))
    return found


def warnings_ahead(
    *,
    workspace,
    now: dt.datetime | None = None,
    until: dt.datetime | None = None,
    channel_ids: Sequence[int] = (),
) -> list[SlotWarning]:
    """The warnings of a workspace's coming slots up to `until` (default: LINT_AHEAD), or
    of some of its channels. A constant number of queries.

    The cap and duplicate rules count an account over all the workspace's channels it is on,
    so the whole workspace is read even when `channel_ids` narrows what is returned."""
    now = now or timezone.now()
    until = until or now + settings.LINT_AHEAD
    slots = calendar_reads.slots_between(workspace=workspace, start=now, end=until, now=now)
    found = lint_slots(slots, now=now)
    if channel_ids:
        wanted = set(channel_ids)
        found = [w for w in found if w.channel.id in wanted]
    return found


def attach(slots, warnings: Sequence[SlotWarning]) -> None:
    """Give each shown slot (UpcomingSlot) the warnings about it, as `slot.lint`."""
    by_key: dict[tuple[int, dt.datetime], list[SlotWarning]] = defaultdict(list)
    for warning in warnings:
        by_key[warning.key].append(warning)
    for slot in slots:
        slot.lint = by_key.get((slot.channel.id, slot.publish_at), [])


NOTIFY_AHEAD = dt.timedelta(hours=24)
NOTIFY_LISTED = 30  # warnings written in the notice; it says how many there are in all


def lint_notify(*, now: dt.datetime | None = None) -> int:
    """Beat, hourly: each workspace's warnings for its next 24 hours as one notice, which
    notice_create emails to its owners after commit (a background task). The subject is
    the UTC day: while that notice is open the hourly runs only refresh its text, so owners
    get at most one such email a day. Returns how many workspaces have warnings."""
    from accounts.models import Notice, Workspace
    from accounts.services import notice_create

    now = now or timezone.now()
    told = 0
    for workspace in Workspace.objects.filter(channels__isnull=False).distinct().order_by("id"):
        found = warnings_ahead(workspace=workspace, now=now, until=now + NOTIFY_AHEAD)
        if not found:
            continue
        lines = [f"- {w.text}" for w in found[:NOTIFY_LISTED]]
        if len(found) > NOTIFY_LISTED:
            lines.append(f"(and {len(found) - NOTIFY_LISTED} more: see the dashboard)")
        notice_create(
            workspace_id=workspace.id,
            kind=Notice.Kind.SLOT_WARNINGS,
            message=f"{len(found)} problem(s) in the next 24 hours' slots:\n" + "\n".join(lines),
            subject=f"lint:{now.astimezone(dt.UTC).date().isoformat()}",
        )
        told += 1
    return told
