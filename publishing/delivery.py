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
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Notice, SocialAccount
from accounts.services import notice_create
from channels.models import Channel
from posts.models import PostImage
from publishing.models import Delivery
from publishing.providers import (
    AuthFailed,
    Provider,
    Published,
    RateLimited,
    Rejected,
    Transient,
    get_provider,
)
from publishing.providers.thread import PartlySent
from publishing.settle import timeslots_settle
from queueloop import events, netguard
from queueloop.celery import send_many
from queueloop.db import update_from_values

log = logging.getLogger(__name__)

DELIVER_TASK = "publishing.deliver_batch"
EARLY_TOLERANCE = dt.timedelta(seconds=1)
UNCONFIRMED_TIMEOUT = "Timed out mid-call: it may or may not have posted. Check the account."
UNCONFIRMED_WORKER_LOST = (
    "The worker stopped mid-call: it may or may not have posted. Check the account."
)


def call_budget() -> float:
    """Seconds after its claim in which a chunk may still start a provider call."""
    return settings.SEND_TIMEOUT.total_seconds() / 4


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
    """After commit, dispatch new deliveries — (id, provider) — in chunks of one provider
    each, so a slow network never holds a fast one's chunk."""
    by_provider: dict[str, list[int]] = defaultdict(list)
    for delivery_id, provider in created:
        by_provider[provider].append(delivery_id)
    for ids in by_provider.values():
        transaction.on_commit(lambda ids=ids: dispatch(ids))


# --- One chunk -----------------------------------------------------------------------------


@dataclass
class _Result:
    delivery: Delivery
    kind: str  # sent | failed | unconfirmed | retry | requeue | reconnect | partial
    error: str = ""
    at: dt.datetime | None = None  # retry: not before
    published: Published | None = None
    sent_at: dt.datetime | None = None
    rate_limited: bool = False
    needs_reconnect: bool = False  # partial: the part was refused for the credentials


def _backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(300, 5 * 2 ** max(0, attempts - 1)))


def planned_attempts(window: dt.timedelta) -> int:
    """How many attempts the backoff fits in `window` (retries stop at MISSED_AFTER): the
    "of N" the UI shows. A rate limit's reset time can make it fewer."""
    attempts, elapsed = 1, dt.timedelta()
    while attempts < 1000:
        elapsed += _backoff(attempts)
        if elapsed > window:
            break
        attempts += 1
    return attempts


def _call(provider: Provider, delivery: Delivery) -> _Result:
    """One provider call, its outcome classified (DESIGN §4)."""
    return _classify(provider, delivery, lambda: provider.publish(delivery))


def _raise(exc: BaseException):
    raise exc


def _classify(provider: Provider, delivery: Delivery, attempt: Callable[[], Published]) -> _Result:
    """Run `attempt` (the call, or the reading of its answer) and classify its outcome."""
    try:
        published = attempt()
    except PartlySent as exc:
        # A thread cut short: what went out is in thread_sent and in the message.
        return _Result(delivery, "partial", exc.message, needs_reconnect=exc.needs_reconnect)
    except RateLimited as exc:
        return _Result(delivery, "retry", exc.message, at=exc.reset_at, rate_limited=True)
    except Transient as exc:
        if exc.maybe_sent and not provider.idempotent:
            return _Result(delivery, "unconfirmed", exc.message)
        at = timezone.now() + _backoff(delivery.attempts)
        return _Result(delivery, "retry", exc.message, at=at)
    except AuthFailed as exc:
        return _Result(delivery, "reconnect", exc.message)
    except Rejected as exc:
        return _Result(delivery, "failed", exc.message)
    except SoftTimeLimitExceeded:
        # Raised in the task's own thread only (inline lanes). The call may have reached
        # the network: at most once wins over at least once.
        if provider.idempotent:
            return _Result(delivery, "retry", "Timed out; retrying (idempotent).", at=None)
        return _Result(delivery, "unconfirmed", UNCONFIRMED_TIMEOUT)
    except Exception as exc:
        # A bug or an unexpected library error: we cannot tell whether it posted.
        log.exception("provider %s raised on delivery %s", provider.name, delivery.id)
        error = f"Unexpected error ({exc.__class__.__name__})."
        if provider.idempotent:
            return _Result(delivery, "retry", error, at=timezone.now() + _backoff(1))
        return _Result(delivery, "unconfirmed", f"{error} {UNCONFIRMED_TIMEOUT}")
    return _Result(delivery, "sent", published=published, sent_at=timezone.now())


