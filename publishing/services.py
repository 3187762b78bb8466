"""Publishing writes: claiming a due slot, choosing its post, fanning out deliveries,
sending each one at most once, and settling the slot when the last delivery finishes.

Every state change is a conditional UPDATE (status = expected AND token = T) or happens
under a row lock, so any of these functions may run twice, concurrently, or after a crash.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from enum import StrEnum

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils import timezone

from accounts.models import Notice, SocialAccount
from accounts.services import notice_create
from channels.models import Channel, QueueEntry
from posts.models import Post
from publishing.models import Delivery
from publishing.providers import AuthFailed, RateLimited, Rejected, Transient, get_provider
from scheduling.models import Timeslot

log = logging.getLogger(__name__)

# Import every provider module now, not in the first delivery's get_provider(): X's
# twitter_text takes ~0.7 s to import (seconds on a busy machine), and in a worker that
# import ran inside the first hot second while every other delivery thread waited on the
# import lock (bench/README.md).
get_provider("x")

# A message may arrive a little early (clock skew between hosts); within this it runs.
EARLY_TOLERANCE = dt.timedelta(seconds=1)
REASON_QUEUE_EMPTY = "Skipped: queue empty (no active, unexpired post to publish)."
REASON_PAUSED = "Skipped: the channel was paused."
REASON_NO_ACCOUNTS = "Failed: the channel has no active accounts."
REASON_POST_GONE = "Skipped: the pinned post was archived or has expired."
UNCONFIRMED_TIMEOUT = "Timed out mid-call: it may or may not have posted. Check the account."
UNCONFIRMED_WORKER_LOST = (
    "The worker stopped mid-call: it may or may not have posted. Check the account."
)


class Outcome(StrEnum):
    STALE = "stale"  # gone, token rotated, or no longer scheduled: a no-op
    EARLY = "early"  # re-enqueued for its ETA with the same token
    LOST_RACE = "lost_race"  # another worker claimed it first
    MISSED = "missed"
    SKIPPED = "skipped"
    FAILED = "failed"
    DISPATCHED = "dispatched"


def usable_entries(*, now: dt.datetime):
    """Queue entries that can still be published: active, ready, unexpired, not spent."""
    return (
        QueueEntry.objects.filter(is_active=True, post__status=Post.Status.READY)
        .filter(Q(post__expires_at__isnull=True) | Q(post__expires_at__gt=now))
        .filter(Q(max_publications__isnull=True) | Q(times_published__lt=F("max_publications")))
    )


def next_entry(*, channel: Channel, now: dt.datetime) -> QueueEntry | None:
    """The channel's next post: least recently published first, then queue position."""
    return (
        usable_entries(now=now)
        .filter(channel=channel)
        .order_by(F("last_published_at").asc(nulls_first=True), "position", "id")
        .select_related("post")
        .prefetch_related("post__variations")
        .first()
    )


def _rotate_text(post: Post, times_published: int) -> str:
    texts = post.texts()
    return texts[times_published % len(texts)]


def _record_use(entry: QueueEntry, *, channel: Channel, now: dt.datetime) -> None:
    entry.times_published += 1
    entry.last_published_at = now
    spent = entry.max_publications is not None and entry.times_published >= entry.max_publications
    if channel.mode == Channel.Mode.ONCE or spent:
        entry.is_active = False
    entry.save(update_fields=["times_published", "last_published_at", "is_active"])


def _finish(slot_id: int, *, status: str, reason: str, now: dt.datetime) -> bool:
    return bool(
        Timeslot.objects.filter(id=slot_id, status=Timeslot.Status.PUBLISHING).update(
            status=status, reason=reason, published_at=None, updated_at=now
        )
    )


def _not_claimed(*, timeslot_id: int, token: str, now: dt.datetime) -> Outcome:
    """Why a publish message did not claim its slot, and what to do about it."""
    slot = Timeslot.objects.filter(id=timeslot_id).only("token", "status", "publish_at").first()
    if slot is None or str(slot.token) != str(token) or slot.status != Timeslot.Status.SCHEDULED:
        return Outcome.STALE
    if slot.publish_at - now > EARLY_TOLERANCE:
        from scheduling import enqueue

        enqueue.send_now([enqueue.Message(timeslot_id, slot.token, slot.publish_at)])
        return Outcome.EARLY
    if now - slot.publish_at > settings.MISSED_AFTER:
        from scheduling.services import timeslots_mark_missed

        timeslots_mark_missed(now=now)
        return Outcome.MISSED
    # Scheduled and due, yet the UPDATE changed nothing: another claim held the row.
    return Outcome.LOST_RACE


