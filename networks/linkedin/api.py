"""Calling LinkedIn's REST API and classifying what went wrong.

Every call goes through one pooled session from the ground's guarded transport
(ground.http_transport.sdk: it connects only where the networks' policy allows and follows no
redirect). A /rest call carries the pinned `LinkedIn-Version` header (settings.LINKEDIN_VERSION,
YYYYMM: LinkedIn answers 426 for a version it retired, so operators move it forward) and
`X-Restli-Protocol-Version: 2.0.0`; the access token travels in the Authorization header, so
it is never in a URL, an exception's text or urllib3's request line.

LinkedIn's errors are JSON: `{"status": 422, "code": "...", "message": "...",
"errorDetails": {"inputErrors": [{"description": "..."}]}}` or, from older services,
`{"serviceErrorCode": 65600, "message": "Invalid access token", "status": 401}`.
How each is classified (networks/contract.py's errors):

- 401: the access token is bad (expired, revoked): `Unauthorized`, which the caller turns
  into a refresh and one retry, then AuthFailed with LinkedIn's own message.
- 403: the member lacks a permission (a scope not granted, no longer a page's admin):
  AuthFailed, reconnecting asks for it again.
- 429: LinkedIn's daily quotas (application and member, per endpoint) reset at midnight
  UTC and it sends no reset header; a 429 may also be its burst protection, which clears
  by itself. So: try again after RATE_LIMIT_WAIT, or just after midnight UTC when sooner.
- 400, 422 and any other 4xx: Rejected, with LinkedIn's message.
- 5xx: Transient. A call that makes something (a post, a comment) may have made it when
  LinkedIn answers 500 or 504 (the backend failed or timed out after the gateway passed
  the request on): maybe_sent. 502 and 503 come from the gateway itself: nothing was made.
- no answer: a connection that failed before sending sent nothing; a timeout or a
  connection broken mid-request may have made it (maybe_sent).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import requests
from django.conf import settings
from django.utils import timezone

from ground import address_policy as netpolicy
from ground.http_transport import sdk as netclients
from networks.base import AuthFailed, RateLimited, Rejected, Transient
from networks.http_errors import connection_error_before_send
from networks.pooled import PooledSession

RESTLI_PROTOCOL = "2.0.0"
# LinkedIn sends no reset time with a 429 (see the module docstring).
RATE_LIMIT_WAIT = dt.timedelta(minutes=15)


class Unauthorized(Exception):
    """LinkedIn answered 401; the caller decides whether a refresh may help."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# --- The session ----------------------------------------------------------------------

_pool = PooledSession(timeout=lambda: settings.LINKEDIN_HTTP_TIMEOUT)


def session() -> requests.Session:
    return _pool.get()


def reset_session() -> None:
    _pool.reset()


def rest_url(path: str) -> str:
    return f"{settings.LINKEDIN_API_BASE.rstrip('/')}/rest/{path.lstrip('/')}"


def v2_url(path: str) -> str:
    return f"{settings.LINKEDIN_API_BASE.rstrip('/')}/v2/{path.lstrip('/')}"


def rest_headers(token: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "LinkedIn-Version": settings.LINKEDIN_VERSION,
        "X-Restli-Protocol-Version": RESTLI_PROTOCOL,
    }


# --- Calling ----------------------------------------------------------------------------


