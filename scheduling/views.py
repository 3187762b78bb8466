"""Dashboard, the schedule editor, and moving/canceling single slots."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.models import SocialAccount
from accounts.services import notices_visible
from accounts.views import redirect_back, workspace_view
from channels import fit
from channels.models import Channel
from ground.validation import error_messages
from publishing import problems
from publishing import selectors as publishing_selectors
from scheduling import blackouts, lint, preview, rules, selectors, services, stops
from scheduling import calendar_grid as grid
from scheduling.forms import ScheduleForm, TimeslotMoveForm, simple_from_recurrence
from scheduling.models import Schedule, Timeslot

PROBLEM_WINDOW = dt.timedelta(days=7)
PREVIEW_COUNT = 6


@workspace_view
def dashboard(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    workspace = request.workspace
    upcoming = selectors.upcoming_for_workspace(workspace=workspace, now=now, limit=8)
    misfits = fit.queue_misfits_many(
        channels=list({s.channel.id: s.channel for s in upcoming}.values()),
        post_ids={s.post.id for s in upcoming if s.post},
    )
    for slot in upcoming:
        slot.misfit = misfits.get(slot.channel.id, {}).get(slot.post.id) if slot.post else None
    warnings = lint.warnings_ahead(workspace=workspace, now=now)
    lint.attach(upcoming, warnings)
    context = {
        "lint_warnings": warnings[: lint.SHOWN],
        "lint_count": len(warnings),
        "upcoming": upcoming,
        "deliveries": publishing_selectors.recent_deliveries(workspace=workspace, limit=10),
        "notices": list(
            notices_visible(workspace=workspace, user=request.user)
            .filter(dismissed_at__isnull=True)
            .order_by("-created_at")[:20]
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
        "stopped": stops.active_stop(workspace=workspace) or stops.active_stop(workspace=None),
    }
    return render(request, "scheduling/dashboard.html", context)


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


def _prefilled(
    request: HttpRequest, form: ScheduleForm
) -> tuple[ScheduleForm, HttpResponse | None]:
    """`?rule=<RFC 5545 text>` (the suggested times' link) fills the editor with that rule,
    in the simple editor when it can show it; nothing is saved until Save."""
    text = request.GET.get("rule", "")
    if not text:
        return form, None
    try:
        value = rules.parse(text)
    except ValidationError as exc:
        message = "The rule to fill in is not valid: " + " ".join(error_messages(exc))
        return form, HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
    initial = {**form.initial, "advanced": text.strip()}
    initial.update(simple_from_recurrence(value) or {"frequency": "advanced"})
    return ScheduleForm(initial=initial), None


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
        form, bad = _prefilled(request, ScheduleForm())
        if bad:
            return bad
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
        form, bad = _prefilled(request, ScheduleForm.for_schedule(schedule))
        if bad:
            return bad
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
        times = rules.preview(
            form.cleaned_data["recurrence"],
            tz=channel.tz,
            now=timezone.now(),
            count=PREVIEW_COUNT,
            starts_on=Schedule._meta.get_field("starts_on").default,
        )
    return render(
        request,
        "scheduling/_rule_preview.html",
        {"form": form, "channel": channel, "times": times},
    )


def _changes_page(request, form: ScheduleForm, schedule: Schedule) -> HttpResponse:
    found = None
    if form.is_valid():
        found = preview.schedule_preview_changes(schedule=form.apply(schedule))
    return render(
        request,
        "scheduling/_schedule_changes.html",
        {"form": form, "channel": schedule.channel, "found": found},
        status=400 if form.errors else 200,
    )


@workspace_view
@require_POST
def schedule_changes_new(request: HttpRequest, channel_id: int) -> HttpResponse:
    """htmx ("Preview changes"): the slots saving this new schedule would plan. Nothing saved."""
    channel = _channel(request, channel_id)
    return _changes_page(request, ScheduleForm(request.POST), Schedule(channel=channel))


@workspace_view
@require_POST
def schedule_changes(request: HttpRequest, schedule_id: int) -> HttpResponse:
    """htmx ("Preview changes"): what saving this edit would cancel, create, revive and leave
    alone, by the save's own reconciliation (scheduling/preview.py). Nothing saved."""
    schedule = _schedule(request, schedule_id)
    return _changes_page(request, ScheduleForm(request.POST), schedule)


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
        Timeslot.objects.select_related("channel", "post", "published_post"),
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
        before = slot.publish_at
        try:
            services.timeslot_reschedule(timeslot=slot, publish_at=form.cleaned_data["publish_at"])
        except ValidationError as exc:
            messages.error(request, " ".join(error_messages(exc)))
        else:
            messages.success(
                request,
                f"{grid.slot_name(slot)} moved from {grid.when(before, tz)} to "
                f"{grid.when(slot.publish_at, tz)}.",
            )
            if flag := blackouts.flag_for([slot]):
                messages.warning(request, flag)
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
        messages.success(
            request,
            f"{grid.slot_name(slot)} of {grid.when(slot.publish_at, slot.channel.tz)} canceled.",
        )
    return redirect_back(request, "channel_detail", slot.channel_id)
