"""One login throttle for every way in: django-axes.

The web login, the admin login and the API's token endpoint all go through Django's
`authenticate()`, where axes' backend refuses a locked-out username or client address
before the password is checked, and counts every failure (in the cache, so every web
process shares the counters). The client address is the one our trusted proxies saw
(TRUSTED_PROXY_COUNT), never a header the client can forge past them.
"""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render


def client_ip(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or with N trusted proxies in front, the N-th
    address from the right of X-Forwarded-For (the one the outermost trusted proxy saw;
    anything left of it was written by the client). DRF's NUM_PROXIES reads it the same
    way, so the login lock and the API throttle agree on who the client is."""
    proxies = settings.TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies and forwarded:
        addresses = [a.strip() for a in forwarded.split(",") if a.strip()]
        if addresses:
            return addresses[-min(proxies, len(addresses))]
    return request.META.get("REMOTE_ADDR", "")


def lockout_message() -> str:
    minutes = max(1, int(settings.AXES_COOLOFF_TIME.total_seconds() // 60))
    return f"Too many failed logins. Try again in {minutes} minutes."


def lockout_response(request: HttpRequest, original_response=None, credentials=None):
    """What a locked-out attempt gets (AXES_LOCKOUT_CALLABLE): 429 in the caller's format."""
    message = lockout_message()
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message}, status=429)
    if request.path.startswith("/admin/"):
        return HttpResponse(message, status=429, content_type="text/plain; charset=utf-8")
    view = auth_views.LoginView()
    view.setup(request)
    form = view.get_form_class()(request, initial={"username": request.POST.get("username")})
    context = {"form": form, "throttled": message, "next": request.GET.get("next", "")}
    return render(request, "registration/login.html", context, status=429)


class ThrottleBackend(AxesStandaloneBackend):
    """axes' check, for logins that come with a request (every HTTP way in passes one).

    A call without one is code, not a visitor (the test client's login(), a shell):
    nothing to throttle, so it falls through to the password backend instead of failing."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


class LoginView(auth_views.LoginView):
    redirect_authenticated_user = True
