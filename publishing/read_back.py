"""Read-back: `unconfirmed` deliveries resolve themselves (DESIGN §4 "Read-back", issue 28).

A delivery ends `unconfirmed` when its call may or may not have posted (a worker killed
mid-call, a timeout). A network that can read its account's own posts
(capabilities.read_back: networks.contract.ReadsBack) is asked whether the delivery's
next part is there, a while after the call (READ_BACK_FIRST_AFTER: a network's listing
may lag the post by seconds), then again with backoff up to READ_BACK_MAX_INTERVAL, until
READ_BACK_HORIZON after the delivery was made:

- Found → `sent` with the post's id and URL; a thread records the part (thread_sent) and,
  when parts are left, goes back to `pending` so the normal path posts the rest after it.
- Proven absent (the listing covered the whole window) → sent again, ONCE: the mark
  (`network_state["read_back"]["resent"]`) is written in the same conditional UPDATE that
  makes it `pending`, so no later read-back can send it a second time. Absent again after
  that resend, or absent too late to post (past the slot's MISSED_AFTER) → `failed`:
  proven not posted, which is what `failed` means.
- Undecidable → stays `unconfirmed`; its reason joins the delivery's message, shown
  wherever unconfirmed deliveries are (dashboard, problems list, channel page).

Never a second post: every write is conditional on the row still being `unconfirmed`,
under its row lock (a person's "mark sent" waits for it, then finds the row changed), and
a resend goes through the delivery claim like any other send. The slot settles again from
its deliveries (publishing.problems' quiet re-settle, or reopened to `publishing` when a
send follows).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ground import events
from networks import get_provider
from networks.contract import FoundPost, NotFound, ReadBack, ReadsBack, Undecidable
from publishing.delivery import dispatch
from publishing.models import Delivery
from publishing.problems import _resettle as resettle
from scheduling.models import Timeslot

log = logging.getLogger(__name__)

S = Delivery.Status
STATE = "read_back"  # its key in Delivery.network_state
LIMIT = 500
# A run starts no check after this many seconds (its task's soft limit is 50 s).
BUDGET_SECONDS = 30.0


@dataclass
class ReadBackResult:
    checked: int = 0
    found: int = 0
    resumed: int = 0
    resent: int = 0
    absent: int = 0
    undecidable: int = 0


def reads_back(provider) -> bool:
    return provider.capabilities.read_back and isinstance(provider, ReadsBack)


def _state(delivery: Delivery) -> dict:
    return dict((delivery.network_state or {}).get(STATE) or {})


def _with_state(delivery: Delivery, state: dict) -> dict:
    return {**(delivery.network_state or {}), STATE: state}


def next_check_at(delivery: Delivery) -> dt.datetime:
    """When the delivery is due for its next look: READ_BACK_FIRST_AFTER after its call
    began, then as its last check said."""
    at = _state(delivery).get("next_at")
    if at:
        return dt.datetime.fromisoformat(at)
    began = delivery.sending_started_at or delivery.claimed_at or delivery.created_at
    return began + settings.READ_BACK_FIRST_AFTER


def _backoff(checks: int) -> dt.timedelta:
    first = max(settings.READ_BACK_FIRST_AFTER, dt.timedelta(seconds=1))
    return min(first * 2 ** min(checks, 20), settings.READ_BACK_MAX_INTERVAL)


def since_of(delivery: Delivery) -> dt.datetime:
    """The window's start: the delivery was made when its slot was claimed, before any
    call; the margin absorbs a network's clock running behind ours."""
    return delivery.created_at - settings.READ_BACK_MARGIN


def due(*, now: dt.datetime) -> list[Delivery]:
    """Unconfirmed deliveries of networks that read back, inside the horizon, due now."""
    rows = (
        Delivery.objects.filter(
            status=S.UNCONFIRMED, created_at__gte=now - settings.READ_BACK_HORIZON
        )
        .select_related("account")
        .only(
            "id",
            "created_at",
            "claimed_at",
            "sending_started_at",
            "network_state",
            "account__provider",
        )
        .order_by("created_at", "id")[:LIMIT]
    )
    return [
        d for d in rows if reads_back(get_provider(d.account.provider)) and next_check_at(d) <= now
    ]


def deliveries_read_back(*, now: dt.datetime | None = None) -> ReadBackResult:
    """Look for every due unconfirmed delivery on its network and act on the answer."""
    now = now or timezone.now()
    result = ReadBackResult()
    started = time.monotonic()
    for candidate in due(now=now):
        if time.monotonic() - started > BUDGET_SECONDS:
            break  # the rest at the next run: a run never runs into its time limit
        outcome = delivery_read_back(delivery_id=candidate.id, now=now)
        if outcome is not None:
            result.checked += 1
            setattr(result, outcome, getattr(result, outcome) + 1)
    return result