def timeslot_publish(*, timeslot_id: int, token: str, now: dt.datetime | None = None) -> Outcome:
    """Run a due slot: claim it, pick its post, create one delivery per account."""
    now = now or timezone.now()
    try:
        uuid.UUID(str(token))
    except ValueError:
        return Outcome.STALE

    with transaction.atomic():
        # Claim first (performance, bench/README.md): the token check, the status and the
        # "not early, not missed" window are all conditions of the one UPDATE, so the
        # usual message costs no SELECT before it. Only a message that did not claim pays
        # for the read that says why (_not_claimed: stale, early, missed, lost race).
        claimed = Timeslot.objects.filter(
            id=timeslot_id,
            token=token,
            status=Timeslot.Status.SCHEDULED,
            publish_at__lte=now + EARLY_TOLERANCE,
            publish_at__gte=now - settings.MISSED_AFTER,
        ).update(status=Timeslot.Status.PUBLISHING, updated_at=now)
        if claimed:
            return _publish_claimed(timeslot_id=timeslot_id, now=now)
    return _not_claimed(timeslot_id=timeslot_id, token=token, now=now)


def _publish_claimed(*, timeslot_id: int, now: dt.datetime) -> Outcome:
    """The rest of timeslot_publish, inside the claiming transaction."""
    # The row lock on the channel serialises post selection: two slots of one channel
    # due at the same instant take two different posts. One query reads the slot and
    # locks its channel (FOR UPDATE OF the channel only; the claim holds the slot).
    slot = (
        Timeslot.objects.select_related("post", "channel")
        .select_for_update(of=("channel",))
        .get(id=timeslot_id)
    )
    channel = slot.channel
    if channel.is_paused:
        _finish(slot.id, status=Timeslot.Status.SKIPPED, reason=REASON_PAUSED, now=now)
        return Outcome.SKIPPED

    if slot.post_id:
        post = slot.post
        if post.status == Post.Status.ARCHIVED or (post.expires_at and post.expires_at <= now):
            _finish(slot.id, status=Timeslot.Status.SKIPPED, reason=REASON_POST_GONE, now=now)
            return Outcome.SKIPPED
        entry = QueueEntry.objects.filter(channel=channel, post=post).first()
        text = _rotate_text(post, entry.times_published if entry else 0)
        if entry is not None:
            # A pinned publication counts in the loop, so the queue does not repeat it
            # next (and in `once` mode it is used up).
            _record_use(entry, channel=channel, now=now)
    else:
        entry = next_entry(channel=channel, now=now)
        if entry is None:
            _finish(slot.id, status=Timeslot.Status.SKIPPED, reason=REASON_QUEUE_EMPTY, now=now)
            notice_create(
                workspace_id=channel.workspace_id,
                kind=Notice.Kind.QUEUE_EMPTY,
                message=f"{channel.name} had a slot but its queue is empty: add posts.",
            )
            return Outcome.SKIPPED
        post = entry.post
        text = _rotate_text(post, entry.times_published)
        _record_use(entry, channel=channel, now=now)

    accounts = list(channel.accounts.exclude(status=SocialAccount.Status.DISABLED))
    Timeslot.objects.filter(id=slot.id).update(published_post=post, published_text=text)
    if not accounts:
        _finish(slot.id, status=Timeslot.Status.FAILED, reason=REASON_NO_ACCOUNTS, now=now)
        notice_create(
            workspace_id=channel.workspace_id,
            kind=Notice.Kind.TIMESLOT_FAILED,
            message=f"A slot of {channel.name} failed: the channel has no active accounts.",
        )
        return Outcome.FAILED
    deliveries = Delivery.objects.bulk_create(
        [
            Delivery(timeslot_id=slot.id, account=account, post=post, text=text, dispatched_at=now)
            for account in accounts
        ]
    )
    ids = [d.id for d in deliveries]
    transaction.on_commit(lambda: dispatch_deliveries(ids))
    return Outcome.DISPATCHED