class _Lane:
    """One account's deliveries of the chunk, called one after another (its rate limit and
    its session are the account's own); lanes of different accounts run in parallel."""

    def __init__(self, deliveries: list[Delivery], *, deadline: float, abort: threading.Event):
        self.deliveries = deliveries
        self.provider = get_provider(deliveries[0].account.provider)
        self.deadline = deadline
        self.abort = abort
        self.started: set[int] = set()
        self.results: list[_Result] = []
        self.next = 0  # index of the next delivery to call
        self.current: Delivery | None = None  # multiplexed: the one whose call is in flight

    @property
    def inline(self) -> bool:
        # The sandbox writes a row in our own database: no network wait to overlap, and a
        # thread would need a database connection of its own.
        return getattr(self.provider, "inline", False)

    @property
    def multiplexed(self) -> bool:
        # The webhook: its calls are made by curl's multi interface in the task's thread.
        return getattr(self.provider, "multiplexed", False)

    def take(self) -> Delivery | None:
        """The next delivery to call, marked begun; None when the lane is done (out of
        time or aborted: the rest go back to pending)."""
        while self.next < len(self.deliveries):
            if self.abort.is_set() or time.monotonic() > self.deadline:
                self.results += [_Result(d, "requeue") for d in self.deliveries[self.next :]]
                self.next = len(self.deliveries)
                return None
            delivery = self.deliveries[self.next]
            self.next += 1
            if not self.provider.idempotent and not _begin(delivery):
                continue  # recovery took it back (never begun): another chunk sends it
            self.started.add(delivery.id)
            return delivery
        return None

    def done(self, result: _Result) -> None:
        self.results.append(result)
        rest = self.deliveries[self.next :]
        if result.rate_limited and rest:
            # Per account: nothing more goes to it before the reset.
            self.results += [
                _Result(d, "retry", result.error, at=result.at, rate_limited=True) for d in rest
            ]
            self.next = len(self.deliveries)
        elif result.kind == "reconnect" and rest:
            self.results += [_Result(d, "reconnect", result.error) for d in rest]
            self.next = len(self.deliveries)

    def run(self) -> list[_Result]:
        while (delivery := self.take()) is not None:
            self.done(_call(self.provider, delivery))
        return self.results

    def start(self, calls: netguard.Calls) -> None:
        """Multiplexed: put the lane's next call in flight (its answer comes to `answer`)."""
        while (delivery := self.take()) is not None:
            provider = self.provider
            try:
                calls.start(self, provider.request(delivery))
            except netguard.BlockedDestination as exc:
                self.done(_classify(provider, delivery, partial(provider.outcome, delivery, exc)))
            except Exception as exc:  # the call could not be built: classified as raised
                self.done(_classify(provider, delivery, partial(_raise, exc)))
            else:
                self.current = delivery
                return

    def answer(self, response: netguard.Fetched | Exception, calls: netguard.Calls) -> None:
        delivery, provider = self.current, self.provider
        self.current = None
        self.done(_classify(provider, delivery, partial(provider.outcome, delivery, response)))
        self.start(calls)


def _run_multiplexed(lanes: list[_Lane]) -> list[_Result]:
    """Every lane's next call in flight at once, from this thread: no thread and no database
    connection per call, and ~0.06 ms of CPU a call (queueloop/netguard.py)."""
    calls = netguard.calls()
    try:
        for lane in lanes:
            lane.start(calls)
        while calls.running:
            for lane, response in calls.wait():
                lane.answer(response, calls)
    finally:
        calls.abandon()  # after a time limit: calls in flight are dropped, never re-read
    return [r for lane in lanes for r in lane.results]


