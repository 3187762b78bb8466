"""A channel's "when the audience answers" page and the schedule editor's suggested times."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone

from accounts.views import workspace_view
from channels.models import Channel
from results import audience


def _channel(request: HttpRequest, channel_id: int) -> Channel:
    return get_object_or_404(Channel, id=channel_id, workspace=request.workspace)


def _suggestion(channel: Channel, *, skip_schedule: int | None, now) -> tuple:
    heat = audience.heat_map(
        audience.channel_hour_rows(channel_id=channel.id, zone=channel.timezone, now=now)
    )
    schedules = channel.schedules.filter(is_active=True).exclude(id=skip_schedule)
    used = audience.used_cells(schedules, zone=channel.timezone, now=now)
    return heat, audience.suggest(heat, used=used)


def _use_url(channel: Channel, rule: str, schedule_id: int | None) -> str:
    """The schedule editor with the suggested rule filled in (nothing saved until Save)."""
    base = (
        reverse("schedule_edit", args=[schedule_id])
        if schedule_id
        else reverse("schedule_create", args=[channel.id])
    )
    return f"{base}?{urlencode({'rule': rule})}" if rule else ""


@workspace_view
def channel_audience(request: HttpRequest, channel_id: int) -> HttpResponse:
    channel = _channel(request, channel_id)
    heat, suggestion = _suggestion(channel, skip_schedule=None, now=timezone.now())
    context = {
        "channel": channel,
        "heat": heat,
        "days": audience.DAY_NAMES,
        "top": {(c.weekday, c.hour) for c in heat.top(audience.SUGGEST_CELLS)},
        "suggestion": suggestion,
        "use_url": _use_url(channel, suggestion.rule, None),
        "min_measured": audience.MIN_MEASURED,
        "min_per_cell": audience.MIN_PER_CELL,
        "history_days": audience.HISTORY.days,
    }
    return render(request, "results/channel_audience.html", context)


@workspace_view
def channel_audience_suggest(request: HttpRequest, channel_id: int) -> HttpResponse:
    """The schedule editor's "Suggest times" (htmx fragment, or the page without it):
    `?schedule=<id>` is the schedule being edited, whose own hours count as free."""
    channel = _channel(request, channel_id)
    raw = request.GET.get("schedule", "")
    schedule_id = None
    if raw:
        if not raw.isdigit() or not channel.schedules.filter(id=int(raw)).exists():
            return HttpResponseBadRequest(
                "“schedule” must be the id of one of this channel's schedules.",
                content_type="text/plain; charset=utf-8",
            )
        schedule_id = int(raw)
    _heat, suggestion = _suggestion(channel, skip_schedule=schedule_id, now=timezone.now())
    context = {
        "channel": channel,
        "suggestion": suggestion,
        "use_url": _use_url(channel, suggestion.rule, schedule_id),
    }
    if request.headers.get("HX-Request"):
        return render(request, "results/_suggest_times.html", context)
    context["schedule_id"] = schedule_id
    return render(request, "results/suggest_times.html", context)
