"""Publishing writes, the front door: the engine's entry points, each in its own module.

- publishing/claim.py — run a batch of due slots: claim, choose posts, create deliveries.
- publishing/delivery.py — send a chunk of deliveries at most once, record the results.
- publishing/settle.py — close a slot when its deliveries are done.
- publishing/recovery.py — repair deliveries that lost their message or their worker.
- publishing/comments.py — post a sent delivery's first comment, once.

Tasks, commands and tests import from here; the rules live in the modules above.
"""

from __future__ import annotations

from publishing.claim import (
    Outcome,
    timeslot_publish,
    timeslots_publish,
)
from publishing.comments import comments_recover, comments_send
from publishing.delivery import (
    UNCONFIRMED_WORKER_LOST,
    account_mark_needs_reconnect,
    deliveries_send,
    delivery_send,
    dispatch,
)
from publishing.lanes import UNCONFIRMED_TIMEOUT
from publishing.recovery import RecoverResult, deliveries_recover, timeslots_settle_stuck
from publishing.settle import timeslot_settle, timeslots_settle

__all__ = [
    "UNCONFIRMED_TIMEOUT",
    "UNCONFIRMED_WORKER_LOST",
    "Outcome",
    "RecoverResult",
    "account_mark_needs_reconnect",
    "comments_recover",
    "comments_send",
    "deliveries_recover",
    "deliveries_send",
    "delivery_send",
    "dispatch",
    "timeslot_publish",
    "timeslot_settle",
    "timeslots_publish",
    "timeslots_settle",
    "timeslots_settle_stuck",
]
