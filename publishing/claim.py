"""Running due slots, a batch at a time: claim, choose each slot's post, create deliveries.

One publish message carries every slot due in one second (scheduling/enqueue.py). The batch
costs a constant number of queries, however many slots and channels it holds (DESIGN §3):

1. one conditional UPDATE claims every pair whose token is current, still `scheduled`, and
   inside the not-early, not-missed window (RETURNING the claimed rows);
2. only the pairs it did not claim are read (one SELECT) to say why: stale, early (sent
   again with the same token), too late (missed), or a lost race;
3. the claimed slots' channels are locked in id order (two batches never deadlock), their
   queue entries and accounts read in one query each, each slot's post chosen in memory by
   the queue rule (channels/queue_rule.py), and the uses, slots and deliveries written in
   bulk; the deliveries are dispatched in chunks after commit (publishing/delivery.py).
   A channel that counts clicks has its deliveries' links rewritten to short links here
   (links/), their rows inserted in one more query; a batch without one pays nothing.

Every pair is judged on its own (invariant §7.1): a stale token in a batch changes nothing
for the others. The whole batch may run twice, concurrently, or after a crash: the claim is
the only way in, and it is conditional.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import EventType, Notice, SocialAccount
from accounts.outbox import NewEvent, record_events
from accounts.services import notice_create
from channels import queue_rule
from channels import sql as queue_sql
from channels.models import Channel, QueueEntry
from ground import events
from ground.db import db_datetime, insert_returning_ids, update_from_values
from links import services as links
from networks import get_provider
from posts.models import Post
from publishing import delivery as deliveries
from publishing import sql
from publishing.models import Delivery
from publishing.settle import slot_facts
from scheduling import blackouts, enqueue, reasons
from scheduling.enqueue import EARLY_TOLERANCE
from scheduling.models import Timeslot
from scheduling.reasons import Reason
from scheduling.services import timeslots_mark_missed

log = logging.getLogger(__name__)


def _with_variations(posts: Iterable[Post]) -> None:
    """Set each post's `variation_list`, the plain list Post.texts reads (one query for all;
    a post may appear twice): a prefetch built a queryset per post (publishing/sql.py)."""
    posts = list(posts)
    by_post = sql.variations_by_post(p.id for p in posts)
    for post in posts:
        post.variation_list = by_post.get(post.id, [])


class Outcome(StrEnum):
    STALE = "stale"  # gone, token rotated, or no longer scheduled: a no-op
    EARLY = "early"  # re-enqueued for its ETA with the same token
    LOST_RACE = "lost_race"  # another worker claimed it first
    MISSED = "missed"
    SKIPPED = "skipped"
    FAILED = "failed"
    DISPATCHED = "dispatched"


@dataclass
class _Claimed:
    id: int
    channel_id: int
    post_id: int | None
    publish_at: dt.datetime


def _aware(value) -> dt.datetime:
    # RETURNING bypasses the ORM's converters: PostgreSQL gives an aware datetime, SQLite
    # the stored UTC text.
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _parse(pairs: Iterable[Sequence]) -> dict[int, uuid.UUID]:
    valid: dict[int, uuid.UUID] = {}
    for pair in pairs:
        try:
            timeslot_id, token = int(pair[0]), uuid.UUID(str(pair[1]))
        except (TypeError, ValueError, IndexError):
            continue  # not a pair we could ever have sent: nothing to claim
        if not 0 < timeslot_id < 2**63:
            continue  # no key of ours either: the databases refuse such a number outright
        valid[timeslot_id] = token
    return valid


def _claim(pairs: dict[int, uuid.UUID], *, now: dt.datetime) -> list[_Claimed]:
    """The one conditional UPDATE: each (id, token) pair, still scheduled, in the window."""
    token_field = Timeslot._meta.get_field("token")
    marks = ", ".join(["%s"] * len(pairs))
    # Each pair as one string "id/token", in the text the database casts the row's own to
    # (a dashed UUID on PostgreSQL, 32 hex digits on SQLite): an IN list of constants,
    # which PostgreSQL looks up in a hash. As `(id, token) IN (VALUES ...)` it compared
    # every due row with every pair (2,000 x 200 in a hot second, and the batches are
    # claimed one after another); with the ids listed first it is an index lookup (the
    # figures: bench/README.md, "Engine v2, second follow-up").
    keys = [f"{i}/{token_field.get_db_prep_value(t, connection)}" for i, t in pairs.items()]
    params: list = [
        Timeslot.Status.PUBLISHING,
        db_datetime(now),
        Timeslot.Status.SCHEDULED,
        db_datetime(now + EARLY_TOLERANCE),
        db_datetime(now - settings.MISSED_AFTER),
        *pairs,
        *keys,
    ]
    # Only our table name and %s placeholders are formatted in; every value is a parameter.
    table = Timeslot._meta.db_table
    sql = (
        f"UPDATE {table} SET status = %s, updated_at = %s "  # noqa: S608
        "WHERE status = %s AND publish_at <= %s AND publish_at >= %s "
        f"AND id IN ({marks}) "  # found by primary key
        f"AND CAST(id AS TEXT) || '/' || CAST(token AS TEXT) IN ({marks}) "
        "RETURNING id, channel_id, post_id, publish_at"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    claimed = [_Claimed(r[0], r[1], r[2], _aware(r[3])) for r in rows]
    # The order the publisher has always used, and the predictor replays: time, then id.
    claimed.sort(key=lambda c: (c.publish_at, c.id))
    return claimed


def _not_claimed(pairs: dict[int, uuid.UUID], *, now: dt.datetime) -> dict[int, Outcome]:
    """Why each unclaimed pair did not claim (one query), and what to do about it."""
    if not pairs:
        return {}
    rows = {
        r[0]: r
        for r in Timeslot.objects.filter(id__any=list(pairs)).values_list(
            "id", "token", "status", "publish_at"
        )
    }
    outcomes: dict[int, Outcome] = {}
    early: list[enqueue.Message] = []
    missed: list[int] = []
    for timeslot_id, token in pairs.items():
        row = rows.get(timeslot_id)
        if row is None or row[1] != token or row[2] != Timeslot.Status.SCHEDULED:
            outcomes[timeslot_id] = Outcome.STALE
        elif row[3] - now > EARLY_TOLERANCE:
            early.append(enqueue.Message(timeslot_id, token, row[3]))
            outcomes[timeslot_id] = Outcome.EARLY
        elif now - row[3] > settings.MISSED_AFTER:
            missed.append(timeslot_id)
            outcomes[timeslot_id] = Outcome.MISSED
        else:
            # Scheduled and due, yet the UPDATE changed nothing: another claim held the row.
            outcomes[timeslot_id] = Outcome.LOST_RACE
    events.log_events(
        "stale",
        (
            {"timeslot_id": i}
            for i, o in outcomes.items()
            if o in (Outcome.STALE, Outcome.LOST_RACE)
        ),
    )
    events.log_events("early", ({"timeslot_id": m.timeslot_id, "eta": m.eta} for m in early))
    if early:
        enqueue.send_now(early)
    if missed:
        timeslots_mark_missed(now=now, ids=missed)
    return outcomes


def timeslots_publish(
    *, pairs: Iterable[Sequence], now: dt.datetime | None = None
) -> dict[int, Outcome]:
    """Run a batch of due slots; return each pair's outcome by timeslot id."""
    now = now or timezone.now()
    valid = _parse(pairs)
    outcomes: dict[int, Outcome] = {}
    if not valid:
        return outcomes
    with transaction.atomic():
        claimed = _claim(valid, now=now)
        if claimed:
            outcomes.update(_choose_and_fan_out(claimed, now=now))
    claimed_ids = {c.id for c in claimed}
    outcomes.update(_not_claimed({i: t for i, t in valid.items() if i not in claimed_ids}, now=now))
    return outcomes


