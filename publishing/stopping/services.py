"""The emergency stop as every caller presses it (the page, the API, `manage.py
stop_publishing`, the drill): scheduling's stop (slots, tokens, channels) with publishing's
part in the same transaction, `stop_hold` — the deliveries of slots claimed before the stop
that no worker has taken yet are stopped too, so nothing but a call already under way can
reach a network after the cutoff (scheduling/stops.py says why that holds)."""

from __future__ import annotations

from accounts.models import Workspace
from publishing.models import Delivery
from scheduling import stops
from scheduling.models import Stop, Timeslot
from scheduling.reasons import Stamp


def publishing_stop(*, workspace: Workspace | None, user=None, label: str = "") -> Stop:
    return stops.publishing_stop(workspace=workspace, user=user, label=label, hold=stop_hold)


def stop_hold(slot_ids: list[int], stamp: Stamp) -> list[int]:
    """Inside the stop's transaction: every `pending` delivery of these claimed slots ends
    `failed` with the stop's reason (the chunk's `pending → sending` UPDATE then matches
    nothing; one that took a delivery first has it `sending`, and this UPDATE leaves it).
    A slot with no delivery under way any more ends `canceled` with the reason. Returns
    the slots whose publication is under way: the only ones that may still reach a
    network."""
    if not slot_ids:
        return []
    Delivery.objects.filter(timeslot_id__in=slot_ids, status=Delivery.Status.PENDING).update(
        status=Delivery.Status.FAILED, last_error=f"Not sent: {stamp.text}", next_attempt_at=None
    )
    under_way = set(
        Delivery.objects.filter(timeslot_id__in=slot_ids)
        .exclude(status=Delivery.Status.FAILED)
        .values_list("timeslot_id", flat=True)
    )
    held = [i for i in slot_ids if i not in under_way]
    Timeslot.objects.filter(id__in=held, status=Timeslot.Status.PUBLISHING).update(
        status=Timeslot.Status.CANCELED, **stamp.fields()
    )
    return sorted(under_way)