def dispatch_deliveries(delivery_ids: list[int], *, eta: dt.datetime | None = None) -> None:
    from publishing.tasks import deliver
    from queueloop.celery import app as celery_app

    try:
        with celery_app.producer_or_acquire() as producer, producer.batch(max_size=500):
            for delivery_id in delivery_ids:
                deliver.apply_async((delivery_id,), eta=eta, producer=producer)
    except Exception:
        # The deliveries stay pending; the watchdog re-dispatches them after WATCHDOG_GRACE.
        log.exception("broker refused %d deliver message(s)", len(delivery_ids))


# --- Deliveries --------------------------------------------------------------------------


def _deadline(delivery: Delivery) -> dt.datetime:
    return delivery.timeslot.publish_at + settings.MISSED_AFTER


def _backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(300, 5 * 2 ** max(0, attempts - 1)))


def _set(delivery_id: int, *, expected: str = Delivery.Status.SENDING, **fields) -> bool:
    return bool(Delivery.objects.filter(id=delivery_id, status=expected).update(**fields))


def _retry_later(delivery: Delivery, *, at: dt.datetime, error: str, now: dt.datetime) -> None:
    if at > _deadline(delivery):
        _set(
            delivery.id,
            status=Delivery.Status.FAILED,
            last_error=f"{error} Gave up: too late to post.",
        )
        return
    if _set(
        delivery.id,
        status=Delivery.Status.PENDING,
        last_error=error,
        next_attempt_at=at,
        dispatched_at=now,
    ):
        transaction.on_commit(lambda: dispatch_deliveries([delivery.id], eta=at))


def account_mark_needs_reconnect(*, account: SocialAccount, error: str, now: dt.datetime) -> None:
    SocialAccount.objects.filter(id=account.id).update(
        status=SocialAccount.Status.NEEDS_RECONNECT, last_error=error, last_checked_at=now
    )
    # One email per incident: only the update that sets reconnect_notified_at tells.
    if SocialAccount.objects.filter(id=account.id, reconnect_notified_at__isnull=True).update(
        reconnect_notified_at=now
    ):
        notice_create(
            workspace_id=account.workspace_id,
            kind=Notice.Kind.ACCOUNT_RECONNECT,
            message=f"{account} needs to be reconnected: {error}",
        )


def delivery_send(*, delivery_id: int, now: dt.datetime | None = None) -> str:
    """Send one delivery at most once; return its new status."""
    now = now or timezone.now()
    claimed = (
        Delivery.objects.filter(id=delivery_id, status=Delivery.Status.PENDING)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now + EARLY_TOLERANCE))
        .update(status=Delivery.Status.SENDING, attempts=F("attempts") + 1, sending_started_at=now)
    )
    if not claimed:
        return "not claimed"
    delivery = Delivery.objects.select_related("account", "timeslot__channel").get(id=delivery_id)
    sent = False
    account = delivery.account
    provider = get_provider(account.provider)

    if account.status != SocialAccount.Status.ACTIVE:
        _set(
            delivery.id,
            status=Delivery.Status.FAILED,
            last_error=f"{account} needs reconnecting: {account.last_error or 'reconnect it'}",
        )
    else:
        try:
            published = provider.publish(delivery)
        except RateLimited as exc:
            _retry_later(delivery, at=exc.reset_at, error=exc.message, now=now)
        except Transient as exc:
            if exc.maybe_sent and not provider.idempotent:
                _set(delivery.id, status=Delivery.Status.UNCONFIRMED, last_error=exc.message)
            else:
                _retry_later(
                    delivery, at=now + _backoff(delivery.attempts), error=exc.message, now=now
                )
        except AuthFailed as exc:
            account_mark_needs_reconnect(account=account, error=exc.message, now=now)
            _set(delivery.id, status=Delivery.Status.FAILED, last_error=exc.message)
        except Rejected as exc:
            _set(delivery.id, status=Delivery.Status.FAILED, last_error=exc.message)
        except SoftTimeLimitExceeded:
            # The call may have reached the network: at most once wins over at least once.
            if provider.idempotent:
                _retry_later(delivery, at=now, error="Timed out; retrying (idempotent).", now=now)
            else:
                _set(
                    delivery.id,
                    status=Delivery.Status.UNCONFIRMED,
                    last_error=UNCONFIRMED_TIMEOUT,
                )
        else:
            sent = _set(
                delivery.id,
                status=Delivery.Status.SENT,
                external_id=published.external_id,
                url=published.url,
                sent_at=timezone.now(),
                last_error="",
            )
    timeslot_settle(timeslot_id=delivery.timeslot_id)
    if sent:
        return Delivery.Status.SENT  # what we just set: no need to read it back
    return Delivery.objects.filter(id=delivery_id).values_list("status", flat=True).first()


