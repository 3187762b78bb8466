"""MEDIA_URL: a post's image, only through a signed URL that has not expired
(posts.signed_media). Anything else is a 403 with the reason; no session is needed, so a
webhook receiver can fetch the URL it was sent."""

from __future__ import annotations

import mimetypes

from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from django.views.decorators.http import require_safe

from posts import signed_media

REFUSED = (
    "This image link is not valid or has expired. Reload the page that showed the image "
    "to get a new one."
)


@require_safe
def media_file(request: HttpRequest, path: str) -> HttpResponse:
    left = signed_media.seconds_left(
        path,
        request.GET.get(signed_media.EXPIRES_PARAM, ""),
        request.GET.get(signed_media.SIGNATURE_PARAM, ""),
    )
    if left is None:
        return HttpResponseForbidden(REFUSED, content_type="text/plain; charset=utf-8")
    try:
        handle = default_storage.open(path, "rb")
    except (OSError, SuspiciousFileOperation):
        raise Http404("No such image.") from None
    content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    response = FileResponse(handle, content_type=content_type)
    # Only the browser that was given the URL may keep the image, and not past the
    # URL's expiry; the image is inert (no script, no plugin) whatever a browser sniffs.
    response["Cache-Control"] = f"private, max-age={left}"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
