"""Repairing deliveries that lost their message or their worker (beat: every minute, the
`publishing.recover_deliveries` task; also `manage.py requeue_timeslots`).

The database is the truth (DESIGN §3, Watchdog): a `pending` delivery that made no progress
is dispatched again; a `sending` one older than SEND_TIMEOUT belongs to a worker that died
mid-call — sent again if the provider is idempotent, `unconfirmed` (never re-sent) if not;
and a `publishing` slot whose deliveries all finished, but which nobody settled, is settled.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q

from channels.models import Channel
from ground import events
from networks import get_provider
from publishing.comments import comments_recover
from publishing.delivery import UNCONFIRMED_WORKER_LOST, dispatch, record_unconfirmed
from publishing.models import Delivery
from publishing.settle import timeslots_settle
from scheduling.models import Timeslot

LIMIT = 5000


@dataclass
class RecoverResult:
    redispatched: int = 0
    unconfirmed: int = 0
    settled: int = 0
    # First comments sent again (message lost, or abandoned on an idempotent network) and
    # marked unconfirmed (abandoned on the others): publishing/comments.py.
    comments_again: int = 0
    comments_unconfirmed: int = 0


def timeslots_settle_stuck(*, now: dt.datetime, channel: Channel | None = None) -> int:
    """Settle 'publishing' slots whose deliveries have all finished.

    The last chunk settles its slots right after recording its results; a worker killed
    between those two steps (or a database that went away) leaves the slot 'publishing'
    for ever. Nothing else would close it, so recovery does.
    """
    unfinished = Delivery.objects.filter(
        timeslot=OuterRef("pk"), status__in=[Delivery.Status.PENDING, Delivery.Status.SENDING]
    )
    qs = Timeslot.objects.filter(
        status=Timeslot.Status.PUBLISHING, updated_at__lt=now - settings.WATCHDOG_GRACE
    ).exclude(Exists(unfinished))
    if channel is not None:
        qs = qs.filter(channel=channel)
    return timeslots_settle(timeslot_ids=list(qs.values_list("id", flat=True)[:LIMIT]), now=now)


@transaction.atomic
def deliveries_recover(*, now: dt.datetime, channel: Channel | None = None) -> RecoverResult:
    """Re-dispatch pending deliveries whose message was lost; settle stuck 'sending' ones."""
    result = RecoverResult()
    scope = Q(timeslot__channel=channel) if channel is not None else Q()
    grace = now - settings.WATCHDOG_GRACE
    stale_pending = list(
        Delivery.objects.filter(scope, status=Delivery.Status.PENDING, dispatched_at__lt=grace)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lt=grace))
        .values_list("id", flat=True)[:LIMIT]
    )
    if stale_pending:
        Delivery.objects.filter(id__in=stale_pending, status=Delivery.Status.PENDING).update(
            dispatched_at=now
        )
        transaction.on_commit(lambda: dispatch(stale_pending))
        result.redispatched = len(stale_pending)

    # Claimed by a chunk that died before it began the call: never sent, so it is sent
    # again whatever the provider (X included). The condition on sending_started_at makes
    # this and a chunk still beginning it exclusive (one UPDATE of the row wins).
    never_begun = list(
        Delivery.objects.filter(
            scope,
            status=Delivery.Status.SENDING,
            sending_started_at__isnull=True,
            claimed_at__lt=now - settings.SEND_TIMEOUT,
        ).values_list("id", flat=True)[:LIMIT]
    )
    if never_begun:
        result.redispatched += Delivery.objects.filter(
            id__in=never_begun, status=Delivery.Status.SENDING, sending_started_at__isnull=True
        ).update(
            status=Delivery.Status.PENDING,
            dispatched_at=now,
            last_error="The worker stopped before calling the network; sending again.",
        )
        transaction.on_commit(lambda: dispatch(never_begun))

    stuck = (
        Delivery.objects.filter(
            scope,
            status=Delivery.Status.SENDING,
            sending_started_at__lt=now - settings.SEND_TIMEOUT,
        )
        .select_related("account")
        .only("id", "timeslot_id", "account__provider", "account__workspace_id")[:LIMIT]
    )
    by_kind: dict[bool, list[Delivery]] = defaultdict(list)
    for d in stuck:
        by_kind[get_provider(d.account.provider).idempotent].append(d)
    again = [d.id for d in by_kind[True]]
    if again:
        result.redispatched += Delivery.objects.filter(
            id__in=again, status=Delivery.Status.SENDING
        ).update(
            status=Delivery.Status.PENDING,
            dispatched_at=now,
            last_error="The worker stopped mid-call; sending again (idempotent).",
        )
        transaction.on_commit(lambda: dispatch(again))
    lost = by_kind[False]
    if lost:
        with transaction.atomic():  # marked with their events, or neither
            marked = set(
                Delivery.objects.select_for_update()
                .filter(id__in=[d.id for d in lost], status=Delivery.Status.SENDING)
                .values_list("id", flat=True)
            )
            result.unconfirmed = Delivery.objects.filter(id__in=marked).update(
                status=Delivery.Status.UNCONFIRMED, last_error=UNCONFIRMED_WORKER_LOST
            )
            record_unconfirmed(
                (d.id, d.account.workspace_id, d.timeslot_id, UNCONFIRMED_WORKER_LOST)
                for d in lost
                if d.id in marked
            )
        events.log_events(
            "delivery_unconfirmed",
            ({"delivery_id": d.id, "timeslot_id": d.timeslot_id} for d in lost),
            reason=UNCONFIRMED_WORKER_LOST,
        )
        result.settled += timeslots_settle(timeslot_ids={d.timeslot_id for d in lost}, now=now)
    result.settled += timeslots_settle_stuck(now=now, channel=channel)
    result.comments_again, result.comments_unconfirmed = comments_recover(now=now, channel=channel)
    return result
