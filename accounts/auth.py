"""One login throttle for every way in: django-axes, keyed so nobody can lock out anybody else.

The web login, the admin login and the API's token endpoint all go through Django's
`authenticate()`, where axes' backend refuses a locked-out attempt before the password is
checked, and counts every failure (in the cache, so every web process shares the counters).
The client address is the one our trusted proxies saw (TRUSTED_PROXY_COUNT), never a header
the client can forge past them.

What is locked (README, "Login throttle"):
- a username *from one address* after LOGIN_FAILURE_LIMIT failures from that address (axes'
  combination lock). Locking the username from everywhere let anyone lock anyone out, a
  superuser too, renewable forever; now the owner still logs in from their own address;
- an address, for every username, after LOGIN_ADDRESS_FAILURE_LIMIT failures over any
  usernames (password spraying). axes has one failure limit for all its counters, so this
  second, higher limit is `LoginThrottleHandler`, a subclass of axes' cache handler
  (AXES_HANDLER) that keeps one more counter.

A locked person unlocks themselves with an emailed link (`unlock_link_*`): the token lives
in the cache only as its SHA-256, expires after LOGIN_UNLOCK_LINK_AGE, works once, and
resets that username's counters for the address that opens it (axes' `reset`).
"""

from __future__ import annotations

import hashlib
import secrets

from axes.backends import AxesStandaloneBackend
from axes.handlers.cache import AxesCacheHandler
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_client_username
from axes.signals import user_locked_out
from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse

User = get_user_model()


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


def lock_username(request, credentials=None) -> str | None:
    """The username as axes keys its counters (AXES_USERNAME_CALLABLE): ending in a NUL.

    axes joins the username and the address with nothing between them before hashing, so
    without an end mark "bob20" from 3.0.113.5 would share a counter with "bob" from
    203.0.113.5 and could lock that person out from their own address."""
    field = User.USERNAME_FIELD
    if credentials:
        name = credentials.get(field)
    else:
        name = getattr(request, "data", request.POST).get(field)
    return f"{name}\0" if name else name


def _digest(*parts: str) -> str:
    # A NUL between the parts: ("ab", "c") and ("a", "bc") are different keys.
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _cooloff_seconds() -> int:
    return int(settings.AXES_COOLOFF_TIME.total_seconds())


def _address_key(ip: str) -> str:
    return f"login-address-failures:{_digest(ip)}"


def _exempt_key(username: str, ip: str) -> str:
    return f"login-unlocked:{_digest(username, ip)}"


def _count(key: str, *, timeout: int) -> int:
    """Add one to a counter that lives `timeout` seconds after its last hit."""
    if cache.add(key, 1, timeout=timeout):
        return 1
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr: this hit starts a new count
        cache.add(key, 1, timeout=timeout)
        return 1
    cache.touch(key, timeout=timeout)
    return count


class LoginThrottleHandler(AxesCacheHandler):
    """axes' cache handler (the username-and-address lock) plus the per-address spray lock.

    The address counter is not reset by a successful login: a sprayer who owns one account
    must not be able to clear it between guesses."""

    def _address_locked(self, request, credentials) -> bool:
        ip = request.axes_ip_address or ""
        if cache.get(_address_key(ip), 0) < settings.LOGIN_ADDRESS_FAILURE_LIMIT:
            return False
        # An unlock link opened from this address lets its owner try their password here.
        username = get_client_username(request, credentials)
        return not (username and cache.get(_exempt_key(username, ip)))

    def is_locked(self, request, credentials=None) -> bool:
        return super().is_locked(request, credentials) or self._address_locked(request, credentials)

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs):
        super().user_login_failed(sender, credentials, request, **kwargs)
        if request is None or self.is_whitelisted(request, credentials):
            return
        _count(_address_key(request.axes_ip_address or ""), timeout=_cooloff_seconds())
        if not request.axes_locked_out and self._address_locked(request, credentials):
            request.axes_locked_out = True
            request.axes_credentials = credentials
            user_locked_out.send(
                "axes",
                request=request,
                username=get_client_username(request, credentials),
                ip_address=request.axes_ip_address,
            )

    def reset_attempts(self, *, ip_address=None, username=None, ip_or_username=False) -> int:
        count = super().reset_attempts(
            ip_address=ip_address, username=username, ip_or_username=ip_or_username
        )
        # `manage.py axes_reset_ip ADDRESS` also lifts that address's spray lock.
        if ip_address and username is None:
            count += int(cache.delete(_address_key(ip_address)))
        return count