def timeslot_publish(*, timeslot_id: int, token: str, now: dt.datetime | None = None) -> Outcome:
    """A batch of one (a message of the first engine, or a test). Goes with the first
    engine's tasks in the next release (publishing/legacy_tasks.py)."""
    return timeslots_publish(pairs=[(timeslot_id, token)], now=now).get(timeslot_id, Outcome.STALE)


# --- Choosing posts and fanning out --------------------------------------------------------


@dataclass
class _Plan:
    """What one claimed slot becomes: a delivery fan-out, or a final status with a reason."""

    slot: _Claimed
    post: Post | None = None
    text: str = ""
    status: Timeslot.Status | None = None  # a final status (skipped/failed); None: dispatch
    reason: reasons.Stamp = reasons.NONE
    entry_use: dict | None = None

    def end(self, status: Timeslot.Status, code: Reason) -> None:
        """The slot ends here, with `status` and the reason `code` (no deliveries)."""
        self.status, self.reason = status, reasons.stamp(code)


def _locked_channels(ids: set[int]) -> dict[int, sql.LockedChannel]:
    # Locked in id order, so two batches that share channels never deadlock.
    return sql.channels_locked(ids)


def _entries(claimed: list[_Claimed], pinned_post_ids: set[int], *, now: dt.datetime):
    """Per channel: the usable entries its queue slots can take; per (channel, post): the
    entries of pinned posts (in any state, to record their use).

    A queue slot takes the first usable entry in the rule's order and sends it to the back
    (or out), so k queue slots of one channel take its first k: only those are read, with
    the rule's order as a window (a 500-post evergreen queue costs k rows, not 500).
    """
    # k counts the channel's pinned slots too: a pinned use can send one of the first k back.
    slots: dict[int, int] = defaultdict(int)
    for c in claimed:
        slots[c.channel_id] += 1
    per_channel = {c.channel_id: slots[c.channel_id] for c in claimed if not c.post_id}
    by_channel: dict[int, list[queue_sql.Entry]] = defaultdict(list)
    by_pair: dict[tuple[int, int], queue_sql.Entry] = {}
    rows: list[queue_sql.Entry] = []
    if per_channel:
        rows += queue_sql.queue_heads(per_channel, at=now, order=queue_rule.ORDER)
    if pinned_post_ids:
        channel_ids = {c.channel_id for c in claimed if c.post_id}
        rows += queue_sql.entries_of_posts(sorted(channel_ids), sorted(pinned_post_ids))
    # The entries' posts as model instances (Post.texts, thread_parts), through the ORM.
    posts = (
        {p.id: p for p in Post.objects.filter(id__any=[e.post_id for e in rows])} if rows else {}
    )
    for entry in rows:
        entry.post = posts[entry.post_id]
    _with_variations(posts.values())
    for entry in rows:
        if (entry.channel_id, entry.post_id) in by_pair:
            continue  # read twice (usable and pinned): keep one object, or a use is lost
        by_channel[entry.channel_id].append(entry)
        by_pair[(entry.channel_id, entry.post_id)] = entry
    return by_channel, by_pair


