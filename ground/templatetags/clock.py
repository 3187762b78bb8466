"""One clock (issue 13, item 4), in one place: how a moment is shown in the UI.

    {% load clock %}
    {% when slot.publish_at slot.channel.timezone %}  → Mon 1 Jun, 15:00 BST (16:00 CEST
                                                         channel time)
    {% when notice.created_at %}                       → Mon 1 Jun, 15:00 BST
    {% when post.created_at fmt="j M Y" %}             → 1 Jun 2026

The time is in the active zone (the person's display zone: accounts.zone_middleware and
workspace_view activate it). When a channel's zone is given and its clock reads
differently at that moment, the channel's own time is put beside it: a slot is planned in
the channel's wall-clock time, and that is the time its audience sees.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html

register = template.Library()

DEFAULT_FORMAT = "D j M, H:i T"


def _zone(name) -> dt.tzinfo | None:
    if not name:
        return None
    if isinstance(name, dt.tzinfo):
        return name
    try:
        return zoneinfo.ZoneInfo(str(name))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


@register.simple_tag
def when(value, channel_zone=None, fmt: str = DEFAULT_FORMAT, short: str = "H:i T"):
    """A <time> in the display zone, with the channel's own time beside it where the two
    clocks differ. Empty for no value."""
    if not isinstance(value, dt.datetime):
        return ""
    if timezone.is_naive(value):
        value = timezone.make_aware(value, dt.UTC)
    shown = date_format(timezone.localtime(value), fmt)
    return format_html(
        '<time datetime="{}">{}</time>{}',
        value.isoformat(),
        shown,
        channel_time(value, channel_zone, short),
    )


@register.simple_tag
def channel_time(value, channel_zone, fmt: str = "H:i T"):
    """ " (16:00 CEST channel time)" when the channel's clock reads differently from the
    display zone's at that moment; empty when they agree."""
    zone = _zone(channel_zone)
    if not isinstance(value, dt.datetime) or zone is None:
        return ""
    if timezone.is_naive(value):
        value = timezone.make_aware(value, dt.UTC)
    theirs = value.astimezone(zone)
    if theirs.utcoffset() == timezone.localtime(value).utcoffset():
        return ""
    return format_html(
        ' <span class="channel-time" title="{}">({} channel time)</span>',
        str(channel_zone),
        date_format(theirs, fmt),
    )


@register.simple_tag
def current_zone() -> str:
    """The name of the zone times are shown in on this page."""
    return timezone.get_current_timezone_name()
