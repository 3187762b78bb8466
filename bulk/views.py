"""Import (upload → preview → confirm → progress → report), a channel's CSV exports, and
its feeds. Thin: bulk.imports, bulk.exports and bulk.feeds do the work."""

from __future__ import annotations

import csv

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.views import workspace_view
from bulk import exports, feeds, import_rows, imports
from bulk.models import ChannelFeed, FeedItem, ImportJob
from channels.models import Channel
from ground.validation import error_messages

PREVIEW_ROWS = 20
HTMX_STOP_POLLING = 286
RECENT_JOBS = 5
RECENT_ITEMS = 5  # per feed, on its page


def _job(request: HttpRequest, job_id: int) -> ImportJob:
    return get_object_or_404(ImportJob, id=job_id, workspace=request.workspace)


def _upload_page(request: HttpRequest, error: str = "", status: int = 200) -> HttpResponse:
    return render(
        request,
        "bulk/import_upload.html",
        {
            "error": error,
            "columns": import_rows.COLUMNS,
            "max_rows": import_rows.MAX_ROWS,
            "max_mb": import_rows.MAX_FILE_BYTES // (1024 * 1024),
            "jobs": ImportJob.objects.filter(workspace=request.workspace).exclude(
                status=ImportJob.Status.PREVIEW
            )[:RECENT_JOBS],
        },
        status=status,
    )


