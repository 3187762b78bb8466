"""The calendar: week (hours x days), month and day views in a chosen zone, and a slot's panel
(move, cancel, change its post), for planned slots and for ones still projected from a rule.

The zone is a query parameter (?tz=), never stored: choosing one here changes no other
page. Shapes live in scheduling/calendar_grid.py, writes in scheduling/services.py.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.models import SocialAccount
from accounts.views import workspace_view
from channels.models import Channel
from ground.validation import error_messages
from ground.zones import iana_zone_names, zone_choices
from posts.comments import thread_context
from posts.models import Label, Post, word_preview
from scheduling import blackouts, calendar_reads, lint, selectors, services
from scheduling import calendar_grid as grid
from scheduling.forms import SlotPostForm, TimeslotMoveForm
from scheduling.models import Schedule, Timeslot


def _zone(request: HttpRequest, source) -> tuple[str, zoneinfo.ZoneInfo]:
    name = source.get("tz", "")
    if name and name in iana_zone_names():
        return name, zoneinfo.ZoneInfo(name)
    if name:
        messages.error(request, f"Unknown time zone “{name}”.")
    return request.display_tz, zoneinfo.ZoneInfo(request.display_tz)


def _write_zone(request: HttpRequest) -> tuple[str, zoneinfo.ZoneInfo] | None:
    """The zone a posted time is read in; None for an unknown one (refused, not guessed)."""
    name = request.POST.get("tz", "") or request.display_tz
    if name not in iana_zone_names():
        return None
    return name, zoneinfo.ZoneInfo(name)


def calendar_url(view: str, day: dt.date, tz_name: str, filters: str = "") -> str:
    query = urlencode({"view": view, "start": day.isoformat(), "tz": tz_name})
    return f"{reverse('calendar')}?{query}{filters}"


STATUS_CHOICES = [
    (calendar_reads.PROJECTED, grid.STATUS_LABELS[calendar_reads.PROJECTED]),
    *Timeslot.Status.choices,
]


@dataclass
class Filters:
    """The calendar's filters, read from the query string (?channel=&account=&status=, each
    repeatable) and written back into every link of the page, so they stay on."""

    channel_ids: list[int]
    account_ids: list[int]
    statuses: list[str]
    label_id: int | None = None

    @classmethod
    def read(cls, request: HttpRequest) -> Filters:
        def ids(name: str) -> list[int]:
            # Ids from a link: anything that is not a number is ignored, not a 500.
            return [
                int(i)
                for i in request.GET.getlist(name)
                if i.isascii() and i.isdigit() and len(i) <= 18
            ][:100]

        known = {value for value, _ in STATUS_CHOICES}
        statuses = [s for s in request.GET.getlist("status") if s in known]
        labels = ids("label")
        return cls(ids("channel"), ids("account"), statuses, labels[0] if labels else None)

    @property
    def query(self) -> str:
        """ "&channel=1&status=failed" (empty without filters), appended to a calendar URL."""
        pairs = [("channel", i) for i in self.channel_ids]
        pairs += [("account", i) for i in self.account_ids]
        pairs += [("status", s) for s in self.statuses]
        if self.label_id is not None:
            pairs.append(("label", self.label_id))
        return f"&{urlencode(pairs)}" if pairs else ""


def _chosen_day(request: HttpRequest, today: dt.date) -> dt.date:
    if "start" in request.GET:
        day = grid.parse_start(request.GET["start"], today=today)
        if day is None:
            messages.error(request, "Dates look like 2026-12-07; showing today.")
        return day or today
    if "week" in request.GET:  # links to the old week-only calendar
        day = grid.parse_iso_week(request.GET["week"], today=today)
        if day is None:
            messages.error(request, "Weeks look like 2026-W48; showing this week.")
        return day or today
    return today


@workspace_view
def calendar(request: HttpRequest) -> HttpResponse:
    tz_name, tz = _zone(request, request.GET)
    now = timezone.now()
    now_local = now.astimezone(tz)
    today = now_local.date()
    view = request.GET.get("view", "week")
    if view not in grid.VIEWS:
        messages.error(request, "Views are week, month or day; showing the week.")
        view = "week"
    shown = grid.period(view, _chosen_day(request, today))
    start, end = shown.bounds(tz)
    monday = shown.first - dt.timedelta(days=shown.first.weekday())
    # Texts are filled in below for the slots the page shows (a cell's first few, one page
    # of the day list), not for every slot of the period.
    filters = Filters.read(request)
    # A cell shows its first few slots: the others are only counted (a month's day, finished
    # and coming; a week's hour, coming). The day list pages through all of them.
    cap: calendar_reads.DayCap | calendar_reads.HourCap | None = None
    if view == "month":
        cap = calendar_reads.DayCap(tz=tz, keep=grid.MONTH_CELL_MAX)
    elif view == "week":
        cap = calendar_reads.HourCap(tz=tz, keep=grid.WEEK_CELL_MAX)
    slots = calendar_reads.slots_between(
        workspace=request.workspace,
        start=start,
        end=end,
        now=now,
        texts=False,
        channel_ids=filters.channel_ids,
        account_ids=filters.account_ids,
        statuses=filters.statuses,
        cap=cap,
        label_id=filters.label_id,
    )
    hidden = cap.hidden if cap else {}
    warnings = []
    if end > now and start < now + settings.LINT_AHEAD:
        # Problems ahead (scheduling/lint.py) of the coming slots this period shows.
        warnings = [
            w
            for w in lint.warnings_ahead(
                workspace=request.workspace, now=now, channel_ids=filters.channel_ids
            )
            if start <= w.publish_at < end
        ]
    if view != "month":  # a month decorates the slots its cells show only, below
        grid.decorate(slots, tz=tz, now=now)
    channels = list(Channel.objects.filter(workspace=request.workspace).order_by("name"))
    # The filter lists names only: not the credentials, decrypted per account on read.
    accounts = list(
        SocialAccount.objects.filter(workspace=request.workspace)
        .order_by("provider", "handle")
        .only("id", "provider", "handle")
    )
    shows_today = shown.first <= today <= shown.last
    # Switching week <-> month keeps today in view when it is shown.
    anchor = today if shows_today else shown.first
    q = filters.query
    here = request.get_full_path()
    context = {
        "filters": filters,
        "filter_labels": list(Label.objects.filter(workspace=request.workspace)),
        "filter_query": q,
        "filter_accounts": accounts,
        "filter_statuses": STATUS_CHOICES,
        "clear_filters_url": calendar_url(view, shown.first, tz_name),
        "view": view,
        "period": shown,
        # The column heads: a week's days (a month's columns are Monday to Sunday too).
        "days": [monday + dt.timedelta(days=i) for i in range(7)],
        "tz_name": tz_name,
        "timezones": zone_choices(short=True),
        "today": today,
        "now": now,
        "slot_count": len(slots) + sum(hidden.values()),
        "channels": [(c, grid.channel_color(c.id)) for c in channels],
        "prev_url": calendar_url(view, shown.prev, tz_name, q),
        "next_url": calendar_url(view, shown.next, tz_name, q),
        "today_url": calendar_url(view, today, tz_name, q),
        "week_url": calendar_url("week", anchor, tz_name, q),
        "month_url": calendar_url("month", anchor, tz_name, q),
        "shows_today": shows_today,
        "here": here,
        # Written once rather than per slot or cell (_cal_slot.html, calendar.html).
        "slot_query": f"?tz={quote(tz_name)}&next={quote(here)}",
        "tz_q": quote(tz_name),
        "post_create_url": reverse("post_create"),
        "lint_warnings": warnings[: lint.SHOWN],
        "lint_count": len(warnings),
    }
    if view == "week":
        rows = grid.week_rows(
            slots, first=shown.first, today=today, now_local=now_local, hidden=hidden
        )
        context["rows"] = rows
        _show([s for _, cells in rows for cell in cells for s in cell.slots], warnings)
    elif view == "month":
        weeks = grid.month_weeks(
            slots, first=shown.first, days=shown.days, today=today, tz=tz, hidden=hidden
        )
        context["weeks"] = weeks
        cell_slots = [s for week in weeks for cell in week if cell for s in cell.slots]
        grid.decorate(cell_slots, tz=tz, now=now)
        _show(cell_slots, warnings)
    else:
        appended = bool(request.headers.get("HX-Request") and request.GET.get("part"))
        page = grid.day_page(
            slots, first=request.GET.get("from"), hour=request.GET.get("hour"), appended=appended
        )
        _show(page.slots, warnings)
        base = calendar_url("day", shown.first, tz_name, q)
        context.update(
            slots=page.slots,
            more_count=page.more,
            more_url=f"{base}&from={page.next_from}" if page.more else "",
            earlier_url=f"{base}&from={page.earlier_from}" if page.earlier_from is not None else "",
        )
        if appended:
            return render(request, "scheduling/_cal_day_items.html", context)
    return render(request, "scheduling/calendar.html", context)


def _show(slots: list[selectors.UpcomingSlot], warnings: list[lint.SlotWarning]) -> None:
    selectors.fill_texts(slots)
    lint.attach(slots, warnings)
    grid.set_shown_text(slots)


# --- One slot ------------------------------------------------------------------------------


class _Slot:
    """A slot of the calendar by its key: a row, or a rule occurrence with no row yet."""

    def __init__(self, request: HttpRequest, key: str):
        parsed = grid.parse_key(key)
        if parsed is None:
            raise Http404("No such slot.")
        self.key = key
        self.timeslot: Timeslot | None = None
        self.schedule: Schedule | None = None
        self.occurrence = parsed.occurrence
        if parsed.timeslot_id is not None:
            self.timeslot = get_object_or_404(
                Timeslot.objects.select_related("channel", "post", "schedule", "published_post"),
                id=parsed.timeslot_id,
                channel__workspace=request.workspace,
            )
            self.channel = self.timeslot.channel
        else:
            self.schedule = get_object_or_404(
                Schedule.objects.select_related("channel"),
                id=parsed.schedule_id,
                channel__workspace=request.workspace,
            )
            self.channel = self.schedule.channel

    @property
    def publish_at(self) -> dt.datetime:
        return self.timeslot.publish_at if self.timeslot else self.occurrence

    @property
    def status(self) -> str:
        return self.timeslot.status if self.timeslot else calendar_reads.PROJECTED

    @property
    def editable(self) -> bool:
        return self.status in grid.EDITABLE and self.publish_at > timezone.now()

    def for_write(self) -> Timeslot:
        """The row to act on, planning a projected occurrence first (detached)."""
        if self.timeslot is None:
            self.timeslot = services.projected_slot_plan(
                schedule=self.schedule, occurrence=self.occurrence
            )
        return self.timeslot


def _back(request: HttpRequest, tz_name: str, slot: _Slot) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    # Only our own calendar pages: the panel links back to where the user came from.
    if target.startswith(reverse("calendar")) and "//" not in target:
        return target
    return calendar_url(
        "week", slot.publish_at.astimezone(zoneinfo.ZoneInfo(tz_name)).date(), tz_name
    )


def _panel(request, slot: _Slot, tz_name: str, *, move_form=None, post_form=None, status=200):
    tz = zoneinfo.ZoneInfo(tz_name)
    local = slot.publish_at.astimezone(tz)
    if move_form is None:
        move_form = TimeslotMoveForm(
            tz=tz, initial={"publish_at": local.replace(tzinfo=None, second=0)}
        )
    if post_form is None:
        current = slot.timeslot.post_id if slot.timeslot else None
        post_form = SlotPostForm(workspace=request.workspace, initial={"post": current})
    context = {
        "slot": slot,
        "local": local,
        "channel_local": slot.publish_at.astimezone(slot.channel.tz),
        "tz_name": tz_name,
        "move_form": move_form,
        "post_form": post_form,
        "back": _back(request, tz_name, slot),
    }
    # The slot's post (pinned, or the one it published): its review and comments.
    post = slot.timeslot and (slot.timeslot.post or slot.timeslot.published_post)
    if post:
        context["review"] = thread_context(post=post, role=request.membership.role)
    return render(request, "scheduling/calendar_slot.html", context, status=status)


@workspace_view
def calendar_slot(request: HttpRequest, key: str) -> HttpResponse:
    slot = _Slot(request, key)
    tz_name, _ = _zone(request, request.GET)
    return _panel(request, slot, tz_name)


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _done(request, slot: _Slot, tz_name: str, message: str) -> HttpResponse:
    messages.success(request, message)
    if _wants_json(request):
        # The key the slot has now (a projected one was planned): calendar.js refocuses it.
        key = f"t{slot.timeslot.id}" if slot.timeslot else slot.key
        return JsonResponse({"ok": True, "message": message, "key": key})
    return redirect(_back(request, tz_name, slot))


def _refused(request, slot: _Slot, tz_name: str, problem: str, **forms) -> HttpResponse:
    messages.error(request, problem)
    if _wants_json(request):
        # calendar.js reloads the page either way: the message shows there, as an alert.
        return JsonResponse({"ok": False, "error": problem}, status=400)
    return _panel(request, slot, tz_name, status=400, **forms)


def _describe(slot: Timeslot, tz: zoneinfo.ZoneInfo) -> str:
    return grid.when(slot.publish_at, tz)


@workspace_view
@require_POST
def calendar_slot_move(request: HttpRequest, key: str) -> HttpResponse:
    slot = _Slot(request, key)
    zone = _write_zone(request)
    if zone is None:
        return _refused(request, slot, request.display_tz, "Unknown time zone.")
    tz_name, tz = zone
    form = TimeslotMoveForm(request.POST, tz=tz)
    if not form.is_valid():
        return _refused(request, slot, tz_name, "Pick a new date and time.", move_form=form)
    before = slot.publish_at
    try:
        # Planning a projected slot and moving it succeed or fail together.
        with transaction.atomic():
            moved = services.timeslot_reschedule(
                timeslot=slot.for_write(), publish_at=form.cleaned_data["publish_at"]
            )
    except ValidationError as exc:
        return _refused(request, slot, tz_name, " ".join(error_messages(exc)), move_form=form)
    return _done(
        request,
        slot,
        tz_name,
        f"{grid.slot_name(moved)} moved from {grid.when(before, tz)} to {_describe(moved, tz)}."
        + (f" {flag}" if (flag := blackouts.flag_for([moved])) else ""),
    )


@workspace_view
@require_POST
def calendar_slot_cancel(request: HttpRequest, key: str) -> HttpResponse:
    slot = _Slot(request, key)
    tz_name, tz = _zone(request, request.POST)
    try:
        with transaction.atomic():
            canceled = services.timeslot_cancel(timeslot=slot.for_write())
    except ValidationError as exc:
        return _refused(request, slot, tz_name, " ".join(error_messages(exc)))
    return _done(
        request, slot, tz_name, f"{grid.slot_name(canceled)} of {_describe(canceled, tz)} canceled."
    )


@workspace_view
@require_POST
def calendar_slot_post(request: HttpRequest, key: str) -> HttpResponse:
    slot = _Slot(request, key)
    tz_name, tz = _zone(request, request.POST)
    form = SlotPostForm(request.POST, workspace=request.workspace)
    if not form.is_valid():
        return _refused(request, slot, tz_name, "Choose a post from the list.", post_form=form)
    post: Post | None = form.cleaned_data["post"]
    try:
        with transaction.atomic():
            changed = services.timeslot_set_post(timeslot=slot.for_write(), post=post)
    except ValidationError as exc:
        return _refused(request, slot, tz_name, " ".join(error_messages(exc)), post_form=form)
    what = (
        f"“{word_preview(post.text, grid.NAME_WORDS)}” pinned"
        if post
        else "The queue's next post goes"
    )
    where = f"the {changed.channel.name} slot of {_describe(changed, tz)}"
    return _done(request, slot, tz_name, f"{what} to {where}.")