@transaction.atomic
def delivery_read_back(*, delivery_id: int, now: dt.datetime) -> str | None:
    """Read one delivery back; returns what became of it (a ReadBackResult field), None
    when another run holds it or it is no longer unconfirmed."""
    d = (
        Delivery.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("account", "timeslot")
        .filter(id=delivery_id, status=S.UNCONFIRMED)
        .first()
    )
    if d is None:
        return None
    provider = get_provider(d.account.provider)
    if not reads_back(provider):
        return None
    try:
        answer: ReadBack = provider.find_published(d, since=since_of(d))
    except Exception as exc:  # a bug must not stop the other deliveries' checks
        log.exception("read-back of delivery %s raised", d.id)
        answer = Undecidable(f"Unexpected error while reading back ({exc.__class__.__name__}).")
    if isinstance(answer, FoundPost):
        return _found(d, answer, now=now)
    if isinstance(answer, NotFound):
        return _absent(d, answer, now=now)
    return _undecidable(d, answer, now=now)


def _base_error(d: Delivery, state: dict) -> str:
    """The message the delivery had before read-back added to it."""
    return state.get("error", d.last_error)


def _log(step: str, d: Delivery, reason: str = "") -> None:
    events.log_event(
        step,
        delivery_id=d.id,
        timeslot_id=d.timeslot_id,
        account_id=d.account_id,
        provider=d.account.provider,
        reason=reason or None,
    )


def _found(d: Delivery, answer: FoundPost, *, now: dt.datetime) -> str:
    texts = [d.text, *(d.thread_parts or [])]
    sent = [*(d.thread_sent or []), answer.ref]
    first = sent[0]
    fields = {
        "external_id": str(first["id"])[:100],
        "url": str(first.get("url") or "")[:500],
        "thread_sent": sent if len(texts) > 1 else d.thread_sent,
    }
    part = f"Part {len(sent)} of {len(texts)}" if len(texts) > 1 else "The post"
    if len(sent) < len(texts):
        # Parts are left: the normal path posts them after the one found.
        message = f"Read back: {part} was found on the network; sending the rest."
        _send_again(d, _state(d), now=now, last_error=message, **fields)
        _log("read_back_resumed", d, message)
        return "resumed"
    changed = Delivery.objects.filter(id=d.id, status=S.UNCONFIRMED).update(
        status=S.SENT, sent_at=now, last_error="", **fields
    )
    if changed:
        _log("read_back_found", d, f"{part} was found on the network.")
        resettle(d.timeslot_id, now=now)
    return "found"


def _absent(d: Delivery, answer: NotFound, *, now: dt.datetime) -> str:
    state = _state(d)
    base = _base_error(d, state)
    too_late = now > d.timeslot.publish_at + settings.MISSED_AFTER
    if state.get("resent") or too_late:
        why = (
            "it was already sent again once"
            if state.get("resent")
            else "too late to post it now (MISSED_AFTER)"
        )
        message = f"{base} Read back: not on the network ({answer.searched}); {why}.".strip()
        changed = Delivery.objects.filter(id=d.id, status=S.UNCONFIRMED).update(
            status=S.FAILED,
            last_error=message,
            network_state=_with_state(d, {**state, "error": base}),
        )
        if changed:
            _log("read_back_absent", d, message)
            resettle(d.timeslot_id, now=now)
        return "absent"
    message = f"Read back: not on the network ({answer.searched}); sending it again, once."
    # The mark and the status change are one UPDATE: a later read-back sees `resent`.
    _send_again(d, {**state, "resent": True, "error": base}, now=now, last_error=message)
    _log("read_back_resent", d, message)
    return "resent"


def _send_again(d: Delivery, state: dict, *, now: dt.datetime, **fields) -> None:
    """unconfirmed → pending (conditional), its slot reopened, dispatched after commit. The
    next look, should the send end unconfirmed again, is timed from its own call."""
    state = {k: v for k, v in state.items() if k != "next_at"}
    changed = Delivery.objects.filter(id=d.id, status=S.UNCONFIRMED).update(
        status=S.PENDING,
        next_attempt_at=None,
        dispatched_at=now,
        network_state=_with_state(d, state),
        **fields,
    )
    if not changed:
        return
    # A closed slot reopens; it settles anew when the send ends (publishing.settle). An
    # unconfirmed delivery kept its post's use, so there is no use to take again.
    Timeslot.objects.filter(
        id=d.timeslot_id,
        status__in=[Timeslot.Status.PARTIAL, Timeslot.Status.FAILED, Timeslot.Status.PUBLISHED],
    ).update(status=Timeslot.Status.PUBLISHING, updated_at=now)
    transaction.on_commit(lambda: dispatch([d.id]))


def _undecidable(d: Delivery, answer: Undecidable, *, now: dt.datetime) -> str:
    state = _state(d)
    base = _base_error(d, state)
    checks = int(state.get("checks", 0)) + 1
    next_at = now + _backoff(checks)
    if next_at > d.created_at + settings.READ_BACK_HORIZON:
        then = "read-back gave up: check the account and mark it."
    else:
        then = f"looking again at {next_at:%Y-%m-%d %H:%M} UTC."
    message = f"{base} Read back ({checks}): {answer.reason} Still unconfirmed; {then}".strip()
    Delivery.objects.filter(id=d.id, status=S.UNCONFIRMED).update(
        last_error=message,
        network_state=_with_state(
            d, {**state, "checks": checks, "next_at": next_at.isoformat(), "error": base}
        ),
    )
    _log("read_back_undecidable", d, answer.reason)
    return "undecidable"