def login_locked(request: HttpRequest, *, username: str) -> bool:
    """Whether a login for `username` from this request's address would be refused now."""
    return not AxesProxyHandler.is_allowed(request, {User.USERNAME_FIELD: username})


# --- Self-service unlock ----------------------------------------------------------------


def _unlock_key(token: str) -> str:
    return f"login-unlock-link:{_digest(token)}"


def unlock_link_create(*, user) -> str:
    """A new single-use unlock token for `user`; only its hash is stored."""
    token = secrets.token_urlsafe(32)
    cache.set(
        _unlock_key(token),
        {"user_id": user.pk},
        timeout=int(settings.LOGIN_UNLOCK_LINK_AGE.total_seconds()),
    )
    return token


def unlock_link_valid(*, token: str) -> bool:
    return bool(token) and cache.get(_unlock_key(token)) is not None


def unlock_link_use(*, token: str, ip: str):
    """Spend the token: reset its user's failures from `ip` (and let them past that address's
    spray lock for one lockout period). Returns the user, or None when the token is
    unknown, expired or already used."""
    key = _unlock_key(token)
    data = cache.get(key)
    # delete() is true for one caller only: two clicks at once cannot both unlock.
    if not data or not cache.delete(key):
        return None
    user = User.objects.filter(pk=data["user_id"], is_active=True).first()
    if user is None:
        return None
    username = lock_username(None, {User.USERNAME_FIELD: user.get_username()})
    axes_reset(ip=ip, username=username)
    cache.set(_exempt_key(username, ip), 1, timeout=_cooloff_seconds())
    return user


# --- Emails that one request may trigger (password reset, unlock) -----------------------


def account_email_allowed(*, user, kind: str) -> bool:
    """At most one `kind` email per account per ACCOUNT_EMAIL_INTERVAL: true for the first
    request of the interval, false (send nothing, answer the same) for the rest."""
    timeout = int(settings.ACCOUNT_EMAIL_INTERVAL.total_seconds())
    return cache.add(f"account-email:{kind}:{user.pk}", 1, timeout=timeout)


def address_email_requests_allowed(request: HttpRequest) -> bool:
    """Counts this address's reset/unlock requests; false beyond ACCOUNT_EMAIL_ADDRESS_LIMIT
    per lockout period. The IP whitelist (tests' 127.0.0.1) is never counted."""
    ip = client_ip(request)
    if ip in (settings.AXES_IP_WHITELIST or ()):
        return True
    key = f"account-email-requests:{_digest(ip)}"
    return _count(key, timeout=_cooloff_seconds()) <= settings.ACCOUNT_EMAIL_ADDRESS_LIMIT


def too_many_requests_message() -> str:
    minutes = max(1, _cooloff_seconds() // 60)
    return f"Too many requests from your address. Try again in {minutes} minutes."


# --- The locked-out answer -------------------------------------------------------------


def lockout_message() -> str:
    minutes = max(1, _cooloff_seconds() // 60)
    return f"Too many failed logins. Try again in {minutes} minutes."


def lockout_response(request: HttpRequest, original_response=None, credentials=None):
    """What a locked-out attempt gets (AXES_LOCKOUT_CALLABLE): 429 in the caller's format,
    with the way to unlock by email."""
    message = lockout_message()
    unlock = request.build_absolute_uri(reverse("login_unlock_request"))
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": f"{message} Unlock by email: {unlock}"}, status=429)
    if request.path.startswith("/admin/"):
        return HttpResponse(
            f"{message} Unlock by email: {unlock}",
            status=429,
            content_type="text/plain; charset=utf-8",
        )
    view = auth_views.LoginView()
    view.setup(request)
    form = view.get_form_class()(request, initial={"username": request.POST.get("username")})
    context = {
        "form": form,
        "throttled": message,
        "unlock_url": reverse("login_unlock_request"),
        "next": request.GET.get("next", ""),
    }
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
