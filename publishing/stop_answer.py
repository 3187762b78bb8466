"""The answer an emergency stop gives (scheduling/stops.py): the cutoff instant, and what
was already claimed before it — the only deliveries that may still go out. The web page,
the API and `manage.py stop_publishing` all state it from here."""

from __future__ import annotations

from dataclasses import dataclass

from publishing.models import Delivery
from scheduling.models import Stop

GUARANTEE = (
    "Nothing of this scope can be claimed after the cutoff: every scheduled slot got a new "
    "token and was canceled in the stop's transaction, so a message already on the broker or "
    "held by a worker fails the claim's conditional UPDATE (token and status must match). "
    "Of the slots claimed before it, every delivery no worker had taken was stopped in the "
    "same transaction (the delivery's own conditional UPDATE then takes nothing): only the "
    "calls already under way, listed here, may still reach a network."
)


@dataclass
class InFlight:
    delivery_id: int
    timeslot_id: int
    account: str
    status: str


def in_flight(stop: Stop) -> list[InFlight]:
    """The unfinished deliveries of the slots claimed before the stop."""
    rows = (
        Delivery.objects.filter(
            timeslot_id__in=stop.claimed_before,
            status__in=[Delivery.Status.PENDING, Delivery.Status.SENDING],
        )
        .select_related("account")
        .order_by("timeslot_id", "id")
    )
    return [InFlight(d.id, d.timeslot_id, str(d.account), d.status) for d in rows]


def as_dict(stop: Stop) -> dict:
    return {
        "id": stop.id,
        "workspace": stop.workspace.slug if stop.workspace_id else None,
        "by": stop.by_label,
        "created_at": stop.created_at,
        "cutoff_at": stop.cutoff_at,
        "rotated_slots": stop.rotated,
        "channels_already_paused": stop.already_paused,
        "claimed_before_the_stop": stop.claimed_before,
        "deliveries_in_flight": [vars(d) for d in in_flight(stop)],
        "resumed_at": stop.resumed_at,
        "resumed_by": stop.resumed_by_label,
        "guarantee": GUARANTEE,
    }