@workspace_view
@require_http_methods(["GET", "POST"])
def import_upload(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _upload_page(request)
    upload = request.FILES.get("file")
    if upload is None:
        return _upload_page(request, "Choose a CSV file to import.", status=400)
    if upload.size > import_rows.MAX_FILE_BYTES:
        # Refused before reading it into memory; the message is import_rows's.
        return _upload_page(request, import_rows.too_large_message(), status=400)
    try:
        job = imports.import_preview(
            workspace=request.workspace,
            user=request.user,
            filename=upload.name or "",
            data=upload.read(),
        )
    except import_rows.FileRefused as exc:
        return _upload_page(request, str(exc), status=400)
    if job.ignored_columns:
        messages.warning(request, f"Column(s) ignored: {', '.join(job.ignored_columns)}.")
    return redirect("import_detail", job_id=job.id)


@workspace_view
@require_GET
def import_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job(request, job_id)
    context = {
        "job": job,
        "report": imports.import_report(job=job),
        "milestone": imports.import_milestone(job=job),
    }
    if job.status == ImportJob.Status.PREVIEW:
        sample = list(job.rows.filter(valid=True).order_by("line")[:PREVIEW_ROWS])
        pins = imports.import_preview_pins(job=job, rows=sample)
        context["sample"] = [(row, pins.get(row.id, [])) for row in sample]
    return render(request, "bulk/import_detail.html", context)


@workspace_view
@require_GET
def import_progress(request: HttpRequest, job_id: int) -> HttpResponse:
    """htmx: the progress block, polled until the job is done (then the report, with
    status 286: htmx's "stop polling")."""
    job = _job(request, job_id)
    milestone = imports.import_milestone(job=job)
    return render(
        request,
        "bulk/_import_progress.html",
        {
            "job": job,
            "report": imports.import_report(job=job),
            "milestone": milestone,
            "announce": milestone if milestone != request.GET.get("said") else "",
        },
        status=HTMX_STOP_POLLING if job.status == ImportJob.Status.DONE else 200,
    )


@workspace_view
@require_GET
def import_status(request: HttpRequest, job_id: int) -> JsonResponse:
    return JsonResponse(imports.import_report(job=_job(request, job_id)))


@workspace_view
@require_POST
def import_start(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job(request, job_id)
    if job.status == ImportJob.Status.PREVIEW and not job.total:
        messages.error(request, "No row can be imported: fix the file and upload it again.")
        return redirect("import_detail", job_id=job.id)
    imports.import_start(job=job)
    return redirect("import_detail", job_id=job.id)


@workspace_view
@require_POST
def import_cancel(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job(request, job_id)
    if imports.import_cancel(job=job):
        messages.success(request, "Import canceled: nothing was saved.")
        return redirect("post_list")
    messages.error(request, "This import has started already and cannot be canceled.")
    return redirect("import_detail", job_id=job.id)


@workspace_view
@require_POST
def import_resume(request: HttpRequest, job_id: int) -> HttpResponse:
    sent = imports.import_resume(job=_job(request, job_id))
    messages.info(request, f"Sent {sent} part(s) of the import to the workers again.")
    return redirect("import_detail", job_id=job_id)


# --- Export ---------------------------------------------------------------------------------


class _Echo:
    def write(self, value: str) -> str:
        return value


EXPORTS = {"queue": exports.queue_rows, "history": exports.history_rows}


@workspace_view
@require_GET
def channel_export(request: HttpRequest, channel_id: int, kind: str) -> StreamingHttpResponse:
    channel = get_object_or_404(Channel, id=channel_id, workspace=request.workspace)
    if kind not in EXPORTS:
        raise Http404("Export the queue or the history.")
    writer = csv.writer(_Echo())
    rows = EXPORTS[kind](channel=channel)
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in rows), content_type="text/csv; charset=utf-8"
    )
    name = f"{slugify(channel.slug) or 'channel'}-{kind}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


# --- Feeds ----------------------------------------------------------------------------------


def _feeds_page(request, channel: Channel, *, url: str = "", errors=(), status: int = 200):
    feed_list = list(channel.feeds.order_by("url"))
    recent = FeedItem.objects.filter(feed__channel=channel).select_related("post")
    by_feed: dict[int, list[FeedItem]] = {}
    for item in recent.exclude(error=feeds.SKIPPED)[: RECENT_ITEMS * max(1, len(feed_list))]:
        if len(by_feed.setdefault(item.feed_id, [])) < RECENT_ITEMS:
            by_feed[item.feed_id].append(item)
    for feed in feed_list:
        feed.recent = by_feed.get(feed.id, [])
    return render(
        request,
        "bulk/channel_feeds.html",
        {
            "channel": channel,
            "feeds": feed_list,
            "url": url,
            "errors": list(errors),
            "interval": int(feeds.POLL_INTERVAL.total_seconds() // 60),
            "max_items": feeds.MAX_NEW_ITEMS,
        },
        status=status,
    )


@workspace_view
@require_http_methods(["GET", "POST"])
def channel_feeds(request: HttpRequest, channel_id: int) -> HttpResponse:
    channel = get_object_or_404(Channel, id=channel_id, workspace=request.workspace)
    if request.method == "GET":
        return _feeds_page(request, channel)
    url = request.POST.get("url", "")
    try:
        feeds.feed_add(channel=channel, url=url)
    except ValidationError as exc:
        return _feeds_page(request, channel, url=url, errors=error_messages(exc), status=400)
    messages.success(request, "Feed added: its new items will join the queue.")
    return redirect("channel_feeds", channel_id=channel.id)


def _feed(request: HttpRequest, channel_id: int, feed_id: int) -> ChannelFeed:
    return get_object_or_404(
        ChannelFeed, id=feed_id, channel_id=channel_id, channel__workspace=request.workspace
    )


@workspace_view
@require_POST
def feed_remove(request: HttpRequest, channel_id: int, feed_id: int) -> HttpResponse:
    feeds.feed_remove(feed=_feed(request, channel_id, feed_id))
    messages.success(request, "Feed removed. The posts it added stay in the queue.")
    return redirect("channel_feeds", channel_id=channel_id)


@workspace_view
@require_POST
def feed_poll_now(request: HttpRequest, channel_id: int, feed_id: int) -> HttpResponse:
    feeds.feed_poll_later(feed=_feed(request, channel_id, feed_id))
    messages.info(request, "The feed will be read in a moment.")
    return redirect("channel_feeds", channel_id=channel_id)
