"""The short link's redirect: /l/<code> → the target stored with the code (302)."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.http import require_http_methods

from links.models import ShortLink
from links.services import click_record


@require_http_methods(["GET", "HEAD"])
def short_link(request: HttpRequest, code: str) -> HttpResponse:
    """Anyone may follow a link (no sign-in: the post's readers); the code finds exactly one
    stored target, whatever else the request says. The post may since be archived or the
    channel paused: a published link keeps working. HEAD (a checker) is not a click."""
    row = ShortLink.objects.filter(code=code).values_list("id", "target").first()
    if row is None:
        raise Http404("No such link.")
    link_id, target = row
    if request.method == "GET":
        click_record(
            link_id=link_id,
            referrer=request.headers.get("referer", ""),
            user_agent=request.headers.get("user-agent", ""),
        )
    response = HttpResponseRedirect(target)
    # Each click must reach us to be counted: no cache keeps the redirect.
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response