def call(
    method: str,
    url: str,
    *,
    token: str,
    what: str,
    makes: bool = False,
    rest: bool = True,
    json: Any = None,
    params: dict | None = None,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    """One call; the 2xx response, or the contract's error (Unauthorized for a 401).
    `makes`: the call makes something people see (a post, a comment), so an answer lost
    after it was sent may mean it was made."""
    # An empty token: a call that carries none (an upload URL off LinkedIn's hosts).
    sent_headers = rest_headers(token) if rest else {}
    if not rest and token:
        sent_headers["Authorization"] = f"Bearer {token}"
    sent_headers.update(headers or {})
    try:
        response = session().request(
            method, url, json=json, params=params, data=data, headers=sent_headers
        )
    except requests.RequestException as exc:
        raise transport_error(exc, what=what, makes=makes) from None
    except netpolicy.BlockedDestination as exc:  # a redirect refused by the response hook
        raise Rejected(str(exc)) from None
    if 200 <= response.status_code < 300:
        return response
    raise error_for(response, what=what, makes=makes)


def transport_error(exc: requests.RequestException, *, what: str, makes: bool) -> Exception:
    """The contract's error for a call that got no answer."""
    refusal = netclients.refusal_of(exc)
    if isinstance(refusal, netpolicy.Unresolvable):
        return Transient(f"{refusal} Nothing was sent.")
    if refusal is not None:
        return Rejected(str(refusal))
    kind = exc.__class__.__name__
    if isinstance(exc, requests.ConnectionError) and connection_error_before_send(exc):
        return Transient(f"Could not connect to LinkedIn ({kind}); nothing was sent.")
    check = " Check the account on LinkedIn." if makes else ""
    if isinstance(exc, requests.Timeout):
        return Transient(
            f"LinkedIn did not answer within {settings.LINKEDIN_HTTP_TIMEOUT} s: {what} may "
            f"have been made.{check}",
            maybe_sent=makes,
        )
    return Transient(
        f"The connection to LinkedIn broke mid-request ({kind}): {what} may have been made.{check}",
        maybe_sent=makes,
    )


def message_of(response: requests.Response) -> str:
    """What LinkedIn said: its `message`, and the first input error's description."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    said: list[str] = []
    if isinstance(body, dict):
        for key in ("message", "error_description", "error"):
            if isinstance(body.get(key), str) and body[key]:
                said.append(body[key])
                break
        details = body.get("errorDetails")
        inputs = details.get("inputErrors") if isinstance(details, dict) else None
        if isinstance(inputs, list) and inputs and isinstance(inputs[0], dict):
            description = inputs[0].get("description")
            if isinstance(description, str) and description and description not in said:
                said.append(description)
    if not said:
        said.append(f"HTTP {response.status_code} {response.reason or ''}".strip())
    return " ".join(said)[:500]


def rate_limit_reset(now: dt.datetime) -> dt.datetime:
    """When to try again after a 429: RATE_LIMIT_WAIT, or a minute after midnight UTC (when
    the daily quotas reset) if that comes first."""
    midnight = (now.astimezone(dt.UTC) + dt.timedelta(days=1)).replace(
        hour=0, minute=1, second=0, microsecond=0
    )
    return min(now + RATE_LIMIT_WAIT, midnight)


def error_for(response: requests.Response, *, what: str, makes: bool) -> Exception:
    status = response.status_code
    said = message_of(response)
    if status == 401:
        return Unauthorized(said)
    if status == 403:
        refused = AuthFailed(
            f"LinkedIn refused {what} (403: {said}): the account lacks a permission (or is no "
            "longer the page's administrator). Reconnect it and allow what LinkedIn asks."
        )
        refused.status = 403  # a missing permission, not a bad token (metrics.py tells them)
        return refused
    if status == 429:
        reset_at = rate_limit_reset(timezone.now())
        return RateLimited(
            f"LinkedIn's rate limit (429: {said}); trying again at "
            f"{reset_at:%Y-%m-%d %H:%M:%S} UTC.",
            reset_at=reset_at,
        )
    if status == 426:
        return Rejected(
            f"LinkedIn no longer serves API version {settings.LINKEDIN_VERSION} (426: {said}): "
            "the operator must move LINKEDIN_VERSION to a version LinkedIn supports."
        )
    if status in (500, 504) and makes:
        return Transient(
            f"LinkedIn answered {status} (a server error): {what} may have been made. "
            "Check the account on LinkedIn.",
            maybe_sent=True,
        )
    if status >= 500:
        return Transient(f"LinkedIn answered {status} (a server error): {what} was not made.")
    return Rejected(f"LinkedIn refused {what} ({status}): {said}")


def id_of(response: requests.Response) -> str:
    """The created entity's id: the `x-restli-id` header (LinkedIn's answer to a create),
    else the `id` of its JSON body."""
    header = response.headers.get("x-restli-id", "")
    if header:
        return header
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("id") or "") if isinstance(body, dict) else ""


def as_auth_failed(exc: Unauthorized, *, refreshed: bool) -> AuthFailed:
    """A 401 that refreshing cannot cure."""
    after = " even after refreshing it" if refreshed else ""
    return AuthFailed(
        f"LinkedIn refused the access token{after} (401: {exc.message}): reconnect the account."
    )
