"""Post images, served only through signed URLs that expire (posts.signed_media); MEDIA_ROOT
is never served as a directory. Empty with SERVE_MEDIA=false, when a bucket serves them
(with its own signed URLs, e.g. django-storages' querystring_auth)."""

from django.conf import settings
from django.urls import path

from posts import label_views, media_views

urlpatterns = [
    path("labels/", label_views.label_list, name="label_list"),
    path("labels/<int:label_id>/", label_views.label_edit, name="label_edit"),
    path("labels/<int:label_id>/delete/", label_views.label_delete, name="label_delete"),
]

if settings.SERVE_MEDIA:
    urlpatterns.append(
        path(
            settings.MEDIA_URL.lstrip("/") + "<path:path>",
            media_views.media_file,
            name="media_file",
        )
    )