def timeslot_settle(*, timeslot_id: int, now: dt.datetime | None = None) -> str | None:
    """Close a publishing slot once none of its deliveries is pending or sending.

    Safe when two deliveries finish at once: the one whose conditional UPDATE changes the
    row is the one that settles (and notifies); the other changes nothing.
    """
    now = now or timezone.now()
    # Fast path (performance, bench/README.md): when every delivery is sent, the usual
    # case, one conditional UPDATE settles the slot; the deliveries are counted only
    # otherwise. Same guarantee as below: each delivery commits its own status before it
    # settles, so the last one to finish sees all of them sent.
    deliveries = Delivery.objects.filter(timeslot_id=OuterRef("pk"))
    if (
        Timeslot.objects.filter(id=timeslot_id, status=Timeslot.Status.PUBLISHING)
        .filter(Exists(deliveries))
        .exclude(Exists(deliveries.exclude(status=Delivery.Status.SENT)))
        .update(status=Timeslot.Status.PUBLISHED, reason="", published_at=now, updated_at=now)
    ):
        return Timeslot.Status.PUBLISHED
    counts = dict(
        Delivery.objects.filter(timeslot_id=timeslot_id)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    if not counts or counts.get(Delivery.Status.PENDING) or counts.get(Delivery.Status.SENDING):
        return None
    sent, total = counts.get(Delivery.Status.SENT, 0), sum(counts.values())
    if sent == total:
        status, reason = Timeslot.Status.PUBLISHED, ""
    else:
        problems = list(
            Delivery.objects.filter(timeslot_id=timeslot_id)
            .exclude(status=Delivery.Status.SENT)
            .select_related("account")
        )
        reason = "; ".join(
            f"{d.account}: {d.get_status_display()} — {d.last_error}" for d in problems
        )
        status = Timeslot.Status.PARTIAL if sent else Timeslot.Status.FAILED
    settled = Timeslot.objects.filter(id=timeslot_id, status=Timeslot.Status.PUBLISHING).update(
        status=status, reason=reason, published_at=now, updated_at=now
    )
    if settled and status != Timeslot.Status.PUBLISHED:
        slot = Timeslot.objects.select_related("channel").get(id=timeslot_id)
        unconfirmed = counts.get(Delivery.Status.UNCONFIRMED, 0)
        notice_create(
            workspace_id=slot.channel.workspace_id,
            kind=Notice.Kind.TIMESLOT_UNCONFIRMED if unconfirmed else Notice.Kind.TIMESLOT_FAILED,
            message=(
                f"A slot of {slot.channel.name} ended {slot.get_status_display().lower()}: {reason}"
            ),
        )
    return status if settled else None


@dataclass
class RecoverResult:
    redispatched: int = 0
    unconfirmed: int = 0
    settled: int = 0


def timeslots_settle_stuck(*, now: dt.datetime, channel: Channel | None = None) -> int:
    """Settle 'publishing' slots whose deliveries have all finished.

    The last delivery settles its slot right after recording its own result; a worker
    killed between those two steps (or a database that went away) leaves the slot
    'publishing' for ever. Nothing else would close it, so the watchdog does.
    """
    unfinished = Delivery.objects.filter(
        timeslot=OuterRef("pk"), status__in=[Delivery.Status.PENDING, Delivery.Status.SENDING]
    )
    qs = Timeslot.objects.filter(
        status=Timeslot.Status.PUBLISHING, updated_at__lt=now - settings.WATCHDOG_GRACE
    ).exclude(Exists(unfinished))
    if channel is not None:
        qs = qs.filter(channel=channel)
    settled = 0
    for timeslot_id in qs.values_list("id", flat=True)[:5000]:
        if timeslot_settle(timeslot_id=timeslot_id, now=now):
            settled += 1
    return settled


def deliveries_recover(*, now: dt.datetime, channel: Channel | None = None) -> RecoverResult:
    """Re-dispatch pending deliveries whose message was lost; settle stuck 'sending' ones.

    A delivery stuck in 'sending' past SEND_TIMEOUT belongs to a worker that died mid-call.
    For a non-idempotent provider (X) it may have posted: it becomes 'unconfirmed', never
    re-sent. An idempotent one (webhook, sandbox) goes back to pending and is sent again.
    """
    result = RecoverResult()
    scope = Q(timeslot__channel=channel) if channel is not None else Q()
    stale_pending = list(
        Delivery.objects.filter(scope, status=Delivery.Status.PENDING)
        .filter(dispatched_at__lt=now - settings.WATCHDOG_GRACE)
        .filter(
            Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lt=now - settings.WATCHDOG_GRACE)
        )
        .values_list("id", flat=True)[:5000]
    )
    if stale_pending:
        Delivery.objects.filter(id__in=stale_pending, status=Delivery.Status.PENDING).update(
            dispatched_at=now
        )
        transaction.on_commit(lambda: dispatch_deliveries(stale_pending))
        result.redispatched = len(stale_pending)

    stuck = list(
        Delivery.objects.filter(
            scope,
            status=Delivery.Status.SENDING,
            sending_started_at__lt=now - settings.SEND_TIMEOUT,
        ).select_related("account")[:5000]
    )
    for delivery in stuck:
        if get_provider(delivery.account.provider).idempotent:
            if _set(
                delivery.id,
                status=Delivery.Status.PENDING,
                dispatched_at=now,
                last_error="The worker stopped mid-call; sending again (idempotent).",
            ):
                transaction.on_commit(lambda d=delivery.id: dispatch_deliveries([d]))
                result.redispatched += 1
        elif _set(
            delivery.id,
            status=Delivery.Status.UNCONFIRMED,
            last_error=UNCONFIRMED_WORKER_LOST,
        ):
            result.unconfirmed += 1
            timeslot_settle(timeslot_id=delivery.timeslot_id, now=now)
    result.settled = timeslots_settle_stuck(now=now, channel=channel)
    return result


