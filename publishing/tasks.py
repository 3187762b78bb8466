"""Thin Celery tasks: take ids, call a service (publishing/services.py)."""

from __future__ import annotations

import threading

from celery import shared_task
from django.conf import settings
from django.utils import timezone

import networks
from publishing import read_back, services

# The worker imports this module when it starts: load the providers' SDKs now. Imported
# lazily by the first delivery instead, they cost the first hot second ~1.5 s of CPU while
# every other thread waited for the GIL (bench/README.md, "first_get_provider_seconds").
networks.load_all()

# How many publish batches one worker process claims at once (threads pool; a prefork
# child runs one task anyway). A hot second's batches all become due together: run at once
# they shared the GIL and all finished late together, so even the first delivery left
# late. One at a time, the first batch's deliveries are on their way while the next
# batch claims, and the network waits overlap the claiming (bench/README.md, "Engine v2
# follow-up").
_claim_gate = threading.BoundedSemaphore(settings.PUBLISH_CLAIMS_AT_ONCE)


@shared_task(name="publishing.publish_timeslots", soft_time_limit=60, time_limit=90)
def publish_timeslots(pairs: list[list]) -> dict[str, str]:
    """One ETA second's batch of [timeslot_id, token] pairs (DESIGN §3); returns each
    slot's outcome by id (shown in the worker's log and to task signals)."""
    with _claim_gate:
        outcomes = services.timeslots_publish(pairs=pairs)
    return {str(timeslot_id): outcome.value for timeslot_id, outcome in outcomes.items()}


@shared_task(name="publishing.publish_timeslot", soft_time_limit=30, time_limit=60)
def publish_timeslot(timeslot_id: int, token: str) -> str:
    """The first engine's message, one slot each: still on brokers during an upgrade (its
    ETA can be up to PLANNER_HORIZON ahead), so it keeps working as a batch of one.

    Nothing sends it any more. Kept for this release only, with `deliver` below: the next
    one removes both, once `manage.py legacy_tasks` says none is left on the broker
    (publishing/legacy_tasks.py)."""
    return services.timeslot_publish(timeslot_id=timeslot_id, token=token).value


# The time limits stay below SEND_TIMEOUT (120 s): a chunk starts no call after a quarter of
# it, and a live chunk must never look abandoned to the recovery task.
@shared_task(name="publishing.deliver_batch", soft_time_limit=90, time_limit=110)
def deliver_batch(delivery_ids: list[int]) -> dict:
    statuses = services.deliveries_send(delivery_ids=delivery_ids)
    counts: dict[str, int] = {}
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    return counts


@shared_task(name="publishing.send_comments", soft_time_limit=90, time_limit=110)
def send_comments(delivery_ids: list[int]) -> dict:
    """First comments whose moment has come (publishing/comments.py): only those still due
    are claimed, so a stale or repeated message does nothing."""
    statuses = services.comments_send(delivery_ids=delivery_ids)
    counts: dict[str, int] = {}
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    return counts


@shared_task(name="publishing.deliver", soft_time_limit=45, time_limit=75)
def deliver(delivery_id: int) -> str | None:
    """The first engine's one-delivery message: kept for this release only, like
    publish_timeslot above (nothing sends it any more)."""
    return services.delivery_send(delivery_id=delivery_id)


@shared_task(name="publishing.recover_deliveries", soft_time_limit=50, time_limit=58)
def recover_deliveries() -> dict:
    return vars(services.deliveries_recover(now=timezone.now()))


@shared_task(name="publishing.read_back_unconfirmed", soft_time_limit=50, time_limit=58)
def read_back_unconfirmed() -> dict:
    """Unconfirmed deliveries looked for on their networks (publishing/read_back.py)."""
    return vars(read_back.deliveries_read_back(now=timezone.now()))
