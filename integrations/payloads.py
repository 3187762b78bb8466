"""An event's body: its id, type, time and the object as the API shows it.

Built here, by the sender, from the ids the emitter recorded — not by the emitters: they
sit below the API's serializers (and the settle path must stay one INSERT per chunk, not
a serializer run per slot). Built once, at fan-out (right after the change commits), then
frozen on the event, so every attempt and every resend carries the same object. The
status and reason the emitter recorded win over the row's current ones: the event says
what happened then. An object deleted in between is sent as the recorded facts.
"""

from __future__ import annotations

import datetime as dt
import json

from django.core.serializers.json import DjangoJSONEncoder

from accounts.models import EventType, OutboxEvent, SocialAccount
from accounts.serializers import SocialAccountSerializer
from publishing.models import Delivery
from publishing.serializers import DeliverySerializer
from scheduling.models import Timeslot
from scheduling.serializers import TimeslotSerializer

TIMESLOT_TYPES = frozenset(
    {
        EventType.TIMESLOT_PUBLISHED,
        EventType.TIMESLOT_PARTIAL,
        EventType.TIMESLOT_FAILED,
        EventType.TIMESLOT_MISSED,
        EventType.TIMESLOT_SKIPPED,
    }
)


def _plain(data) -> dict:
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def data_for(event: OutboxEvent) -> dict:
    """The `data` of the event's body (the API's shape where the API has the object)."""
    facts = dict(event.facts)
    kind = EventType(event.type)
    if kind in TIMESLOT_TYPES:
        slot = (
            Timeslot.objects.select_related("channel").filter(id=facts.get("timeslot_id")).first()
        )
        if slot is None:
            return facts
        data = _plain(TimeslotSerializer(slot).data)
        data.update({k: facts[k] for k in ("status", "reason_code", "reason") if k in facts})
        return data
    if kind == EventType.DELIVERY_UNCONFIRMED:
        delivery = (
            Delivery.objects.select_related("account", "timeslot")
            .filter(id=facts.get("delivery_id"))
            .first()
        )
        if delivery is None:
            return facts
        data = _plain(DeliverySerializer(delivery).data)
        data["status"] = facts.get("status", data["status"])
        return data
    if kind == EventType.ACCOUNT_NEEDS_RECONNECT:
        account = (
            SocialAccount.objects.select_related("workspace")
            .filter(id=facts.get("account_id"))
            .first()
        )
        if account is None:
            return facts
        data = _plain(SocialAccountSerializer(account).data)
        data["status"] = facts.get("status", data["status"])
        data["last_error"] = facts.get("reason", data["last_error"])
        return data
    return _plain(facts)  # import.finished, post.*: the facts are the object


def timestamp(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def body(event: OutboxEvent) -> bytes:
    """The exact bytes POSTed (and signed): `data` must be frozen already."""
    envelope = {
        "id": event.event_id,
        "type": event.type,
        "timestamp": timestamp(event.created_at),
        "data": event.data,
    }
    return json.dumps(envelope, sort_keys=True, separators=(",", ":")).encode()
