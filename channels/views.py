"""Channel pages: the list, a channel's queue/schedules/upcoming slots/history, settings."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.models import SocialAccount
from accounts.views import redirect_back, workspace_view
from channels import fit
from channels.forms import ChannelForm, QueueMaxForm, QueueMoveForm
from channels.models import Channel, QueueEntry
from channels.services import (
    queue_entry_move,
    queue_entry_reactivate,
    queue_entry_remove,
    queue_entry_set_max,
    queue_entry_stop,
)
from ground.validation import error_messages
from posts.labels import label_from_query
from posts.models import Label, Post, word_preview
from publishing import selectors as publishing_selectors
from results import audience
from scheduling import lint, rules, selectors
from scheduling.models import Schedule
from scheduling.services import channel_save

UPCOMING_LIMIT = 10
UPCOMING_MORE = 50
HISTORY_LIMIT = 30
# Page sizes that keep a channel page's HTML bounded whatever the queue's length.
QUEUE_PAGE = 50
FINISHED_PAGE = 50
SCHEDULES_PAGE = 20
# The settings page checks the posts next in line against the accounts, not a whole
# 10,000-post queue (each check runs every network's length rules on every text).
MISFIT_CHECK = 200
CHANNELS_PAGE = 48


def _channel(request: HttpRequest, channel_id: int) -> Channel:
    return get_object_or_404(Channel, id=channel_id, workspace=request.workspace)


@workspace_view
def channel_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(
        Channel.objects.filter(workspace=request.workspace).order_by("name", "id"), CHANNELS_PAGE
    ).get_page(request.GET.get("page"))
    ids = [c.id for c in page.object_list]
    # Counted per shown channel with subqueries: a join of entries x schedules would
    # multiply a 10,000-post queue by the channel's schedules.
    channels = list(
        Channel.objects.filter(id__in=ids)
        .annotate(
            queue_size=_count(QueueEntry.objects.filter(is_active=True)),
            schedule_count=_count(Schedule.objects.filter(is_active=True)),
        )
        .prefetch_related("accounts")
        .order_by("name", "id")
    )
    next_slots = selectors.upcoming_by_channel(channels=channels, now=timezone.now(), limit=1)
    for channel in channels:
        channel.next_slot = (next_slots.get(channel.id) or [None])[0]
    return render(request, "channels/channel_list.html", {"channels": channels, "page": page})


def _count(rows) -> Subquery:
    counted = rows.filter(channel=OuterRef("pk")).order_by().values("channel")
    return Coalesce(Subquery(counted.annotate(n=Count("id")).values("n")), 0)


def _queue_context(
    channel: Channel, upcoming: list[selectors.UpcomingSlot], request: HttpRequest
) -> dict:
    """One page of the active queue (in its order) and of the finished entries."""
    entries = (
        QueueEntry.objects.filter(channel=channel)
        .select_related("post")
        .prefetch_related("post__labels")
        .annotate(variation_count=Count("post__variations"))
        .order_by("position", "id")
    )
    # The label filter is kept in the page's URL (one query for the menu, one per page for
    # the chips, the filter itself a semi-join in the same queries).
    # A queue action (htmx POST) sends back the page it was on, with its label filter.
    params = request.POST if request.method == "POST" else request.GET
    labels = list(Label.objects.filter(workspace_id=channel.workspace_id))
    label = label_from_query(params, labels)
    if label is not None:
        entries = entries.filter(
            post_id__in=Post.labels.through.objects.filter(label_id=label.id).values("post_id")
        )
    queue = Paginator(entries.filter(is_active=True), QUEUE_PAGE).get_page(params.get("queue_page"))
    finished = Paginator(entries.filter(is_active=False), FINISHED_PAGE).get_page(
        params.get("finished_page")
    )
    first_use: dict[int, selectors.UpcomingSlot] = {}
    for slot in upcoming:
        if slot.post is not None and not slot.pinned:
            first_use.setdefault(slot.post.id, slot)
    for entry in queue.object_list:
        entry.next_slot = first_use.get(entry.post_id)
    _mark_underperformers(channel, queue.object_list)
    return {
        "channel": channel,
        "queue_page": queue,
        "active_entries": queue.object_list,
        "inactive_entries": finished.object_list,
        "finished_page": finished,
        "labels": labels,
        "label": label,
        "label_query": f"&label={label.id}" if label else "",
    }


def _mark_underperformers(channel: Channel, entries) -> None:
    """Evergreen hygiene: in a looping queue, flag the posts whose last N publications each
    earned less than the channel's median (one query whatever the queue's size)."""
    for entry in entries:
        entry.underperformer = None
    if channel.mode != Channel.Mode.LOOP or not entries:
        return
    marks = audience.underperformers(
        audience.channel_publications(channel_id=channel.id, now=timezone.now()),
        lookback=channel.hygiene_lookback or audience.DEFAULT_LOOKBACK,
    )
    for entry in entries:
        entry.underperformer = marks.get(entry.post_id)


def _history_cursor(value: str) -> tuple[dt.datetime, int] | None:
    """ "<unix microseconds>.<id>" → (publish_at, id); None when unreadable."""
    try:
        micros, pk = value.split(".")
        at = dt.datetime.fromtimestamp(int(micros) / 1_000_000, tz=dt.UTC)
        return at.replace(microsecond=int(micros) % 1_000_000), int(pk)
    except (ValueError, OverflowError, OSError):
        return None


def history_cursor_for(slot) -> str:
    at = slot.publish_at
    return f"{int(at.timestamp()) * 1_000_000 + at.microsecond}.{slot.id}"


@workspace_view
def channel_detail(request: HttpRequest, channel_id: int) -> HttpResponse:
    channel = get_object_or_404(
        Channel.objects.prefetch_related("accounts"), id=channel_id, workspace=request.workspace
    )
    now = timezone.now()
    more = request.GET.get("more") == "1"
    upcoming = selectors.upcoming_for_channel(
        channel=channel, now=now, limit=UPCOMING_MORE if more else UPCOMING_LIMIT
    )
    queue = _queue_context(channel, upcoming, request)
    shown = {s.post.id for s in upcoming if s.post} | {e.post_id for e in queue["active_entries"]}
    misfits = fit.queue_misfits(channel=channel, post_ids=shown)
    for slot in upcoming:
        slot.misfit = misfits.get(slot.post.id) if slot.post else None
    warnings = lint.warnings_ahead(workspace=request.workspace, now=now, channel_ids=[channel.id])
    lint.attach(upcoming, warnings)
    schedule_page = Paginator(
        channel.schedules.order_by("-is_active", "name", "id"), SCHEDULES_PAGE
    )
    schedule_page = schedule_page.get_page(request.GET.get("schedule_page"))
    schedules = list(schedule_page.object_list)
    for schedule in schedules:
        schedule.description = rules.describe(schedule.recurrence)
    before = _history_cursor(request.GET.get("before", ""))
    history = publishing_selectors.history_for_channel(
        channel=channel, limit=HISTORY_LIMIT + 1, before=before
    )
    older = history_cursor_for(history[HISTORY_LIMIT - 1]) if len(history) > HISTORY_LIMIT else ""
    context = {
        **queue,
        "upcoming": upcoming,
        "lint_warnings": warnings[: lint.SHOWN],
        "lint_count": len(warnings),
        "show_more": not more and len(upcoming) >= UPCOMING_LIMIT,
        "schedules": schedules,
        "schedule_page": schedule_page,
        "history": history[:HISTORY_LIMIT],
        "history_older": older,
        "history_paged": before is not None,
        "now": now,
    }
    return render(request, "channels/channel_detail.html", context)


@workspace_view
def channel_create(request: HttpRequest) -> HttpResponse:
    # A new channel starts in the creator's own display zone (one clock), not in the
    # first zone of the alphabet.
    form = ChannelForm(
        request.POST or None,
        workspace=request.workspace,
        initial={"timezone": request.display_tz},
    )
    if request.method == "POST" and form.is_valid():
        try:
            channel = form.save()
        except ValidationError:
            pass
        else:
            messages.success(request, f"Channel {channel.name} created. Now add a schedule.")
            return redirect("channel_detail", channel.id)
    return render(
        request,
        "channels/channel_form.html",
        {"form": form, "channel": None},
        status=400 if form.errors else 200,
    )


@workspace_view
def channel_settings(request: HttpRequest, channel_id: int) -> HttpResponse:
    channel = _channel(request, channel_id)
    before = set(channel.accounts.values_list("id", flat=True))
    form = ChannelForm(request.POST or None, instance=channel, workspace=request.workspace)
    if request.method == "POST" and form.is_valid():
        try:
            form.save()
        except ValidationError:
            pass
        else:
            messages.success(request, "Channel settings saved.")
            added = [a for a in form.cleaned_data["accounts"] if a.id not in before]
            _warn_misfits(request, channel, added)
            return redirect("channel_detail", channel.id)
    channel = _channel(request, channel_id)
    return render(
        request,
        "channels/channel_form.html",
        {
            "form": form,
            "channel": channel,
            "misfits": fit.queue_misfits(channel=channel, post_ids=_next_posts(channel)),
            "misfit_check": MISFIT_CHECK,
        },
        status=400 if form.errors else 200,
    )


def _next_posts(channel: Channel) -> list[int]:
    """The posts of the queue's first MISFIT_CHECK active entries, in queue order."""
    entries = QueueEntry.objects.filter(channel=channel, is_active=True).order_by("position", "id")
    return list(entries.values_list("post_id", flat=True)[:MISFIT_CHECK])