class _Account(NamedTuple):
    """What a batch reads of an account: plain values, not model instances (building
    SocialAccount and through-model objects was a third of the publish step's CPU)."""

    id: int
    workspace_id: int
    provider: str


def _accounts(channel_ids: set[int]) -> dict[int, list[_Account]]:
    """Per channel, its accounts that are not disabled, in id order. Not the credentials:
    decrypting them here was a tenth of a batch's CPU, and only the delivery chunk that
    calls the network needs them."""
    by_channel: dict[int, list[_Account]] = defaultdict(list)
    rows = (
        Channel.accounts.through.objects.filter(channel_id__any=channel_ids)
        .exclude(socialaccount__status=SocialAccount.Status.DISABLED)
        .order_by("socialaccount_id")
        .values_list(
            "channel_id",
            "socialaccount_id",
            "socialaccount__workspace_id",
            "socialaccount__provider",
        )
    )
    for channel_id, account_id, workspace_id, provider in rows:
        by_channel[channel_id].append(_Account(account_id, workspace_id, provider))
    return by_channel


def _choose_and_fan_out(claimed: list[_Claimed], *, now: dt.datetime) -> dict[int, Outcome]:
    channels = _locked_channels({c.channel_id for c in claimed})
    events.log_events(
        "claimed",
        (
            {
                "timeslot_id": c.id,
                "channel_id": c.channel_id,
                "workspace_id": channels[c.channel_id].workspace_id,
                "lateness_ms": events.lateness_ms(c.publish_at, now),
            }
            for c in claimed
        ),
    )
    pinned_ids = {c.post_id for c in claimed if c.post_id}
    pinned = {p.id: p for p in Post.objects.filter(id__any=pinned_ids)} if pinned_ids else {}
    _with_variations(pinned.values())
    entries, entry_of = _entries(claimed, pinned_ids, now=now)
    accounts = _accounts(set(channels))

    # Slots inside a blackout of their workspace (scheduling/blackouts.py): one query.
    blacked = blackouts.reasons_for_claimed(
        [(c.id, channels[c.channel_id].workspace_id, c.publish_at) for c in claimed]
    )

    used: dict[int, queue_sql.Entry] = {}
    plans: list[_Plan] = []
    for slot in claimed:
        channel = channels[slot.channel_id]
        plan = _Plan(slot=slot)
        plans.append(plan)
        if channel.is_paused:
            plan.end(Timeslot.Status.SKIPPED, Reason.PAUSED)
            continue
        if slot.id in blacked:
            plan.status, plan.reason = Timeslot.Status.SKIPPED, blacked[slot.id]
            continue
        if slot.post_id:
            post = pinned[slot.post_id]
            if post.workspace_id != channel.workspace_id:
                plan.end(Timeslot.Status.FAILED, Reason.FOREIGN_POST)
                continue
            if post.status == Post.Status.ARCHIVED or (post.expires_at and post.expires_at <= now):
                plan.end(Timeslot.Status.SKIPPED, Reason.POST_GONE)
                continue
            if post.awaits_approval:
                # Read from the post's own row (needs_approval, review_state): no query.
                plan.end(Timeslot.Status.SKIPPED, Reason.NOT_APPROVED)
                continue
            entry = entry_of.get((channel.id, post.id))
        else:
            # Only the channel's own workspace's posts: a post moved to another workspace
            # (the admin once allowed it) is never published here.
            own = [e for e in entries[channel.id] if e.post.workspace_id == channel.workspace_id]
            entry = queue_rule.next_entry(own, at=now)
            if entry is None:
                plan.end(Timeslot.Status.SKIPPED, Reason.QUEUE_EMPTY)
                continue
            post = entry.post
        plan.post = post
        plan.text = queue_rule.text_for(post, times_published=entry.times_published if entry else 0)
        if not [a for a in accounts[channel.id] if a.workspace_id == channel.workspace_id]:
            # Nothing will be sent: the post is not used up (issue: a failed slot must
            # not spend the only post of a `once` channel).
            plan.end(Timeslot.Status.FAILED, Reason.NO_ACCOUNTS)
        elif entry is not None:
            # A pinned publication counts in the loop too, so the queue does not repeat it
            # next (and in `once` mode it is used up). Given back if the slot fails.
            plan.entry_use = queue_rule.use_record(entry, at=now)
            queue_rule.record_use(entry, mode=channel.mode, at=now)
            used[entry.id] = entry

    if used:
        update_from_values(
            QueueEntry,
            [
                {"id": e.id, **{f: getattr(e, f) for f in queue_rule.RECORDED_FIELDS}}
                for e in used.values()
            ],
            fields=queue_rule.RECORDED_FIELDS,
        )
    return _write(plans, channels=channels, accounts=accounts, now=now)


