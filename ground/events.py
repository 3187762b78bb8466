"""One structured log line per step of a timeslot's life, for operators and log search.

    log_event("claimed", timeslot_id=slot.id, channel_id=..., workspace_id=..., lateness_ms=...)

With LOG_FORMAT=json each call is one JSON object (`"event": "claimed"` plus the ids); with
text it is "event=claimed timeslot_id=5 ...". Only the fields below are written, and only
plain values: a call can never put a credential, a post's text or a provider's raw answer
into the logs (DESIGN §7.5). A field that is not on the list is dropped, and its *name*
is listed under "dropped" so the mistake is visible without leaking the value.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping

# The logger keeps the name operators filter on (README, "Logs"), wherever the module lives.
log = logging.getLogger("queueloop.events")

# The publish steps (DESIGN §3-4), in the order a slot goes through them.
STEPS = frozenset(
    {
        "planned",  # the planner created slots (count) for a channel or a run
        "enqueued",  # a publish message was sent for the slot (eta)
        "stale",  # a message arrived for a slot that moved, was canceled or is gone: no-op
        "early",  # a message arrived before its time and was re-enqueued
        "claimed",  # the slot went scheduled -> publishing
        "skipped",  # claimed, but nothing to publish (queue empty, post gone)
        "delivery_sent",
        "delivery_failed",
        "delivery_retry",
        "delivery_unconfirmed",
        "delivery_partial",  # a thread cut short: some parts went out, one was refused
        "settled",  # the slot's final status (published, partial, failed)
        "missed",  # too late to publish: marked missed by the watchdog or the planner
        "requeued",  # the watchdog re-enqueued a slot whose message was lost
        # Read-back of an unconfirmed delivery (publishing/read_back.py):
        "read_back_found",  # the post is on the network: sent
        "read_back_resumed",  # a thread's part found: the rest goes by the normal path
        "read_back_resent",  # proven absent: sent again, once
        "read_back_absent",  # proven absent after its one resend, or too late: failed
        "read_back_undecidable",  # neither: stays unconfirmed, with the reason
        "comment_sent",  # a delivery's first comment went out under its post
        "comment_failed",  # the first comment was refused (the post stays sent)
        "comment_unconfirmed",  # the first comment may or may not have gone out
    }
)

FIELDS = frozenset(
    {
        "timeslot_id",
        "delivery_id",
        "channel_id",
        "workspace_id",
        "account_id",
        "post_id",
        "schedule_id",
        "provider",
        "status",
        "reason",
        "lateness_ms",
        "attempts",
        "count",
        "eta",
        "duration_ms",
        "task_id",
    }
)
_MAX_TEXT = 300


def lateness_ms(publish_at: dt.datetime, now: dt.datetime) -> int:
    """Milliseconds from the slot's time to `now` (negative: early)."""
    return round((now - publish_at).total_seconds() * 1000)


def _plain(value):
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)[:_MAX_TEXT]


def log_event(step: str, /, *, level: int = logging.INFO, **fields) -> None:
    """Log one publish step with its ids (see FIELDS); never raises for a bad field."""
    extra = {"event": step} if step in STEPS else {"event": "unknown", "step": _plain(step)}
    dropped = sorted(name for name in fields if name not in FIELDS)
    for name in sorted(fields):
        if name in FIELDS:
            extra[name] = _plain(fields[name])
    if dropped:
        extra["dropped"] = ",".join(dropped)
    if not log.isEnabledFor(level):
        return
    text = " ".join(f"{k}={v}" for k, v in extra.items() if v is not None)
    log.log(level, text, extra=extra)


def log_events(
    step: str, rows: Iterable[Mapping], /, *, level: int = logging.INFO, **common
) -> None:
    """One line per row for a batch (a claim of 200 slots): `common` fields go on each.
    Costs nothing when the level is off (the rows are not even iterated)."""
    if not log.isEnabledFor(level):
        return
    for row in rows:
        log_event(step, level=level, **{**common, **row})
