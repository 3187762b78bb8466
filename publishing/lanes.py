"""A chunk's provider calls: one lane per account, run concurrently (DESIGN §4).

Each lane calls its account's deliveries one after another (its rate limit and session are
the account's own). Webhook lanes all run at once from the task's own thread, through
curl's multi interface (ground.http_transport.curl.Calls); the SDK networks' lanes (X, Mastodon,
Bluesky) run on the worker process's thread pool; the sandbox runs inline. A lane starts
no call after the chunk's call budget, and a time limit mid-call judges every delivery on
whether its call may have started (at most once). publishing.delivery claims the chunk
and records what this returns.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from functools import partial

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connection
from django.utils import timezone

from ground.http_transport import curl
from networks import (
    AuthFailed,
    Published,
    RateLimited,
    Rejected,
    Transient,
    get_provider,
)
from networks.contract import Network as Provider
from networks.thread import PartlySent
from publishing.models import Delivery
from publishing.sql import deliveries_begin

log = logging.getLogger(__name__)

UNCONFIRMED_TIMEOUT = "Timed out mid-call: it may or may not have posted. Check the account."


def call_budget() -> float:
    """Seconds after its claim in which a chunk may still start a provider call."""
    return settings.SEND_TIMEOUT.total_seconds() / 4


class CallOutcome(StrEnum):
    """What became of one delivery's provider call (or of a delivery never called)."""

    SENT = "sent"
    FAILED = "failed"  # refused for good: nothing went out
    UNCONFIRMED = "unconfirmed"  # may or may not have posted: a person decides
    RETRY = "retry"  # nothing went out: try again at `at`
    REQUEUE = "requeue"  # never called (out of time): back to pending, sent by the next chunk
    RECONNECT = "reconnect"  # the credentials were refused: failed, and the account marked
    PARTIAL = "partial"  # a thread cut short: some parts went out


@dataclass
class Result:
    delivery: Delivery
    kind: CallOutcome
    error: str = ""
    at: dt.datetime | None = None  # retry: not before
    published: Published | None = None
    sent_at: dt.datetime | None = None
    rate_limited: bool = False
    needs_reconnect: bool = False  # partial: the part was refused for the credentials


def backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(300, 5 * 2 ** max(0, attempts - 1)))


def planned_attempts(window: dt.timedelta) -> int:
    """How many attempts the backoff fits in `window` (retries stop at MISSED_AFTER): the
    "of N" the UI shows. A rate limit's reset time can make it fewer."""
    attempts, elapsed = 1, dt.timedelta()
    while attempts < 1000:
        elapsed += backoff(attempts)
        if elapsed > window:
            break
        attempts += 1
    return attempts


def _call(provider: Provider, delivery: Delivery) -> Result:
    """One provider call, its outcome classified (DESIGN §4)."""
    return _classify(provider, delivery, lambda: provider.publish(delivery))


def _raise(exc: BaseException):
    raise exc


def _classify(provider: Provider, delivery: Delivery, attempt: Callable[[], Published]) -> Result:
    """Run `attempt` (the call, or the reading of its answer) and classify its outcome."""
    try:
        published = attempt()
    except PartlySent as exc:
        # A thread cut short: what went out is in thread_sent and in the message.
        return Result(
            delivery, CallOutcome.PARTIAL, exc.message, needs_reconnect=exc.needs_reconnect
        )
    except RateLimited as exc:
        return Result(delivery, CallOutcome.RETRY, exc.message, at=exc.reset_at, rate_limited=True)
    except Transient as exc:
        if exc.maybe_sent and not provider.idempotent:
            return Result(delivery, CallOutcome.UNCONFIRMED, exc.message)
        at = timezone.now() + backoff(delivery.attempts)
        return Result(delivery, CallOutcome.RETRY, exc.message, at=at)
    except AuthFailed as exc:
        return Result(delivery, CallOutcome.RECONNECT, exc.message)
    except Rejected as exc:
        return Result(delivery, CallOutcome.FAILED, exc.message)
    except SoftTimeLimitExceeded:
        # Raised in the task's own thread only (inline lanes). The call may have reached
        # the network: at most once wins over at least once.
        if provider.idempotent:
            return Result(delivery, CallOutcome.RETRY, "Timed out; retrying (idempotent).", at=None)
        return Result(delivery, CallOutcome.UNCONFIRMED, UNCONFIRMED_TIMEOUT)
    except Exception as exc:
        # A bug or an unexpected library error: we cannot tell whether it posted.
        log.exception("provider %s raised on delivery %s", provider.name, delivery.id)
        error = f"Unexpected error ({exc.__class__.__name__})."
        if provider.idempotent:
            return Result(delivery, CallOutcome.RETRY, error, at=timezone.now() + backoff(1))
        return Result(delivery, CallOutcome.UNCONFIRMED, f"{error} {UNCONFIRMED_TIMEOUT}")
    return Result(delivery, CallOutcome.SENT, published=published, sent_at=timezone.now())


