"""Post images, served only through signed URLs that expire (posts.signed_media); MEDIA_ROOT
is never served as a directory. Empty with SERVE_MEDIA=false, when a bucket serves them
(with its own signed URLs, e.g. django-storages' querystring_auth)."""

from django.conf import settings
from django.urls import path

from posts import media_views

urlpatterns = []

if settings.SERVE_MEDIA:
    urlpatterns.append(
        path(
            settings.MEDIA_URL.lstrip("/") + "<path:path>",
            media_views.media_file,
            name="media_file",
        )
    )
