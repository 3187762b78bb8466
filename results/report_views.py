"""The results pages of the workspace (/results/) and of a channel (/channels/<id>/results/),
and their ranked table as CSV (`?format=csv`, the same filters). The figures are
results/reports.py's; the chart's geometry results/report_charts.py's."""

from __future__ import annotations

import csv
import io
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.views import display_timezone, workspace_view
from bulk.import_rows import FORMULA_GUARD, needs_formula_guard
from channels.models import Channel
from networks import registry
from posts.models import Label
from results import reports
from results.report_charts import bucket_label, timeline_chart

CSV_COLUMNS = ["rank", "post_id", "text", "publications", "likes", "reposts", "replies",
               "quotes", "engagement", "engagement_per_publication", "clicks"]  # fmt: skip


@workspace_view
@require_GET
def workspace_results(request: HttpRequest) -> HttpResponse:
    return _results(request, zone=ZoneInfo(display_timezone(request)), channel=None)


@workspace_view
@require_GET
def channel_results(request: HttpRequest, channel_id: int) -> HttpResponse:
    channel = Channel.objects.filter(id=channel_id, workspace=request.workspace).first()
    if channel is None:
        raise Http404("No such channel in this workspace.")
    return _results(request, zone=ZoneInfo(channel.timezone), channel=channel)


def _results(request: HttpRequest, *, zone: ZoneInfo, channel: Channel | None) -> HttpResponse:
    workspace = request.workspace
    channels = [] if channel else list(Channel.objects.filter(workspace=workspace).order_by("name"))
    labels = list(Label.objects.filter(workspace=workspace).order_by("name"))
    context = {
        "channel": channel,
        "channels": channels,
        "labels": labels,
        "networks": registry.choices(),
        "zone": zone.key,
        # The form shows what was asked (a refused date stays, to be corrected).
        "values": {
            key: request.GET.get(key, "") for key in ("from", "to", "channel", "label", "network")
        },
    }
    try:
        filters = reports.parse_filters(
            request.GET,
            zone=zone,
            today=timezone.now().astimezone(zone).date(),
            channels=channels,
            labels=labels,
            channel=channel,
        )
    except reports.FilterError as error:
        context["error"] = str(error)
        return render(request, "results/report.html", context, status=400)
    latest = reports.latest_snapshots(workspace_id=workspace.id, filters=filters)
    kept = reports.deliveries(workspace_id=workspace.id, filters=filters)
    posts = reports.ranked_posts(latest, kept)
    if request.GET.get("format") == "csv":
        return _csv(posts, channel)
    timeline = reports.timeline(latest, filters)
    for row in timeline:
        row["label"] = bucket_label(row["when"], filters.bucket)
    context |= {
        "values": filters.query(),
        "filters": filters,
        "timeline": timeline,
        "chart": timeline_chart(timeline, filters.bucket),
        "posts": posts,
        "texts": reports.ranked_texts(latest, posts),
        "networks_rows": reports.by_network(latest),
        "rank_limit": reports.RANK_LIMIT,
        "csv_query": urlencode(filters.query() | {"format": "csv"}),
    }
    return render(request, "results/report.html", context)


def _cell(value) -> str:
    text = "" if value is None else str(value)
    # A spreadsheet must not run a post's text as a formula.
    return FORMULA_GUARD + text if needs_formula_guard(text) else text


def _csv(posts: list[dict], channel: Channel | None) -> HttpResponse:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in posts:
        writer.writerow(
            _cell(value)
            for value in (
                row["rank"], row["post_id"], row["text"], row["publications"], row["likes"],
                row["reposts"], row["replies"], row["quotes"], row["engagement"],
                row["per_publication"], row["clicks"],
            )
        )  # fmt: skip
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    name = f"results-channel-{channel.id}.csv" if channel else "results.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
