"""Calendar feeds: the ICS a calendar app fetches with the feed's token (no sign-in), and the
page where a member makes, copies and revokes their feeds. Logic in scheduling/feeds.py."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.views import workspace_view
from channels.models import Channel
from ground.validation import error_messages
from scheduling import feeds
from scheduling.models import CalendarFeed


@require_GET
def calendar_feed(request: HttpRequest, token: str) -> HttpResponse:
    feed = feeds.feed_for_token(token)
    if feed is None:
        raise Http404("No such calendar feed.")
    body = feeds.feed_ics(feed=feed, base=request.build_absolute_uri("/").rstrip("/"))
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="queueloop.ics"'
    response["Cache-Control"] = f"private, max-age={int(feeds.REFRESH.total_seconds())}"
    # The URL is the secret: never sent on as a referrer, never indexed.
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex"
    return response


@workspace_view
def calendar_feeds(request: HttpRequest) -> HttpResponse:
    base = request.build_absolute_uri("/").rstrip("/")
    mine = feeds.feeds_of(workspace=request.workspace, user_id=request.user.id)
    return render(
        request,
        "scheduling/calendar_feeds.html",
        {
            "feeds": [(feed, feeds.feed_url(feed, base=base)) for feed in mine],
            "channels": Channel.objects.filter(workspace=request.workspace).order_by("name"),
        },
    )


@workspace_view
@require_POST
def calendar_feed_create(request: HttpRequest) -> HttpResponse:
    raw = request.POST.get("channel", "")
    if raw and not raw.isdigit():
        messages.error(request, "Choose a channel from the list.")
        return redirect("calendar_feeds")
    try:
        feeds.feed_create(
            workspace=request.workspace,
            membership=request.membership,
            channel_id=int(raw) if raw else None,
        )
    except ValidationError as exc:
        messages.error(request, " ".join(error_messages(exc)))
    except PermissionDenied as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Feed made: copy its address into your calendar app.")
    return redirect("calendar_feeds")


@workspace_view
@require_POST
def calendar_feed_revoke(request: HttpRequest, feed_id: int) -> HttpResponse:
    try:
        feeds.feed_revoke(
            workspace=request.workspace, membership=request.membership, feed_id=feed_id
        )
    except CalendarFeed.DoesNotExist:
        raise Http404("No such feed.") from None
    except PermissionDenied as exc:
        messages.error(request, str(exc))
        return redirect("calendar_feeds")
    messages.success(request, "Feed revoked: its address shows nothing any more.")
    return redirect("calendar_feeds")