def channels_warn_empty_queues(*, now: dt.datetime, until: dt.datetime) -> int:
    """Tell owners, before it happens, that a channel's next queue slot has nothing to post.

    One query finds the channels with a scheduled queue slot before `until` and no usable
    entry; each is told at most once a day (a notice for it not older than 24 h counts).
    """
    upcoming = Timeslot.objects.filter(
        channel=OuterRef("pk"),
        status=Timeslot.Status.SCHEDULED,
        post__isnull=True,
        publish_at__gte=now,
        publish_at__lt=until,
    )
    usable = usable_entries(now=now).filter(channel=OuterRef("pk"))
    empty = list(Channel.objects.filter(Exists(upcoming), is_paused=False).exclude(Exists(usable)))
    if not empty:
        return 0
    messages = {
        c.id: f"{c.name} will have nothing to publish at its next slot: its queue is empty."
        for c in empty
    }
    already = set(
        Notice.objects.filter(
            kind=Notice.Kind.QUEUE_EMPTY,
            message__in=list(messages.values()),
            created_at__gte=now - dt.timedelta(hours=24),
        ).values_list("workspace_id", "message")
    )
    notices = Notice.objects.bulk_create(
        [
            Notice(
                workspace_id=c.workspace_id, kind=Notice.Kind.QUEUE_EMPTY, message=messages[c.id]
            )
            for c in empty
            if (c.workspace_id, messages[c.id]) not in already
        ]
    )
    ids = [n.id for n in notices]
    transaction.on_commit(lambda: _email_notices(ids))
    return len(ids)


def _email_notices(ids: list[int]) -> None:
    from accounts.tasks import send_notice_email

    for notice_id in ids:
        send_notice_email.delay(notice_id)
