"""Who is acting, for the activity log (accounts.activity), set for the whole request.

Resolved only when a service records an entry, so it sees what the view saw: the person
signed in, or the API token's person (DRF puts its authenticated user and token on the
Django request too), and the source from how they came in: an API token → api, the admin
site → admin, any other page (and the API with a session) → web / api by URL.
"""

from __future__ import annotations

from accounts.activity import activity_context_lazy, activity_context_reset, display_name
from accounts.models import ActivitySource, ApiToken


def _resolver(request):
    def resolve():
        user = getattr(request, "user", None)
        signed_in = user is not None and user.is_authenticated
        match = getattr(request, "resolver_match", None)
        namespace = match.namespace if match is not None else ""
        if isinstance(getattr(request, "auth", None), ApiToken) or namespace == "api":
            source = ActivitySource.API
        elif namespace == "admin":
            source = ActivitySource.ADMIN
        else:
            source = ActivitySource.WEB
        return (user.pk if signed_in else None, display_name(user) if signed_in else "", source)

    return resolve


class ActivityActorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = activity_context_lazy(_resolver(request))
        try:
            return self.get_response(request)
        finally:
            activity_context_reset(token)
