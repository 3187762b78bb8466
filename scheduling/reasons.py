"""Why a slot ended as it did: one stable code the code compares, and the text people read.

A slot stores both (`Timeslot.reason_code` and `Timeslot.reason`), always set together
through `stamp()`. Logic — reviving canceled slots, picking the notice a skipped slot
raises, problem lists, filters — reads the code only, so rewording a text below changes
what people read and nothing else (issue 25, item 4). `TEXTS` is the one home of every
reason's words; a text takes the details its placeholders name.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models


class Reason(models.TextChoices):
    # Canceled: the slot will not publish. The first three come back when the rule,
    # schedule or channel does (REVIVABLE).
    SCHEDULE_CHANGED = "schedule_changed", "Schedule changed"
    SCHEDULE_OFF = "schedule_off", "Schedule turned off"
    CHANNEL_PAUSED = "channel_paused", "Channel paused"
    USER_CANCELED = "user_canceled", "Canceled by a user"
    POST_ARCHIVED = "post_archived", "Post archived"
    # Missed: too late to publish.
    WORKERS_DOWN = "workers_down", "Workers or broker down"
    PLANNER_DOWN = "planner_down", "Planner down"
    # Skipped or failed when claimed or planned.
    OVER_LIMIT = "over_limit", "Over the channel's limit"
    PAUSED = "paused", "Channel paused when due"
    QUEUE_EMPTY = "queue_empty", "Queue empty"
    POST_GONE = "post_gone", "Pinned post gone"
    NO_ACCOUNTS = "no_accounts", "No active accounts"
    FOREIGN_POST = "foreign_post", "Post of another workspace"
    # An owner's or operator's emergency stop, and a blackout date range (scheduling/stops.py).
    STOPPED = "stopped", "Publishing stopped"
    BLACKOUT = "blackout", "Blackout"
    NOT_APPROVED = "not_approved", "Not approved by its time"
    # Settled failed or partial: the deliveries that were not sent, and why.
    DELIVERIES = "deliveries", "Deliveries not sent"
    # A text written before the codes that matches none of the above (data migration).
    OTHER = "other", "Other"


# Slots canceled for these reasons come back if the rule, schedule or channel does.
REVIVABLE = frozenset({Reason.SCHEDULE_CHANGED, Reason.SCHEDULE_OFF, Reason.CHANNEL_PAUSED})

TEXTS: dict[Reason, str] = {
    Reason.SCHEDULE_CHANGED: "Canceled: the schedule no longer has this time.",
    Reason.SCHEDULE_OFF: "Canceled: the schedule was turned off.",
    Reason.CHANNEL_PAUSED: "Canceled: the channel was paused.",
    Reason.USER_CANCELED: "Canceled by a user.",
    Reason.POST_ARCHIVED: "Canceled: the post was archived.",
    Reason.WORKERS_DOWN: (
        "Missed: not published within {minutes} minutes of its time (workers or broker "
        "were down), so it was not sent late."
    ),
    Reason.PLANNER_DOWN: (
        "Missed: the planner (celery beat) was not running from {start:%Y-%m-%d %H:%M} to "
        "{end:%Y-%m-%d %H:%M} UTC, so this slot was never planned and was not sent late."
    ),
    Reason.OVER_LIMIT: "Skipped: {conflict}.",
    Reason.PAUSED: "Skipped: the channel was paused.",
    Reason.QUEUE_EMPTY: "Skipped: queue empty (no active, unexpired post to publish).",
    Reason.POST_GONE: "Skipped: the pinned post was archived or has expired.",
    Reason.NOT_APPROVED: "Skipped: the pinned post was not approved by its time.",
    Reason.NO_ACCOUNTS: "Failed: the channel has no active accounts.",
    Reason.FOREIGN_POST: "Failed: the pinned post belongs to another workspace than the channel.",
    Reason.STOPPED: "Canceled: publishing was stopped by {who} at {at:%Y-%m-%d %H:%M:%S} UTC.",
    Reason.BLACKOUT: "Skipped: inside the blackout “{name}” ({start} to {end}, {zone}).",
    Reason.DELIVERIES: "{problems}",
    Reason.OTHER: "{text}",
}


@dataclass(frozen=True)
class Stamp:
    """A reason as stored: its code and its text (formatted once, when it happened)."""

    code: str
    text: str

    def fields(self) -> dict[str, str]:
        """The model fields, for `.update(**stamp.fields())` or `Timeslot(**...)`."""
        return {"reason_code": self.code, "reason": self.text}

    def put_on(self, slot) -> None:
        slot.reason_code, slot.reason = self.code, self.text


NONE = Stamp("", "")  # published, scheduled again: no reason


def stamp(code: Reason, **details) -> Stamp:
    """The reason `code` with its text, the details filled in."""
    return Stamp(code, TEXTS[code].format(**details))