def _write(
    plans: list[_Plan],
    *,
    channels: dict[int, sql.LockedChannel],
    accounts: dict[int, list[_Account]],
    now: dt.datetime,
) -> dict[int, Outcome]:
    outcomes: dict[int, Outcome] = {}
    chosen = [p for p in plans if p.post is not None]
    if chosen:
        update_from_values(
            Timeslot,
            [
                {
                    "id": p.slot.id,
                    "published_post_id": p.post.id,
                    "published_text": p.text,
                    "entry_use": p.entry_use,
                }
                for p in chosen
            ],
            fields=["published_post", "published_text", "entry_use"],
        )
    finals: dict[tuple[str, reasons.Stamp], list[int]] = defaultdict(list)
    new: list[dict] = []
    providers: list[str] = []
    for plan in plans:
        if plan.status is not None:
            finals[(plan.status, plan.reason)].append(plan.slot.id)
            outcomes[plan.slot.id] = (
                Outcome.SKIPPED if plan.status == Timeslot.Status.SKIPPED else Outcome.FAILED
            )
            continue
        channel = channels[plan.slot.channel_id]
        for account in accounts[channel.id]:
            if account.workspace_id != channel.workspace_id:
                continue  # never publish to another workspace's account (invariant §7.4)
            new.append(
                {
                    "timeslot_id": plan.slot.id,
                    "account_id": account.id,
                    "post_id": plan.post.id,
                    "text": plan.text,
                    "thread_parts": list(plan.post.thread_parts or []),
                    "dispatched_at": now,
                }
            )
            providers.append(account.provider)
        outcomes[plan.slot.id] = Outcome.DISPATCHED
    for (status, reason), ids in finals.items():
        Timeslot.objects.filter(id__any=ids, status=Timeslot.Status.PUBLISHING).update(
            status=status, **reason.fields(), published_at=None, updated_at=now
        )
        step = "skipped" if status == Timeslot.Status.SKIPPED else "settled"
        events.log_events(
            step, ({"timeslot_id": i} for i in ids), status=status, reason=reason.text
        )
    # The slots that ended here, with their events: one INSERT for the batch.
    record_events(
        NewEvent(
            channels[p.slot.channel_id].workspace_id,
            EventType(f"timeslot.{p.status}"),
            slot_facts(p.slot.id, p.status, p.reason),
        )
        for p in plans
        if p.status is not None
    )
    _notify(plans, channels=channels)
    if any(p.post is not None and p.post.first_comment for p in plans):
        _with_comments(new, plans, providers)
    counted = _count_clicks(new, plans, channels, providers)
    if new:
        ids = insert_returning_ids(Delivery, new)
        if counted:
            # One INSERT of every short link of the batch, now their deliveries have ids.
            links.short_links_create(delivery_ids=ids, per_row=counted)
        deliveries.dispatch_on_commit(zip(ids, providers, strict=True))
    return outcomes