class _Lane:
    """One account's deliveries of the chunk, called one after another (its rate limit and
    its session are the account's own); lanes of different accounts run in parallel."""

    def __init__(self, deliveries: list[Delivery], *, deadline: float, abort: threading.Event):
        self.deliveries = deliveries
        self.provider = get_provider(deliveries[0].account.provider)
        self.deadline = deadline
        self.abort = abort
        self.started: set[int] = set()
        self.results: list[Result] = []
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
                self.results += [
                    Result(d, CallOutcome.REQUEUE) for d in self.deliveries[self.next :]
                ]
                self.next = len(self.deliveries)
                return None
            delivery = self.deliveries[self.next]
            self.next += 1
            if not self.provider.idempotent and not _begin(delivery):
                continue  # recovery took it back, or a stop: never begun, no call
            self.started.add(delivery.id)
            return delivery
        return None

    def done(self, result: Result) -> None:
        self.results.append(result)
        rest = self.deliveries[self.next :]
        if result.rate_limited and rest:
            # Per account: nothing more goes to it before the reset.
            self.results += [
                Result(d, CallOutcome.RETRY, result.error, at=result.at, rate_limited=True)
                for d in rest
            ]
            self.next = len(self.deliveries)
        elif result.kind == CallOutcome.RECONNECT and rest:
            self.results += [Result(d, CallOutcome.RECONNECT, result.error) for d in rest]
            self.next = len(self.deliveries)

    def run(self) -> list[Result]:
        while (delivery := self.take()) is not None:
            self.done(_call(self.provider, delivery))
        return self.results

    def start(self, calls: curl.Calls) -> None:
        """Multiplexed: put the lane's next call in flight (its answer comes to `answer`)."""
        while (delivery := self.take()) is not None:
            provider = self.provider
            try:
                calls.start(self, provider.request(delivery))
            except curl.BlockedDestination as exc:
                self.done(_classify(provider, delivery, partial(provider.outcome, delivery, exc)))
            except Exception as exc:  # the call could not be built: classified as raised
                self.done(_classify(provider, delivery, partial(_raise, exc)))
            else:
                self.current = delivery
                return

    def answer(self, response: curl.Fetched | Exception, calls: curl.Calls) -> None:
        delivery, provider = self.current, self.provider
        self.current = None
        self.done(_classify(provider, delivery, partial(provider.outcome, delivery, response)))
        self.start(calls)


def _run_multiplexed(lanes: list[_Lane]) -> list[Result]:
    """Every lane's next call in flight at once, from this thread: no thread and no database
    connection per call, and the least CPU a call of the transports measured
    (ground/http_transport/curl.py)."""
    # After a time limit, calls in flight are dropped when the block ends, never re-read.
    with curl.calls() as calls:
        for lane in lanes:
            lane.start(calls)
        while calls.running:
            for lane, response in calls.wait():
                lane.answer(response, calls)
    return [r for lane in lanes for r in lane.results]


def _begin(delivery: Delivery) -> bool:
    """Record that the call is about to begin (non-idempotent providers only): from here on
    a lost worker leaves the delivery `unconfirmed`; before, it was never sent. False when
    recovery took it back or an emergency stop is in force (publishing/sql.py): no call."""
    return bool(deliveries_begin([delivery.id], now=timezone.now()))


def _run_strand(lanes: list[_Lane]) -> list[Result]:
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


def run_lanes(groups: list[list[Delivery]]) -> list[Result]:
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
    results: list[Result] = []
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
                    results.append(Result(d, CallOutcome.REQUEUE))
                elif lane.provider.idempotent:
                    results.append(
                        Result(d, CallOutcome.RETRY, "Timed out; retrying (idempotent).")
                    )
                else:
                    results.append(Result(d, CallOutcome.UNCONFIRMED, UNCONFIRMED_TIMEOUT))
    # After an abort, calls still in flight finish in the background and their results are
    # dropped: those deliveries are already marked unconfirmed (or for a retry, when the
    # provider is idempotent), which is what at most once asks.
    return results
