"""Private ICS feeds (RFC 5545): a workspace's slots, or one channel's, subscribable from any
calendar app (Google Calendar, Apple Calendar, Outlook, Thunderbird).

A feed lists every slot from FEED_PAST ago to FEED_AHEAD ahead, as the calendar page shows
them: finished slots as they ended, planned ones, and the ones still projected from a rule
(the same reads: scheduling.calendar_reads.slots_between), each at its channel's local time
with the channel's zone as a VTIMEZONE (icalendar writes them from the zone database), so a
calendar app shows 14:00 in Berlin as 14:00 in Berlin across a daylight-saving change.

Its URL carries a random token; the database holds the token's SHA-256 (what a request is
looked up by) and the token encrypted (so its creator can copy the URL again). A revoked
feed, or one whose creator is no longer a member of its workspace, answers 404 like an
unknown token: a feed never outlives its creator's access.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone
from icalendar import Calendar, Event

from accounts.models import POST_WRITE_ROLES, Membership, Workspace
from channels.models import Channel
from scheduling import calendar_grid as grid
from scheduling import calendar_reads
from scheduling.models import CalendarFeed, Timeslot
from scheduling.selectors import UpcomingSlot

FEED_PAST = dt.timedelta(days=14)
FEED_AHEAD = dt.timedelta(days=56)
# A feed of an every-minute channel would hold 80,000 events; calendar apps give up long
# before. The slots nearest to now are kept.
FEED_MAX_EVENTS = 3000
# How long a calendar app may keep a copy (it polls; most ignore anything shorter anyway).
REFRESH = dt.timedelta(hours=1)
# A slot is a moment; calendar apps draw a zero-length event as a hairline, so each gets
# this much room.
EVENT_LENGTH = dt.timedelta(minutes=15)

# What a calendar app shows for a slot's state.
_ICS_STATUS = {
    Timeslot.Status.CANCELED: "CANCELLED",
    Timeslot.Status.PUBLISHED: "CONFIRMED",
    Timeslot.Status.PARTIAL: "CONFIRMED",
}


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def feed_url(feed: CalendarFeed, *, base: str = "") -> str:
    """The feed's address (absolute with PUBLIC_BASE_URL or the given base)."""
    token = feed.secret.get("token", "")
    path = reverse("calendar_feed", kwargs={"token": token})
    return (base or settings.PUBLIC_BASE_URL) + path


def feed_create(
    *, workspace: Workspace, membership: Membership, channel_id: int | None = None
) -> CalendarFeed:
    """A new feed of the workspace (channel_id None) or of one of its channels. Members who
    may edit make feeds; a viewer may not (a feed is a standing copy of the plans)."""
    if membership.workspace_id != workspace.id or membership.role not in POST_WRITE_ROLES:
        raise PermissionDenied("Viewers cannot make calendar feeds.")
    channel = None
    if channel_id is not None:
        channel = Channel.objects.filter(workspace=workspace, id=channel_id).first()
        if channel is None:
            raise ValidationError("No such channel in this workspace.")
    token = secrets.token_urlsafe(32)
    return CalendarFeed.objects.create(
        workspace=workspace,
        channel=channel,
        created_by_id=membership.user_id,
        token_sha256=_sha256(token),
        secret={"token": token},
    )


def feed_revoke(*, workspace: Workspace, membership: Membership, feed_id: int) -> CalendarFeed:
    """Ends a feed at once. Its creator or an owner may."""
    feed = CalendarFeed.objects.filter(
        workspace=workspace, id=feed_id, revoked_at__isnull=True
    ).first()
    if feed is None:
        raise CalendarFeed.DoesNotExist
    if feed.created_by_id != membership.user_id and membership.role != Membership.Role.OWNER:
        raise PermissionDenied("Only its creator or an owner can revoke a feed.")
    feed.revoked_at = timezone.now()
    feed.save(update_fields=["revoked_at"])
    return feed


def feeds_of(*, workspace: Workspace, user_id: int) -> list[CalendarFeed]:
    """The live feeds a member sees on the calendar page: their own."""
    return list(
        CalendarFeed.objects.filter(
            workspace=workspace, created_by_id=user_id, revoked_at__isnull=True
        ).select_related("channel")
    )


def feed_for_token(token: str) -> CalendarFeed | None:
    """The live feed this token opens, or None (unknown, revoked, or its creator left)."""
    if not token or len(token) > 100:
        return None
    feed = (
        CalendarFeed.objects.filter(token_sha256=_sha256(token), revoked_at__isnull=True)
        .select_related("workspace", "channel")
        .first()
    )
    if feed is None or not secrets.compare_digest(feed.secret.get("token", ""), token):
        return None
    if not Membership.objects.filter(
        workspace_id=feed.workspace_id, user_id=feed.created_by_id
    ).exists():
        return None
    return feed


def _kept(slots: list[UpcomingSlot], now: dt.datetime) -> list[UpcomingSlot]:
    if len(slots) <= FEED_MAX_EVENTS:
        return slots
    nearest = sorted(slots, key=lambda s: abs((s.publish_at - now).total_seconds()))
    return sorted(nearest[:FEED_MAX_EVENTS], key=lambda s: s.publish_at)


def _event(slot: UpcomingSlot, *, now: dt.datetime, base: str) -> Event:
    status = calendar_reads.slot_status(slot)
    label = grid.STATUS_LABELS.get(status, status)
    text = slot.text or (slot.post.text if slot.post is not None else "")
    local = slot.publish_at.astimezone(slot.channel.tz)
    event = Event()
    event.add("uid", f"{grid.slot_key(slot)}@queueloop")
    event.add("dtstamp", now)
    event.add("dtstart", local)
    event.add("dtend", local + EVENT_LENGTH)
    summary = f"{slot.channel.name}: {text[:60]}" if text else f"{slot.channel.name} ({label})"
    event.add("summary", summary)
    lines = [f"Status: {label}"]
    if slot.problem:
        lines.append(slot.problem)
    if text:
        lines += ["", text]
    event.add("description", "\n".join(lines))
    event.add("status", _ICS_STATUS.get(status, "TENTATIVE"))
    if base:
        key = grid.slot_key(slot)
        event.add("url", base + reverse("calendar_slot", kwargs={"key": key}))
    return event


def feed_ics(*, feed: CalendarFeed, now: dt.datetime | None = None, base: str = "") -> bytes:
    """The feed's calendar, as bytes to serve. A constant number of queries."""
    now = now or timezone.now()
    base = base or settings.PUBLIC_BASE_URL
    slots = calendar_reads.slots_between(
        workspace=feed.workspace,
        start=now - FEED_PAST,
        end=now + FEED_AHEAD,
        now=now,
        channel_ids=[feed.channel_id] if feed.channel_id else (),
    )
    name = feed.channel.name if feed.channel_id else feed.workspace.name
    calendar = Calendar()
    calendar.add("prodid", "-//Queue Loop//Calendar feed//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", f"Queue Loop: {name}")
    calendar.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", REFRESH)
    for slot in _kept(slots, now):
        calendar.add_component(_event(slot, now=now, base=base))
    calendar.add_missing_timezones(
        first_date=(now - FEED_PAST - dt.timedelta(days=1)).date(),
        last_date=(now + FEED_AHEAD + dt.timedelta(days=1)).date(),
    )
    return calendar.to_ical()