def _count_clicks(
    new: list[dict],
    plans: list[_Plan],
    channels: dict[int, sql.LockedChannel],
    providers: list[str],
) -> list | None:
    """Rewrite the links of the deliveries of channels that count clicks (links/), in the
    rows about to be inserted; None (and no work) when no channel of the batch does."""
    if not any(c.count_clicks for c in channels.values()):
        return None
    channel_of = {p.slot.id: channels[p.slot.channel_id] for p in plans}
    per_row = []
    for row, provider in zip(new, providers, strict=True):
        channel = channel_of[row["timeslot_id"]]
        if not channel.count_clicks:
            per_row.append(None)
            continue
        made = links.rewrite_delivery(
            post_id=row["post_id"],
            text=row["text"],
            thread_parts=row["thread_parts"],
            comment=row.get("comment", ""),  # copied by _with_comments when the post has one
            utm=links.utm_for(
                channel.utm, network=provider, channel=channel.slug, post_id=row["post_id"]
            ),
        )
        row["text"], row["thread_parts"] = made.text, made.thread_parts
        if "comment" in row:
            row["comment"] = made.comment
        per_row.append(made)
    return per_row


def _with_comments(new: list[dict], plans: list[_Plan], providers: list[str]) -> None:
    """Copy each post's first comment into its deliveries (as the post is now: a later edit
    does not change what a delivery sends), due after the post where the network has
    comments. Only batches with a comment pay for it; the rows all get the same keys."""
    posts = {p.post.id: p.post for p in plans if p.post is not None}
    for row, provider in zip(new, providers, strict=True):
        post = posts[row["post_id"]]
        text = post.first_comment
        row["comment"] = text
        row["comment_delay"] = dt.timedelta(minutes=post.first_comment_delay or 0)
        if not text:
            row["comment_status"] = Delivery.CommentStatus.NONE
        elif get_provider(provider).capabilities.first_comment:
            row["comment_status"] = Delivery.CommentStatus.DUE
        else:
            row["comment_status"] = Delivery.CommentStatus.NOT_HERE


def _notify(plans: list[_Plan], *, channels: dict[int, sql.LockedChannel]) -> None:
    """One notice per channel and kind for this batch (not one per slot)."""
    told: set[tuple[int, str]] = set()
    for plan in plans:
        channel = channels[plan.slot.channel_id]
        if plan.reason.code == Reason.QUEUE_EMPTY:
            kind = Notice.Kind.QUEUE_EMPTY
            message = f"{channel.name} had a slot but its queue is empty: add posts."
        elif plan.reason.code == Reason.NO_ACCOUNTS:
            kind = Notice.Kind.TIMESLOT_FAILED
            message = f"A slot of {channel.name} failed: the channel has no active accounts."
        else:
            continue
        if (channel.id, kind) not in told:
            told.add((channel.id, kind))
            # One open notice per channel and kind: later slots fold into it.
            notice_create(
                workspace_id=channel.workspace_id,
                kind=kind,
                message=message,
                subject=f"channel:{channel.id}",
            )
