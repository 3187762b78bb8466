"""Deliveries: dispatched in chunks, each chunk's provider calls made concurrently, every
result recorded, and the touched slots settled in bulk (DESIGN §4).

At most once (§4): a chunk claims its deliveries `pending → sending` with one conditional
UPDATE, so a delivery is called by one chunk only. A call that may have reached the network
and failed to answer is never repeated for a non-idempotent provider: it ends `unconfirmed`.
Rate limits are per account: the account's lane stops and its remaining deliveries wait for
the reset; other accounts' lanes go on.

A chunk never starts a call after CALL_BUDGET from its claim: what is left goes back to
`pending` and is sent by the next message. So a chunk ends well inside SEND_TIMEOUT, the age
at which the watchdog treats a `sending` delivery as abandoned by a dead worker.

The calls themselves, lane by lane, are publishing/lanes.py's; this module claims a chunk,
loads it, and records and settles what the lanes return.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import defaultdict
from collections.abc import Iterable

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import EventType, SocialAccount
from accounts.outbox import NewEvent, record_events
from accounts.services import account_mark_needs_reconnect
from channels.models import Channel
from ground import events
from ground.db import db_datetime, update_from_values
from networks import get_provider, needs_image
from posts.models import PostImage
from publishing import comments
from publishing.lanes import CallOutcome, Result, call_budget, run_lanes
from publishing.models import Delivery
from publishing.settle import timeslots_settle
from publishing.sql import deliveries_begin, deliveries_fail_stopped
from queueloop.celery import send_many
from scheduling.enqueue import EARLY_TOLERANCE

log = logging.getLogger(__name__)

DELIVER_TASK = "publishing.deliver_batch"
NOT_SENT_STOPPED = "Not sent: publishing was stopped before its call began."
UNCONFIRMED_WORKER_LOST = (
    "The worker stopped mid-call: it may or may not have posted. Check the account."
)


# --- Dispatch ------------------------------------------------------------------------------


def dispatch(delivery_ids: list[int], *, eta: dt.datetime | None = None) -> None:
    """Send deliver_batch messages for these ids now, in chunks of DELIVER_BATCH_SIZE."""
    size = settings.DELIVER_BATCH_SIZE
    chunks = [delivery_ids[i : i + size] for i in range(0, len(delivery_ids), size)]
    try:
        send_many(DELIVER_TASK, [((chunk,), eta) for chunk in chunks], what="deliveries")
    except Exception:
        # The deliveries stay pending; the recovery task re-dispatches them after
        # WATCHDOG_GRACE.
        log.exception("broker refused %d deliver message(s)", len(delivery_ids))


def dispatch_on_commit(created: Iterable[tuple[int, str]]) -> None:
    """After commit, dispatch new deliveries — (id, provider) — in chunks: the webhook's
    (its calls multiplexed in the task's own thread, hundreds a second) apart from the
    other networks', so a slow network never holds the fast path's chunk. The other
    networks share chunks: each account is a lane of its own running beside the others
    (publishing/lanes.py), and a chunk per network made a channel reaching ten networks
    cost ten tasks, each claiming, loading, recording and settling (bench: networks mix)."""
    groups: dict[bool, list[int]] = defaultdict(list)
    for delivery_id, provider in created:
        groups[bool(getattr(get_provider(provider), "multiplexed", False))].append(delivery_id)
    for ids in groups.values():
        transaction.on_commit(lambda ids=ids: dispatch(ids))


def _claim(ids: list[int], *, now: dt.datetime) -> list[int]:
    """The one conditional UPDATE: pending and due → sending, RETURNING what it took."""
    marks = ", ".join(["%s"] * len(ids))
    # Only our table name and %s placeholders are formatted in; every value is a parameter.
    table = Delivery._meta.db_table
    sql = (
        f"UPDATE {table} "  # noqa: S608
        "SET status = %s, attempts = attempts + 1, claimed_at = %s, sending_started_at = NULL "
        f"WHERE status = %s AND id IN ({marks}) "
        "AND (next_attempt_at IS NULL OR next_attempt_at <= %s) RETURNING id"
    )
    params = [
        Delivery.Status.SENDING,
        db_datetime(now),
        Delivery.Status.PENDING,
        *ids,
        db_datetime(now + EARLY_TOLERANCE),
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


# What sending and recording read of a chunk: the delivery, its account and channel, and of
# its slot only the channel and due time (its chosen text and the rest are the delivery's
# own; a tenth of loading a chunk went to unused slot columns). The ORM's select_related.
_CHUNK_ONLY = [
    *(f.name for f in Delivery._meta.concrete_fields),
    *(f"account__{f.name}" for f in SocialAccount._meta.concrete_fields),
    "timeslot__channel",
    "timeslot__publish_at",
    *(f"timeslot__channel__{f.name}" for f in Channel._meta.concrete_fields),
]


def _chunk(ids: list[int]) -> list[Delivery]:
    return list(
        Delivery.objects.filter(id__any=ids)
        .select_related("account", "timeslot__channel")
        .only(*_CHUNK_ONLY)
        .order_by("id")
    )


def load_images(deliveries: list[Delivery]) -> None:
    """Every delivery's post's images, in order, into `delivery.image_list` (read by
    providers.delivery_images): one query for the chunk, plain lists, no post rows."""
    by_post: dict[int, list[PostImage]] = defaultdict(list)
    post_ids = {d.post_id for d in deliveries if d.post_id}
    for image in PostImage.objects.filter(post_id__any=post_ids) if post_ids else ():
        by_post[image.post_id].append(image)  # in the model's order
    for d in deliveries:
        d.image_list = by_post.get(d.post_id, [])


def deliveries_send(*, delivery_ids: list[int], now: dt.datetime | None = None) -> dict[int, str]:
    """Send a chunk of deliveries at most once each; return the new status of each claimed."""
    now = now or timezone.now()
    ids = sorted({int(i) for i in delivery_ids})
    if not ids:
        return {}
    claimed = _claim(ids, now=now)
    if not claimed:
        return {}
    deadline = time.monotonic() + call_budget()
    rows = _chunk(claimed)
    load_images(rows)
    # An idempotent provider may be called again whatever happened: its deliveries begin
    # together (one conditional UPDATE), the others one by one as each call begins (lanes).
    # Either way an emergency stop in force keeps them from beginning (publishing/sql.py).
    again = [d.id for d in rows if get_provider(d.account.provider).idempotent]
    kept_back = set(again) - set(deliveries_begin(again, now=now)) if again else set()
    calls = [d for d in rows if d.id not in kept_back] if kept_back else rows
    results: list[Result] = []
    lanes: dict[int, list[Delivery]] = defaultdict(list)
    for d in calls:
        channel = d.timeslot.channel
        if d.account.workspace_id != channel.workspace_id:
            results.append(
                Result(d, CallOutcome.FAILED, "The account belongs to another workspace.")
            )
        elif not d.image_list and (problem := needs_image(get_provider(d.account.provider))):
            # Nothing is sent: the network would refuse it (channels/fit.py warned before).
            results.append(Result(d, CallOutcome.FAILED, f"Skipped: {problem} Nothing was sent."))
        elif d.account.status != SocialAccount.Status.ACTIVE:
            error = d.account.last_error or "reconnect it"
            results.append(
                Result(d, CallOutcome.FAILED, f"{d.account} needs reconnecting: {error}")
            )
        else:
            lanes[d.account_id].append(d)
    results += run_lanes(list(lanes.values()))
    statuses = _record(results, now=now)
    if unbegun := set(claimed) - {r.delivery.id for r in results}:
        # Claimed but never begun: a stop came first (or recovery took one back).
        stopped = deliveries_fail_stopped(unbegun, error=NOT_SENT_STOPPED)
        statuses.update(dict.fromkeys(stopped, Delivery.Status.FAILED))
    timeslots_settle(timeslot_ids={d.timeslot_id for d in rows}, now=now)
    if any(d.comment_status == Delivery.CommentStatus.DUE for d in rows):
        # Only chunks with a first comment pay for it (publishing/comments.py).
        comments.after_chunk(rows, statuses, deadline=deadline)
    return statuses


# --- Recording results ---------------------------------------------------------------------


def _deadline(delivery: Delivery) -> dt.datetime:
    return delivery.timeslot.publish_at + settings.MISSED_AFTER


@transaction.atomic
def _record(results: list[Result], *, now: dt.datetime) -> dict[int, str]:
    """Write every result of the chunk: a few grouped UPDATEs, one bulk for the sent."""
    S = Delivery.Status
    statuses: dict[int, str] = {}
    sent = [r for r in results if r.kind == CallOutcome.SENT]
    if sent:
        # A late answer may still prove an `unconfirmed` delivery sent (the task's time
        # limit marked it first): the truth wins. Anything else is left as it is.
        changed = update_from_values(
            Delivery,
            [
                {
                    "id": r.delivery.id,
                    "status": S.SENT,
                    "external_id": r.published.external_id,
                    "url": r.published.url,
                    "sent_at": r.sent_at,
                    "last_error": "",
                }
                for r in sent
            ],
            fields=["status", "external_id", "url", "sent_at", "last_error"],
            where="t.status IN (%s, %s)",
            where_params=[S.SENDING, S.UNCONFIRMED],
        )
        statuses.update(dict.fromkeys(changed, S.SENT))
        events.log_events(
            "delivery_sent",
            (
                {
                    "delivery_id": r.delivery.id,
                    "timeslot_id": r.delivery.timeslot_id,
                    "account_id": r.delivery.account_id,
                    "provider": r.delivery.account.provider,
                    "lateness_ms": events.lateness_ms(r.delivery.timeslot.publish_at, r.sent_at),
                }
                for r in sent
            ),
        )

    final: dict[tuple[str, str], list[int]] = defaultdict(list)
    later: dict[dt.datetime | None, list[int]] = defaultdict(list)
    pending: dict[tuple[str, dt.datetime | None], list[int]] = defaultdict(list)
    reconnect: dict[int, tuple[SocialAccount, str]] = {}
    by_id = {r.delivery.id: r.delivery for r in results}
    for r in results:
        d = r.delivery
        if r.kind in (CallOutcome.FAILED, CallOutcome.UNCONFIRMED):
            status = S.FAILED if r.kind == CallOutcome.FAILED else S.UNCONFIRMED
            final[(status, r.error)].append(d.id)
        elif r.kind == CallOutcome.RECONNECT:
            final[(S.FAILED, r.error)].append(d.id)
            reconnect[d.account_id] = (d.account, r.error)
        elif r.kind == CallOutcome.PARTIAL:
            final[(S.PARTIAL, r.error)].append(d.id)
            if r.needs_reconnect:
                reconnect[d.account_id] = (d.account, r.error)
        elif r.kind == CallOutcome.RETRY:
            at = r.at or now
            if at > _deadline(d):
                # A thread with parts already out stays partial: they are on the network.
                given_up = S.PARTIAL if d.thread_sent else S.FAILED
                final[(given_up, f"{r.error} Gave up: too late to post.")].append(d.id)
            else:
                pending[(r.error, at)].append(d.id)
                later[at if at > now else None].append(d.id)
        elif r.kind == CallOutcome.REQUEUE:
            pending[("", None)].append(d.id)
            later[None].append(d.id)
    for (status, error), ids in final.items():
        if status == S.UNCONFIRMED:
            # The rare path: lock first, so the event goes out only for the rows this
            # call turned unconfirmed (a time limit may have marked some already).
            ids = list(
                Delivery.objects.select_for_update()
                .filter(id__in=ids, status=S.SENDING)
                .values_list("id", flat=True)
            )
            record_unconfirmed(
                (i, by_id[i].account.workspace_id, by_id[i].timeslot_id, error) for i in ids
            )
        n = Delivery.objects.filter(id__in=ids, status=S.SENDING).update(
            status=status, last_error=error
        )
        if n:
            statuses.update(dict.fromkeys(ids, status))
        step = {S.FAILED: "delivery_failed", S.PARTIAL: "delivery_partial"}.get(
            status, "delivery_unconfirmed"
        )
        events.log_events(step, ({"delivery_id": i} for i in ids), reason=error)
    for (error, at), ids in pending.items():
        fields = {"status": S.PENDING, "dispatched_at": now, "next_attempt_at": at}
        if error:
            fields["last_error"] = error
        Delivery.objects.filter(id__in=ids, status=S.SENDING).update(**fields)
        statuses.update(dict.fromkeys(ids, S.PENDING))
        events.log_events("delivery_retry", ({"delivery_id": i} for i in ids), reason=error, eta=at)
    for at, ids in later.items():
        transaction.on_commit(lambda ids=ids, at=at: dispatch(ids, eta=at))
    for account, error in reconnect.values():
        account_mark_needs_reconnect(account=account, error=error, now=now)
    return statuses


def record_unconfirmed(rows: Iterable[tuple[int, int, int, str]]) -> None:
    """delivery.unconfirmed events for (delivery id, workspace id, slot id, error) rows,
    one INSERT; call it in the transaction that marks them."""
    record_events(
        NewEvent(
            workspace_id,
            EventType.DELIVERY_UNCONFIRMED,
            {
                "delivery_id": delivery_id,
                "timeslot_id": timeslot_id,
                "status": str(Delivery.Status.UNCONFIRMED),
                "reason": error,
            },
        )
        for delivery_id, workspace_id, timeslot_id, error in rows
    )


def delivery_send(*, delivery_id: int, now: dt.datetime | None = None) -> str:
    """A chunk of one (a message of the first engine, or a test); returns the new status.
    Goes with the first engine's tasks in the next release (publishing/legacy_tasks.py)."""
    statuses = deliveries_send(delivery_ids=[delivery_id], now=now)
    return statuses.get(delivery_id, "not claimed")