def _warn_misfits(request: HttpRequest, channel: Channel, added) -> None:
    """Added accounts whose network refuses some queued posts: say which, before a slot
    fails on them (the posts stay queued: the person shortens or removes them)."""
    active = [a for a in added if a.status != SocialAccount.Status.DISABLED]
    misfits = (
        fit.queue_misfits(channel=channel, accounts=active, post_ids=_next_posts(channel))
        if active
        else {}
    )
    if misfits:
        names = "; ".join(f"“{word_preview(m.post.text)}” ({m.message})" for m in misfits.values())
        messages.warning(
            request,
            f"{len(misfits)} queued post(s) are too long for the account(s) you added and "
            f"will fail there: {names}",
        )


@workspace_view
@require_POST
def channel_pause(request: HttpRequest, channel_id: int) -> HttpResponse:
    channel = _channel(request, channel_id)
    channel.is_paused = request.POST.get("paused") == "1"
    try:
        channel_save(channel=channel)
    except ValidationError as exc:
        messages.error(request, " ".join(error_messages(exc)))
    else:
        messages.success(
            request,
            f"{channel.name} paused: nothing publishes until you resume it."
            if channel.is_paused
            else f"{channel.name} resumed: its schedules are planned again.",
        )
    return redirect_back(request, "channel_detail", channel.id)


