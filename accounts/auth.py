"""Login with throttling: repeated failures lock a username (and an address) out for a while.

Counters live in the cache (Redis in production, so every gunicorn worker shares them) and
expire on their own. A throttled attempt is refused before the password is even checked,
so guessing cannot continue at full speed from one address or against one account.
"""

from __future__ import annotations

import hashlib

from django.contrib.auth import views as auth_views
from django.core.cache import cache

MAX_FAILURES_PER_USERNAME = 5
MAX_FAILURES_PER_ADDRESS = 20
WINDOW_SECONDS = 15 * 60


def _key(kind: str, value: str) -> str:
    digest = hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]
    return f"login-failures:{kind}:{digest}"


def _keys(request) -> list[tuple[str, int]]:
    username = request.POST.get("username", "")
    address = request.META.get("REMOTE_ADDR", "")
    return [
        (_key("user", username), MAX_FAILURES_PER_USERNAME),
        (_key("addr", address), MAX_FAILURES_PER_ADDRESS),
    ]


def is_throttled(request) -> bool:
    return any((cache.get(key) or 0) >= limit for key, limit in _keys(request))


def record_failure(request) -> None:
    for key, _limit in _keys(request):
        if not cache.add(key, 1, WINDOW_SECONDS):
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.add(key, 1, WINDOW_SECONDS)


class ThrottledLoginView(auth_views.LoginView):
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        if is_throttled(request):
            # An unbound form: binding it would authenticate, i.e. check the password.
            form = self.get_form_class()(
                request, initial={"username": request.POST.get("username")}
            )
            message = f"Too many failed logins. Try again in {WINDOW_SECONDS // 60} minutes."
            context = self.get_context_data(form=form, throttled=message)
            return self.render_to_response(context, status=429)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        record_failure(self.request)
        return super().form_invalid(form)
