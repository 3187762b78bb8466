"""Input no view can store: refused at the door with a 400 instead of a 500 inside.

PostgreSQL text cannot hold NUL ("\\x00"): a query parameter or form field carrying one
reached a filter or a save and failed there (issue 10, finding 6).
"""

from __future__ import annotations

from django.http import HttpResponseBadRequest, JsonResponse

NUL_MESSAGE = "The request contains a NUL character, which no field accepts."


def _has_nul(querydict) -> bool:
    return any(
        "\x00" in key or any("\x00" in v for v in values) for key, values in querydict.lists()
    )


class RejectNulMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        form_body = request.content_type in {
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        }
        if (
            "\x00" in request.path
            or _has_nul(request.GET)
            or (form_body and _has_nul(request.POST))
        ):
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": NUL_MESSAGE}, status=400)
            return HttpResponseBadRequest(NUL_MESSAGE)
        return self.get_response(request)
