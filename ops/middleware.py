"""Serves /healthz and /metrics before any other middleware.

Container healthchecks and Prometheus call these by an internal name over plain HTTP
(http://127.0.0.1:8000/healthz, http://web:8000/metrics): host validation (ALLOWED_HOSTS)
would refuse that Host header with a 400 and SECURE_SSL_REDIRECT would answer with a
redirect to https. Neither protects anything here: /healthz shows no data, and /metrics has
its own token or address check.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from ops.health_views import healthz
from ops.metrics_views import metrics

ROUTES: dict[str, Callable[[HttpRequest], HttpResponse]] = {
    "/healthz": healthz,
    "/healthz/": healthz,
    "/metrics": metrics,
    "/metrics/": metrics,
}


class OpsEndpointsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        view = ROUTES.get(request.path_info)
        if view is not None:
            if request.method not in ("GET", "HEAD"):
                return HttpResponse(status=405, headers={"Allow": "GET, HEAD"})
            return view(request)
        return self.get_response(request)
