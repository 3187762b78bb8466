"""The project's URLs: each app's own urls, included without a namespace (the names are the
ones templates and reverse() use), the API under api/v1/ and the admin.

The networks' connect flows (accounts.network_views, accounts.x_urls) are wired here until
the networks app takes them (issue 25, part 1). /healthz and /metrics are not routes: ops'
middleware answers them before host validation (ops/middleware.py)."""

from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path
from django.views import defaults

from accounts import network_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("queueloop.api_urls")),
    path("connect/x/", include("accounts.x_urls")),
    path("connect/mastodon/", network_views.mastodon_connect, name="mastodon_connect"),
    path(
        "connect/mastodon/callback/",
        network_views.mastodon_connect_callback,
        name="mastodon_connect_callback",
    ),
    path("connect/bluesky/", network_views.bluesky_connect, name="bluesky_connect"),
    path("", include("bulk.urls")),  # import, export, feeds
    path("", include("accounts.urls")),
    path("", include("publishing.urls")),
    path("", include("scheduling.urls")),  # the dashboard and the calendar
    path("", include("channels.urls")),
    path("", include("editor.urls")),  # the post editor: posts and their images
    path("", include("posts.urls")),  # post images by signed URL
]


def not_found(request, exception):
    """An API client gets JSON even for a path no route matches (the schema's 404)."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Server error."}, status=500)
    return defaults.server_error(request)


handler404 = not_found
handler500 = server_error
