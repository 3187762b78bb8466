"""First comments: after a post went out (all its parts), its first comment — the text the
post had when the delivery was made (`Delivery.comment`) — is posted as a reply under the
first part, on the networks whose capabilities say `first_comment` (issue 30, item 8).

When: a delivery made from a post with a comment is `comment_status = due` from the start;
the chunk that records the post `sent` posts the due comments with no delay right away (the
same task, inside the chunk's call budget), and sends a `publishing.send_comments` message
with `eta = sent + delay` for the others. A message only claims comments still `due`, whose
post is `sent` and whose moment has come (one locked UPDATE): a stale or repeated message,
or one for a comment already claimed, does nothing.

Once (DESIGN §4, at most once): the claim marks the comment `sending` before its call; the
answer's reference goes to `network_state["comment"]` the moment it is known. A worker lost
mid-call leaves it `sending`: recovery (every minute, `comments_recover`) posts it again on
an idempotent network (its key or record key comes from the delivery and "comment"), and
marks it `unconfirmed` on the others — never repeated. A comment due whose message was lost
is sent by recovery too.

A comment that fails never touches the post: the delivery stays `sent`, the comment's error
is in `comment_error` (the delivery's page) and in a notice.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import DateTimeField, Exists, ExpressionWrapper, F, OuterRef, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Notice, SocialAccount
from accounts.services import account_mark_needs_reconnect, notice_create
from channels.models import Channel
from ground import events
from networks import AuthFailed, RateLimited, Rejected, Transient, get_provider
from networks.thread import comment_on
from publishing.lanes import backoff
from publishing.models import Delivery
from queueloop.celery import send_many
from scheduling.enqueue import EARLY_TOLERANCE
from scheduling.models import Stop

log = logging.getLogger(__name__)

COMMENT_TASK = "publishing.send_comments"
C = Delivery.CommentStatus
UNCONFIRMED_COMMENT = (
    "The worker stopped while posting the first comment: it may or may not be there. "
    "Check the post; it is never posted twice."
)

_STOPS = Stop.objects.filter(resumed_at__isnull=True)
_WS = OuterRef("account__workspace_id")

# The moment a due comment may go: a retry's own moment, else the post's plus the delay.
_DUE = Coalesce(
    "comment_at",
    ExpressionWrapper(F("sent_at") + F("comment_delay"), output_field=DateTimeField()),
)


def enqueue(ids: list[int], *, eta: dt.datetime | None = None) -> None:
    """A send_comments message for these deliveries (after commit when in a transaction)."""

    def send() -> None:
        try:
            send_many(COMMENT_TASK, [((ids,), eta)], what="comments")
        except Exception:
            # The comments stay due: recovery sends them after WATCHDOG_GRACE.
            log.exception("broker refused a comment message for %d deliveries", len(ids))

    transaction.on_commit(send)


POST_NOT_SENT = "Not sent: the post itself did not go out whole, so there is nothing to reply to."


def after_chunk(rows: Iterable[Delivery], statuses: dict[int, str], *, deadline: float) -> None:
    """The chunk recorded these posts: their due comments go now (no delay, while the
    chunk's call budget lasts) or by a message at their moment."""
    now_ids: list[int] = []
    later: dict[dt.timedelta, list[int]] = {}
    # A post that failed for good (or went out only in part) takes no comment: say why
    # rather than leave it due forever. An unconfirmed one waits: read-back may find it.
    ended = [
        d.id
        for d in rows
        if d.comment_status == C.DUE
        and statuses.get(d.id) in (Delivery.Status.FAILED, Delivery.Status.PARTIAL)
    ]
    if ended:
        Delivery.objects.filter(id__in=ended, comment_status=C.DUE).update(
            comment_status=C.FAILED, comment_error=POST_NOT_SENT
        )
    for d in rows:
        if d.comment_status != C.DUE or statuses.get(d.id) != Delivery.Status.SENT:
            continue
        if d.comment_delay:
            later.setdefault(d.comment_delay, []).append(d.id)
        else:
            now_ids.append(d.id)
    # Read after the posts' sent_at was written: an eta never before the stored moment.
    now = timezone.now()
    for delay, ids in later.items():
        enqueue(ids, eta=now + delay)
    if now_ids:
        comments_send(delivery_ids=now_ids, deadline=deadline)


def _claim(ids: list[int], *, now: dt.datetime) -> list[int]:
    """Due comments of sent posts whose moment has come → sending (locked, so two messages
    never both take one)."""
    with transaction.atomic():
        taken = list(
            Delivery.objects.filter(id__in=ids, status=Delivery.Status.SENT, comment_status=C.DUE)
            .alias(due=_DUE)
            .filter(due__lte=now + EARLY_TOLERANCE)
            # Not under an emergency stop in force (publishing/stopping/services.py).
            .exclude(Exists(_STOPS.filter(Q(workspace__isnull=True) | Q(workspace_id=_WS))))
            .select_for_update(skip_locked=True)
            .values_list("id", flat=True)
        )
        if taken:
            Delivery.objects.filter(id__in=taken).update(comment_status=C.SENDING, comment_at=now)
    return taken


def comments_send(
    *, delivery_ids: list[int], now: dt.datetime | None = None, deadline: float | None = None
) -> dict[int, str]:
    """Post the due first comments of these deliveries; return each claimed one's new
    comment status. After `deadline` (time.monotonic) no call starts: the rest are due
    again and go by a message now."""
    now = now or timezone.now()
    ids = sorted({int(i) for i in delivery_ids})
    claimed = _claim(ids, now=now) if ids else []
    if not claimed:
        return {}
    rows = list(
        Delivery.objects.filter(id__in=claimed)
        .select_related("account", "timeslot__channel")
        .order_by("id")
    )
    statuses: dict[int, str] = {}
    for n, d in enumerate(rows):
        if deadline is not None and time.monotonic() > deadline:
            rest = [r.id for r in rows[n:]]
            Delivery.objects.filter(id__in=rest, comment_status=C.SENDING).update(
                comment_status=C.DUE
            )
            enqueue(rest)
            statuses.update(dict.fromkeys(rest, C.DUE))
            break
        statuses[d.id] = _send_one(d)
    return statuses


def _send_one(d: Delivery) -> str:
    network = get_provider(d.account.provider)
    if not network.capabilities.first_comment:
        _finish(d, C.NOT_HERE, "")
        return C.NOT_HERE
    if d.account.status != SocialAccount.Status.ACTIVE:
        # Disabled, or its credentials refused since the post: nothing is called.
        error = d.account.last_error or "reconnect it"
        return _finish(d, C.FAILED, f"{d.account} needs reconnecting: {error}")
    on = comment_on(d)
    if not on.get("id"):
        # The post's id is unknown (marked sent by a person): a reply to nothing would be a
        # second post on some networks. Nothing is sent.
        return _finish(d, C.FAILED, "The post's id on the network is unknown: not posted.")
    try:
        ref = network.publish_comment(d, d.comment, on=on)
    except SoftTimeLimitExceeded:
        raise  # left `sending`: recovery judges it (at most once)
    except RateLimited as exc:
        return _retry(d, exc.message, at=exc.reset_at)
    except Transient as exc:
        if exc.maybe_sent and not network.idempotent:
            return _finish(d, C.UNCONFIRMED, f"{exc.message} It is never posted twice.")
        return _retry(d, exc.message)
    except AuthFailed as exc:
        account_mark_needs_reconnect(account=d.account, error=exc.message, now=timezone.now())
        return _finish(d, C.FAILED, exc.message)
    except Rejected as exc:
        return _finish(d, C.FAILED, exc.message)
    except Exception as exc:
        log.exception("network %s raised on the first comment of delivery %s", network.name, d.id)
        error = f"Unexpected error ({exc.__class__.__name__})."
        if network.idempotent:
            return _retry(d, error)
        return _finish(d, C.UNCONFIRMED, f"{error} It may or may not be there.")
    # Written the moment it is known: a repeat of the message finds it `sent`.
    state = {**(d.network_state or {}), "comment": ref}
    Delivery.objects.filter(id=d.id).update(
        comment_status=C.SENT, comment_error="", network_state=state
    )
    d.network_state = state
    events.log_event("comment_sent", delivery_id=d.id, provider=network.name)
    return C.SENT


def _retry(d: Delivery, error: str, *, at: dt.datetime | None = None) -> str:
    """Nothing went out: due again at `at`, unless that is past the comment's deadline (its
    moment plus MISSED_AFTER)."""
    tries = int((d.network_state or {}).get("comment_tries", 0)) + 1
    at = at or timezone.now() + backoff(tries)
    moment = (d.sent_at or timezone.now()) + d.comment_delay
    if at > moment + settings.MISSED_AFTER:
        return _finish(d, C.FAILED, f"{error} Gave up: too late for the first comment.")
    state = {**(d.network_state or {}), "comment_tries": tries}
    Delivery.objects.filter(id=d.id, comment_status=C.SENDING).update(
        comment_status=C.DUE, comment_at=at, comment_error=error, network_state=state
    )
    enqueue([d.id], eta=at)
    return C.DUE


def _finish(d: Delivery, status: str, error: str) -> str:
    Delivery.objects.filter(id=d.id, comment_status=C.SENDING).update(
        comment_status=status, comment_error=error
    )
    if status in (C.FAILED, C.UNCONFIRMED):
        _tell(d, status, error)
    return status


def _tell(d: Delivery, status: str, error: str) -> None:
    what = "did not go out" if status == C.FAILED else "may or may not have gone out"
    channel = d.timeslot.channel
    failed = status == C.FAILED
    notice_create(
        workspace_id=channel.workspace_id,
        kind=Notice.Kind.TIMESLOT_FAILED if failed else Notice.Kind.TIMESLOT_UNCONFIRMED,
        message=(f"The post went out on {d.account}, but its first comment {what}: {error}"),
        subject=f"comment:{d.id}",
    )
    events.log_event(f"comment_{status}", delivery_id=d.id, reason=error)


# --- Recovery --------------------------------------------------------------------------------


def comments_recover(*, now: dt.datetime, channel: Channel | None = None) -> tuple[int, int]:
    """Due comments whose message was lost are sent; comments abandoned mid-call are sent
    again on an idempotent network and `unconfirmed` on the others. Returns (sent again,
    unconfirmed). Called by publishing.recovery.deliveries_recover (in its transaction)."""
    scope = Q(timeslot__channel=channel) if channel is not None else Q()
    lost = list(
        Delivery.objects.filter(scope, comment_status=C.DUE, status=Delivery.Status.SENT)
        .alias(due=_DUE)
        .filter(due__lt=now - settings.WATCHDOG_GRACE)
        .values_list("id", flat=True)[:5000]
    )
    abandoned = list(
        Delivery.objects.filter(
            scope, comment_status=C.SENDING, comment_at__lt=now - settings.SEND_TIMEOUT
        ).select_related("account", "timeslot__channel")[:5000]
    )
    again = [d.id for d in abandoned if get_provider(d.account.provider).idempotent]
    if again:
        Delivery.objects.filter(id__in=again, comment_status=C.SENDING).update(
            comment_status=C.DUE, comment_at=now
        )
    unconfirmed = 0
    for d in abandoned:
        if d.id not in again:
            d.comment_status = C.SENDING
            _finish(d, C.UNCONFIRMED, UNCONFIRMED_COMMENT)
            unconfirmed += 1
    if lost or again:
        enqueue(lost + again)
    return len(lost) + len(again), unconfirmed
