"""Dashboard, week calendar, the schedule editor, and moving/canceling single slots."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.models import Notice, SocialAccount
from accounts.views import SESSION_TZ, redirect_back, timezone_names, workspace_view
from channels.forms import error_messages, timezone_choices
from channels.models import Channel
from publishing import fit, problems
from publishing import selectors as publishing_selectors
from scheduling import rules, selectors, services
from scheduling.forms import ScheduleForm, TimeslotMoveForm
from scheduling.models import Schedule, Timeslot

PROBLEM_WINDOW = dt.timedelta(days=7)
PREVIEW_COUNT = 6
CHANNEL_COLORS = 8  # app.css has .c0 ... .c7


@workspace_view
def dashboard(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    workspace = request.workspace
    upcoming = selectors.upcoming_for_workspace(workspace=workspace, now=now, limit=8)
    misfits = fit.queue_misfits_many(
        channels=list({s.channel.id: s.channel for s in upcoming}.values())
    )
    for slot in upcoming:
        slot.misfit = misfits.get(slot.channel.id, {}).get(slot.post.id) if slot.post else None
    context = {
        "upcoming": upcoming,
        "deliveries": publishing_selectors.recent_deliveries(workspace=workspace, limit=10),
        "notices": list(
            Notice.objects.filter(workspace=workspace, dismissed_at__isnull=True).order_by(
                "-created_at"
            )[:20]
        ),
        "reconnect": list(
            SocialAccount.objects.filter(
                workspace=workspace, status=SocialAccount.Status.NEEDS_RECONNECT
            )
        ),
        "problem_slots": publishing_selectors.problem_slots(
            workspace=workspace, since=now - PROBLEM_WINDOW
        ),
        "problem_deliveries": problems.problem_deliveries(workspace=workspace, now=now),
        "has_channels": Channel.objects.filter(workspace=workspace).exists(),
        "now": now,
    }
    return render(request, "scheduling/dashboard.html", context)


# --- Calendar ------------------------------------------------------------------------------


def _week_monday(value: str, today: dt.date) -> tuple[dt.date, bool]:
    """The Monday of an ISO week like "2026-W48"; (this week's Monday, False) if unreadable."""
    try:
        year, week = value.upper().split("-W")
        # The calendar shows a week around its dates in local time: years near 1 or 9999
        # would overflow, and nothing is scheduled outside this range anyway.
        if not 2000 <= int(year) <= today.year + 10:
            raise ValueError(year)
        return dt.date.fromisocalendar(int(year), int(week), 1), True
    except ValueError:
        return today - dt.timedelta(days=today.weekday()), not value


def _iso_week(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


@workspace_view
def calendar(request: HttpRequest) -> HttpResponse:
    tz_name = request.GET.get("tz", "")
    if tz_name and tz_name in timezone_names():
        request.session[SESSION_TZ] = tz_name
    else:
        if tz_name:
            messages.error(request, f"Unknown time zone “{tz_name}”.")
        tz_name = request.display_tz
    tz = zoneinfo.ZoneInfo(tz_name)
    now = timezone.now()
    today = now.astimezone(tz).date()
    monday, ok = _week_monday(request.GET.get("week", ""), today)
    if not ok:
        messages.error(request, "Weeks look like 2026-W48; showing this week.")
    days = [monday + dt.timedelta(days=i) for i in range(7)]
    # Local midnights, so a DST week has its real 167 or 169 hours.
    start = dt.datetime.combine(monday, dt.time(), tzinfo=tz).astimezone(dt.UTC)
    end = dt.datetime.combine(monday + dt.timedelta(days=7), dt.time(), tzinfo=tz)
    slots = selectors.slots_between(
        workspace=request.workspace, start=start, end=end.astimezone(dt.UTC), now=now
    )
    channels = list(Channel.objects.filter(workspace=request.workspace).order_by("name"))
    colors = {c.id: i % CHANNEL_COLORS for i, c in enumerate(channels)}
    by_day: dict[dt.date, list] = {day: [] for day in days}
    for slot in slots:
        slot.color = colors.get(slot.channel.id, 0)
        by_day.setdefault(slot.publish_at.astimezone(tz).date(), []).append(slot)
    context = {
        "days": [(day, by_day[day]) for day in days],
        "tz_name": tz_name,
        "timezones": timezone_choices(),
        "week": _iso_week(monday),
        "prev_week": _iso_week(monday - dt.timedelta(days=7)),
        "next_week": _iso_week(monday + dt.timedelta(days=7)),
        "this_week": _iso_week(today),
        "today": today,
        "now": now,
        "slot_count": len(slots),
        "channels": [(c, colors[c.id]) for c in channels],
    }
    return render(request, "scheduling/calendar.html", context)


# --- Schedules -----------------------------------------------------------------------------


def _channel(request: HttpRequest, channel_id: int) -> Channel:
    return get_object_or_404(Channel, id=channel_id, workspace=request.workspace)


def _schedule(request: HttpRequest, schedule_id: int) -> Schedule:
    return get_object_or_404(
        Schedule.objects.select_related("channel"),
        id=schedule_id,
        channel__workspace=request.workspace,
    )


def _save_schedule(request: HttpRequest, form: ScheduleForm, schedule: Schedule) -> bool:
    if not form.is_valid():
        return False
    try:
        services.schedule_save(schedule=form.apply(schedule))
    except ValidationError as exc:
        for message in error_messages(exc):
            form.add_error(None, message)
        return False
    messages.success(
        request, f"Schedule “{schedule.name}” saved: {rules.describe(schedule.recurrence)}."
    )
    return True


def _schedule_page(request, form, channel, schedule) -> HttpResponse:
    return render(
        request,
        "scheduling/schedule_form.html",
        {"form": form, "channel": channel, "schedule": schedule},
        status=400 if form.errors else 200,
    )


@workspace_view
def schedule_create(request: HttpRequest, channel_id: int) -> HttpResponse:
    channel = _channel(request, channel_id)
    if request.method == "POST":
        form = ScheduleForm(request.POST)
        if _save_schedule(request, form, Schedule(channel=channel)):
            return redirect("channel_detail", channel.id)
    else:
        form = ScheduleForm()
    return _schedule_page(request, form, channel, None)


@workspace_view
def schedule_edit(request: HttpRequest, schedule_id: int) -> HttpResponse:
    schedule = _schedule(request, schedule_id)
    if request.method == "POST":
        form = ScheduleForm(request.POST)
        if _save_schedule(request, form, schedule):
            return redirect("channel_detail", schedule.channel_id)
        schedule = _schedule(request, schedule_id)  # the unsaved edit must not leak back
    else:
        form = ScheduleForm.for_schedule(schedule)
    return _schedule_page(request, form, schedule.channel, schedule)


@workspace_view
@require_POST
def schedule_preview(request: HttpRequest, channel_id: int) -> HttpResponse:
    """htmx: the rule the editor builds, in words and RFC 5545, with its next times.

    Read-only (nothing is saved), POST only because the form is posted as it stands.
    """
    channel = _channel(request, channel_id)
    form = ScheduleForm(request.POST)
    times: list[dt.datetime] = []
    if form.is_valid():
        now = timezone.now()
        times = rules.occurrences(
            form.cleaned_data["recurrence"],
            tz=channel.tz,
            starts_on=Schedule._meta.get_field("starts_on").default,
            start=now,
            end=now + dt.timedelta(days=60),
        )[:PREVIEW_COUNT]
    return render(
        request,
        "scheduling/_rule_preview.html",
        {"form": form, "channel": channel, "times": times},
    )


@workspace_view
@require_POST
def schedule_toggle(request: HttpRequest, schedule_id: int) -> HttpResponse:
    schedule = _schedule(request, schedule_id)
    schedule.is_active = not schedule.is_active
    try:
        services.schedule_save(schedule=schedule)
    except ValidationError as exc:
        messages.error(request, " ".join(error_messages(exc)))
    else:
        state = "on" if schedule.is_active else "off (its coming slots are canceled)"
        messages.success(request, f"Schedule “{schedule.name}” turned {state}.")
    return redirect_back(request, "channel_detail", schedule.channel_id)


# --- Single slots --------------------------------------------------------------------------


def _timeslot(request: HttpRequest, timeslot_id: int) -> Timeslot:
    return get_object_or_404(
        Timeslot.objects.select_related("channel"),
        id=timeslot_id,
        channel__workspace=request.workspace,
    )


@workspace_view
@require_POST
def timeslot_move(request: HttpRequest, timeslot_id: int) -> HttpResponse:
    slot = _timeslot(request, timeslot_id)
    tz = slot.channel.tz
    form = TimeslotMoveForm(request.POST, tz=tz)
    if not form.is_valid():
        messages.error(request, "Pick a new date and time to move the slot to.")
    else:
        try:
            services.timeslot_reschedule(timeslot=slot, publish_at=form.cleaned_data["publish_at"])
        except ValidationError as exc:
            messages.error(request, " ".join(error_messages(exc)))
        else:
            local = slot.publish_at.astimezone(tz)
            messages.success(request, f"Slot moved to {local:%a %d %b %H:%M} {local.tzname()}.")
    return redirect_back(request, "channel_detail", slot.channel_id)


@workspace_view
@require_POST
def timeslot_cancel(request: HttpRequest, timeslot_id: int) -> HttpResponse:
    slot = _timeslot(request, timeslot_id)
    try:
        services.timeslot_cancel(timeslot=slot)
    except ValidationError as exc:
        messages.error(request, " ".join(error_messages(exc)))
    else:
        local = slot.publish_at.astimezone(slot.channel.tz)
        messages.success(request, f"Slot of {local:%a %d %b %H:%M} {local.tzname()} canceled.")
    return redirect_back(request, "channel_detail", slot.channel_id)
