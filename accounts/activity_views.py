"""The activity pages: the workspace's log, a post's and a channel's, with filters (actor,
action, source, dates) kept in the URL and keyset pages; owners export it as CSV.

Read-only by design: no page, form or admin action changes an entry (accounts.activity).
Each page costs the same few queries whatever the page: the workspace plumbing, the
members for the actor filter, and one for the entries.
"""

from __future__ import annotations

import csv
import json
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts import activity_reads as reads
from accounts.models import ActivityAction, ActivitySource, Membership
from accounts.views import workspace_view
from bulk.import_rows import FORMULA_GUARD, needs_formula_guard
from channels.models import Channel
from posts.models import Post


def _filters_or_400(request: HttpRequest):
    try:
        return reads.parse_filters(request.GET), []
    except ValidationError as exc:
        return reads.ActivityFilters(), exc.messages


def _members(request: HttpRequest) -> list[Membership]:
    return list(
        Membership.objects.filter(workspace=request.workspace)
        .select_related("user")
        .order_by("user__username")
    )


def _page(request: HttpRequest, *, title: str, subject=None, **scope) -> HttpResponse:
    filters, errors = _filters_or_400(request)
    qs = reads.entries(
        workspace_ids=[request.workspace.id],
        filters=filters,
        tz=ZoneInfo(request.display_tz),
        **scope,
    )
    page = reads.page(qs, before=filters.before)
    context = {
        "title": title,
        "subject": subject,
        "entries": page.rows,
        "next_query": urlencode(filters.query(before=page.next_before))
        if page.next_before
        else None,
        "export_query": urlencode(filters.query()),
        "filters": filters,
        "errors": errors,
        "members": _members(request),
        "actions": ActivityAction.choices,
        "sources": ActivitySource.choices,
        "is_owner": request.membership.role == Membership.Role.OWNER,
    }
    return render(request, "accounts/activity.html", context, status=400 if errors else 200)


@workspace_view
@require_GET
def activity_list(request: HttpRequest) -> HttpResponse:
    return _page(request, title="Activity")


@workspace_view
@require_GET
def post_activity(request: HttpRequest, post_id: int) -> HttpResponse:
    post = get_object_or_404(Post, id=post_id, workspace=request.workspace)
    return _page(request, title="Activity of a post", subject=post, post_id=post.id)


@workspace_view
@require_GET
def channel_activity(request: HttpRequest, channel_id: int) -> HttpResponse:
    channel = get_object_or_404(Channel, id=channel_id, workspace=request.workspace)
    return _page(
        request, title=f"Activity of {channel.name}", subject=channel, channel_id=channel.id
    )


class _Echo:
    def write(self, value: str) -> str:
        return value


CSV_COLUMNS = ["id", "at", "actor", "actor_id", "source", "action", "target", "post_id",
               "channel_id", "details"]  # fmt: skip


def _cell(value) -> str:
    text = "" if value is None else str(value)
    # A spreadsheet must not run a post's text or a name as a formula.
    return FORMULA_GUARD + text if needs_formula_guard(text) else text


@workspace_view
@require_GET
def activity_export(request: HttpRequest) -> HttpResponse:
    """The filtered log as CSV, streamed in keyset chunks; owners only."""
    if request.membership.role != Membership.Role.OWNER:
        raise PermissionDenied("Only the workspace's owners can export its activity.")
    filters, errors = _filters_or_400(request)
    if errors:
        return HttpResponse("; ".join(errors), status=400, content_type="text/plain")
    tz = ZoneInfo(request.display_tz)
    qs = reads.entries(workspace_ids=[request.workspace.id], filters=filters, tz=tz)

    def rows():
        yield CSV_COLUMNS
        for e in reads.export_rows(qs):
            yield [
                e.id,
                timezone.localtime(e.at, tz).isoformat(),
                _cell(e.actor_name),
                e.actor_id or "",
                e.source,
                e.action,
                _cell(e.target),
                e.post_id or "",
                e.channel_id or "",
                _cell(json.dumps(e.details, sort_keys=True) if e.details else ""),
            ]

    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in rows()), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = (
        f'attachment; filename="{request.workspace.slug}-activity.csv"'
    )
    return response