def _begin(delivery: Delivery) -> bool:
    """Record that the call is about to begin (non-idempotent providers only): from here on
    a lost worker leaves the delivery `unconfirmed`; before, it was never sent."""
    return bool(
        Delivery.objects.filter(
            id=delivery.id, status=Delivery.Status.SENDING, sending_started_at__isnull=True
        ).update(sending_started_at=timezone.now())
    )


def _run_strand(lanes: list[_Lane]) -> list[_Result]:
    """Some lanes of one chunk, one after another, in a thread of the worker's pool."""
    try:
        return [r for lane in lanes for r in lane.run()]
    finally:
        # Pool threads outlive the task: keep a connection a provider opened (the X token
        # refresh) only as Django would between requests.
        if connection.settings_dict.get("CONN_MAX_AGE"):
            connection.close_if_unusable_or_obsolete()
        else:
            connection.close()


_pool: tuple[int, ThreadPoolExecutor] | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    """The worker process's pool for network calls (DELIVER_POOL_SIZE threads), created on
    first use in each process (a prefork child does not inherit its parent's threads).

    One pool per process, not per chunk: with a pool per chunk, a 64-thread worker ran up
    to 64 x 16 threads in a hot second and spent its CPU switching between them (GIL)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():
            executor = ThreadPoolExecutor(
                max_workers=settings.DELIVER_POOL_SIZE, thread_name_prefix="deliver"
            )
            _pool = (os.getpid(), executor)
        return _pool[1]


def _claim(ids: list[int], *, now: dt.datetime) -> list[int]:
    """The one conditional UPDATE: pending and due → sending, RETURNING what it took."""
    ops = connection.ops
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
        ops.adapt_datetimefield_value(now),
        Delivery.Status.PENDING,
        *ids,
        ops.adapt_datetimefield_value(now + EARLY_TOLERANCE),
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


_DELIVERY_FIELDS = [f.attname for f in Delivery._meta.concrete_fields]
_ACCOUNT_FIELDS = [f"account__{f.attname}" for f in SocialAccount._meta.concrete_fields]
_SLOT_FIELDS = ["timeslot__id", "timeslot__channel_id", "timeslot__publish_at"]
_CHANNEL_FIELDS = [f"timeslot__channel__{f.attname}" for f in Channel._meta.concrete_fields]


def load_images(deliveries: list[Delivery]) -> None:
    """Every delivery's post's images, in order, into `delivery.image_list` (read by
    providers.delivery_images): one query for the chunk, plain lists, no post rows."""
    post_ids = {d.post_id for d in deliveries if d.post_id}
    by_post: dict[int, list[PostImage]] = defaultdict(list)
    if post_ids:
        for image in PostImage.objects.filter(post_id__in=post_ids):
            by_post[image.post_id].append(image)
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
    rows = list(
        Delivery.objects.filter(id__in=claimed)
        .select_related("account", "timeslot__channel")
        # Only what sending and recording read of the slot: its chosen text and the rest
        # are the delivery's own (a tenth of loading a chunk went to unused slot columns).
        .only(*_DELIVERY_FIELDS, *_ACCOUNT_FIELDS, *_SLOT_FIELDS, *_CHANNEL_FIELDS)
        .order_by("id")
    )
    load_images(rows)
    # An idempotent provider may be called again whatever happened: its deliveries count
    # as begun from the claim (one UPDATE), the others one by one as each call begins.
    again = [d.id for d in rows if get_provider(d.account.provider).idempotent]
    if again:
        Delivery.objects.filter(id__in=again).update(sending_started_at=now)
    results: list[_Result] = []
    lanes: dict[int, list[Delivery]] = defaultdict(list)
    for d in rows:
        channel = d.timeslot.channel
        if d.account.workspace_id != channel.workspace_id:
            results.append(_Result(d, "failed", "The account belongs to another workspace."))
        elif d.account.status != SocialAccount.Status.ACTIVE:
            error = d.account.last_error or "reconnect it"
            results.append(_Result(d, "failed", f"{d.account} needs reconnecting: {error}"))
        else:
            lanes[d.account_id].append(d)
    results += _run_lanes(list(lanes.values()))
    statuses = _record(results, now=now)
    timeslots_settle(timeslot_ids={d.timeslot_id for d in rows}, now=now)
    return statuses


def _run_lanes(groups: list[list[Delivery]]) -> list[_Result]:
    abort = threading.Event()
    deadline = time.monotonic() + call_budget()
    lanes = [_Lane(g, deadline=deadline, abort=abort) for g in groups]
    multiplexed = [lane for lane in lanes if lane.multiplexed]
    threaded = [lane for lane in lanes if not lane.inline and not lane.multiplexed]
    if len(threaded) == 1:
        threaded = []  # one lane: no thread (and no second database connection) needed
    # At most DELIVER_CONCURRENCY strands per chunk, each a share of its lanes run one
    # after another, on the process's shared pool (DELIVER_POOL_SIZE calls in flight).
    width = min(len(threaded), settings.DELIVER_CONCURRENCY)
    strands = [threaded[i::width] for i in range(width)]
    futures = [_executor().submit(_run_strand, strand) for strand in strands]
    results: list[_Result] = []
    try:
        if multiplexed:
            results += _run_multiplexed(multiplexed)
        for lane in lanes:
            if lane not in threaded and lane not in multiplexed:
                results += lane.run()
        for future in futures:
            results += future.result()
    except SoftTimeLimitExceeded:
        # The task is out of time while calls are in flight: no new call starts, and each
        # delivery without a result is judged on whether its call may have started.
        abort.set()
        done = {r.delivery.id for r in results}
        for lane in lanes:
            for r in list(lane.results):
                if r.delivery.id not in done:
                    results.append(r)
                    done.add(r.delivery.id)
            for d in lane.deliveries:
                if d.id in done:
                    continue
                if d.id not in lane.started:
                    results.append(_Result(d, "requeue"))
                elif lane.provider.idempotent:
                    results.append(_Result(d, "retry", "Timed out; retrying (idempotent)."))
                else:
                    results.append(_Result(d, "unconfirmed", UNCONFIRMED_TIMEOUT))
    # After an abort, calls still in flight finish in the background and their results are
    # dropped: those deliveries are already marked unconfirmed (or for a retry, when the
    # provider is idempotent), which is what at most once asks.
    return results


# --- Recording results ---------------------------------------------------------------------


def _deadline(delivery: Delivery) -> dt.datetime:
    return delivery.timeslot.publish_at + settings.MISSED_AFTER


@transaction.atomic
def _record(results: list[_Result], *, now: dt.datetime) -> dict[int, str]:
    """Write every result of the chunk: a few grouped UPDATEs, one bulk for the sent."""
    S = Delivery.Status
    statuses: dict[int, str] = {}
    sent = [r for r in results if r.kind == "sent"]
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
    for r in results:
        d = r.delivery
        if r.kind in ("failed", "unconfirmed"):
            status = S.FAILED if r.kind == "failed" else S.UNCONFIRMED
            final[(status, r.error)].append(d.id)
        elif r.kind == "reconnect":
            final[(S.FAILED, r.error)].append(d.id)
            reconnect[d.account_id] = (d.account, r.error)
        elif r.kind == "partial":
            final[(S.PARTIAL, r.error)].append(d.id)
            if r.needs_reconnect:
                reconnect[d.account_id] = (d.account, r.error)
        elif r.kind == "retry":
            at = r.at or now
            if at > _deadline(d):
                # A thread with parts already out stays partial: they are on the network.
                given_up = S.PARTIAL if d.thread_sent else S.FAILED
                final[(given_up, f"{r.error} Gave up: too late to post.")].append(d.id)
            else:
                pending[(r.error, at)].append(d.id)
                later[at if at > now else None].append(d.id)
        elif r.kind == "requeue":
            pending[("", None)].append(d.id)
            later[None].append(d.id)
    for (status, error), ids in final.items():
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
    """A chunk of one (a message of the first engine, or a test); returns the new status."""
    statuses = deliveries_send(delivery_ids=[delivery_id], now=now)
    return statuses.get(delivery_id, "not claimed")
