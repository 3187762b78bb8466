"""Calling the Threads API (graph.threads.net) and its token endpoints.

Every call goes through the ground's guarded transport (ground.http_transport.sdk: a
requests session that connects only where the networks' policy allows and follows no
redirect). Graph calls go to `{THREADS_API_BASE}/<path>` (the version pinned in the
setting) with the user's token in an `Authorization: Bearer` header, never in the URL. The
token endpoints (`/oauth/access_token`, `/access_token`, `/refresh_access_token`) sit at
the same host's root and take the token or the app secret as query parameters, as Meta
documents them; urllib3 logs each request line at DEBUG, so those values are masked in its
log records (networks/pooled.py), and no exception's text (which repeats the URL) is shown.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings

from ground import address_policy as netpolicy
from ground.http_transport import sdk as netclients
from networks.base import Rejected, Transient
from networks.http_errors import connection_error_before_send
from networks.pooled import PooledSession, mask_urllib3_log
from networks.threads.errors import classify

# --- Logging: token endpoints carry secrets in the query -------------------------------

_SECRET_IN_QUERY = re.compile(r"((?:access_token|client_secret|code)=)[^&\s\"']+")


def mask(text: str) -> str:
    return _SECRET_IN_QUERY.sub(r"\1<hidden>", text)


# --- The session ----------------------------------------------------------------------

_pool = PooledSession(timeout=lambda: settings.THREADS_HTTP_TIMEOUT)
mask_urllib3_log(mask)


def session() -> requests.Session:
    return _pool.get()


def reset_session() -> None:
    _pool.reset()


def graph_url(path: str) -> str:
    return f"{settings.THREADS_API_BASE.rstrip('/')}/{path.lstrip('/')}"


def root_url(path: str) -> str:
    """A token endpoint: THREADS_API_BASE's scheme and host, without the version."""
    parts = urlsplit(settings.THREADS_API_BASE)
    return f"{parts.scheme}://{parts.netloc}/{path.lstrip('/')}"


# --- Calling ----------------------------------------------------------------------------


def transport_error(exc: requests.RequestException, *, what: str, maybe_sent: bool) -> Exception:
    """The contract's error for a call that got no answer (never the exception's text)."""
    refusal = netclients.refusal_of(exc)
    if isinstance(refusal, netpolicy.Unresolvable):
        return Transient(f"{refusal} Nothing was sent.")
    if refusal is not None:
        return Rejected(str(refusal))
    kind = exc.__class__.__name__
    if isinstance(exc, requests.ConnectionError) and connection_error_before_send(exc):
        return Transient(f"Could not connect to Threads ({kind}); nothing was sent.")
    if not maybe_sent:
        return Transient(f"Threads did not answer {what} ({kind}); nothing was posted.")
    return Transient(
        f"Threads did not answer {what} ({kind}): it may have been published; the next "
        "attempt asks Threads about the same container instead of publishing again.",
        maybe_sent=True,
    )


def _body(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def request(
    method: str,
    url: str,
    *,
    what: str,
    token: str = "",
    params: dict | None = None,
    data: dict | None = None,
    maybe_sent: bool = False,
) -> dict:
    """One call; its JSON object, or the contract's error. `maybe_sent`: the call posts
    something (threads_publish), so an answer lost may mean it went out."""
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        response = session().request(method, url, params=params, data=data, headers=headers)
    except requests.RequestException as exc:
        raise transport_error(exc, what=what, maybe_sent=maybe_sent) from None
    except netpolicy.BlockedDestination as exc:  # a redirect refused by the response hook
        raise Rejected(str(exc)) from None
    body = _body(response)
    if response.status_code == 200 and isinstance(body, dict) and "error" not in body:
        return body
    if response.status_code == 200:
        raise Transient(
            f"Threads accepted {what} but its answer could not be read.", maybe_sent=maybe_sent
        )
    raise classify(response.status_code, body, what=what, maybe_sent=maybe_sent)


def graph(
    method: str, path: str, *, token: str, what: str, maybe_sent: bool = False, **params: Any
) -> dict:
    """A Graph API call: GET with query parameters, POST with a form body."""
    values = {k: v for k, v in params.items() if v is not None}
    if method == "GET":
        return request("GET", graph_url(path), token=token, what=what, params=values)
    return request(
        "POST", graph_url(path), token=token, what=what, data=values, maybe_sent=maybe_sent
    )


# --- Tokens (developers.facebook.com/docs/threads/get-started) --------------------------


def exchange_code(*, code: str, redirect_uri: str) -> dict:
    """An authorization code → a short-lived token: {"access_token", "user_id"}."""
    return request(
        "POST",
        root_url("oauth/access_token"),
        what="the sign-in code",
        data={
            "client_id": settings.THREADS_APP_ID,
            "client_secret": settings.THREADS_APP_SECRET,
            "grant_type": "authorization_code",
            "redirect_uri": redirect_uri,
            "code": code,
        },
    )


def long_lived(short_token: str) -> dict:
    """A short-lived token (one hour) → a long-lived one (60 days):
    {"access_token", "token_type", "expires_in"}."""
    return request(
        "GET",
        root_url("access_token"),
        what="the long-lived token",
        params={
            "grant_type": "th_exchange_token",
            "client_secret": settings.THREADS_APP_SECRET,
            "access_token": short_token,
        },
    )


def refresh(token: str) -> dict:
    """A long-lived token at least 24 hours old and not expired → a new one valid 60 days
    from now: {"access_token", "token_type", "expires_in"}."""
    return request(
        "GET",
        root_url("refresh_access_token"),
        what="the token refresh",
        params={"grant_type": "th_refresh_token", "access_token": token},
    )
