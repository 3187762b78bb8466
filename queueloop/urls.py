"""The project's URLs: each app's own urls, included without a namespace (the names are the
ones templates and reverse() use), the API under api/v1/ and the admin.

The networks' connect flows come from networks/urls.py, one per registered network. /healthz
and /metrics are not routes: ops' middleware answers them before host validation
(ops/middleware.py)."""

from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path
from django.views import defaults

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("queueloop.api_urls")),
    # Every network's connect flow under /connect/<name>/ (networks/registry.py).
    path("", include("networks.urls")),
    path("", include("bulk.urls")),  # import, export, feeds
    path("", include("integrations.urls")),  # webhook endpoints for outbound events
    path("", include("accounts.urls")),
    path("", include("accounts.activity_urls")),  # the activity log's pages
    path("", include("publishing.urls")),
    path("", include("scheduling.urls")),  # the dashboard and the calendar
    path("", include("channels.urls")),
    path("", include("results.urls")),  # a post's results page
    path("", include("editor.urls")),  # the post editor: posts and their images
    path("", include("posts.urls")),  # post images by signed URL
    path("", include("links.urls")),  # short links that count clicks: /l/<code>
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