# --- Queue ---------------------------------------------------------------------------------


def _entry(request: HttpRequest, channel_id: int, entry_id: int) -> QueueEntry:
    return get_object_or_404(
        QueueEntry.objects.select_related("channel", "post"),
        id=entry_id,
        channel_id=channel_id,
        channel__workspace=request.workspace,
    )


def _queue_response(request: HttpRequest, channel: Channel) -> HttpResponse:
    """The queue fragment for htmx, or back to the channel page without JavaScript."""
    if request.headers.get("HX-Request"):
        now = timezone.now()
        upcoming = selectors.upcoming_for_channel(channel=channel, now=now, limit=UPCOMING_LIMIT)
        context = {
            **_queue_context(channel, upcoming, request),
            # The queue's order changes which post each coming slot takes: refresh that
            # list too (an out-of-band swap), so the page never contradicts itself.
            "refresh_upcoming": True,
            "upcoming": upcoming,
            "show_more": len(upcoming) >= UPCOMING_LIMIT,
            "now": now,
        }
        return render(request, "channels/_queue.html", context)
    return redirect("channel_detail", channel.id)


@workspace_view
@require_POST
def queue_move(request: HttpRequest, channel_id: int, entry_id: int) -> HttpResponse:
    entry = _entry(request, channel_id, entry_id)
    form = QueueMoveForm(request.POST)
    if form.is_valid():
        queue_entry_move(entry=entry, direction=form.cleaned_data["direction"])
    return _queue_response(request, entry.channel)


@workspace_view
@require_POST
def queue_remove(request: HttpRequest, channel_id: int, entry_id: int) -> HttpResponse:
    entry = _entry(request, channel_id, entry_id)
    queue_entry_remove(entry=entry)
    if not request.headers.get("HX-Request"):
        messages.success(request, f"“{entry.post}” removed from {entry.channel.name}'s queue.")
    return _queue_response(request, entry.channel)


@workspace_view
@require_POST
def queue_requeue(request: HttpRequest, channel_id: int, entry_id: int) -> HttpResponse:
    entry = _entry(request, channel_id, entry_id)
    queue_entry_reactivate(entry=entry)
    return _queue_response(request, entry.channel)


@workspace_view
@require_POST
def queue_max(request: HttpRequest, channel_id: int, entry_id: int) -> HttpResponse:
    entry = _entry(request, channel_id, entry_id)
    form = QueueMaxForm(request.POST)
    if form.is_valid():
        queue_entry_set_max(entry=entry, max_publications=form.cleaned_data["max_publications"])
    else:
        messages.error(request, "Max publications must be a whole number from 1 (or empty).")
    return _queue_response(request, entry.channel)


@workspace_view
@require_POST
def queue_stop(request: HttpRequest, channel_id: int, entry_id: int) -> HttpResponse:
    """Stop looping a post (evergreen hygiene's action): out of rotation, not deleted."""
    entry = _entry(request, channel_id, entry_id)
    queue_entry_stop(entry=entry)
    if not request.headers.get("HX-Request"):
        messages.success(
            request, f"“{entry.post}” stopped looping in {entry.channel.name}: see finished posts."
        )
    return _queue_response(request, entry.channel)
