"""X errors: reading X's messages and rate-limit headers, and telling a connection that
failed before sending from one that broke mid-request (Mastodon uses that one too)."""

from __future__ import annotations

import datetime as dt

import requests
import tweepy
from django.utils import timezone
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.exceptions import SSLError as Urllib3SSLError

from ground.http_transport.sdk import GuardedConnectionError

# X's rate-limit windows are 15 minutes; used when a 429 carries no reset header.
DEFAULT_RATE_LIMIT_WAIT = dt.timedelta(minutes=15)


def _x_message(exc: tweepy.HTTPException) -> str:
    messages = [m for m in exc.api_messages if isinstance(m, str) and m]
    if not messages:
        try:
            body = exc.response.json()
        except ValueError:
            body = {}
        if isinstance(body, dict):
            messages = [str(body.get(k)) for k in ("detail", "title") if body.get(k)]
    if not messages:
        messages = [f"HTTP {exc.response.status_code} {exc.response.reason or ''}".strip()]
    return " ".join(messages)[:500]


def _epoch_header(headers, name: str) -> dt.datetime | None:
    value = headers.get(name, "")
    try:
        return dt.datetime.fromtimestamp(int(value), tz=dt.UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _rate_limit_reset(response: requests.Response) -> dt.datetime:
    """When to try again: the latest reset among exhausted limits (the 15-minute endpoint
    window, or X's 24-hour per-user / per-app posting caps)."""
    headers = response.headers
    resets = []
    for prefix in ("x-rate-limit", "x-user-limit-24hour", "x-app-limit-24hour"):
        reset = _epoch_header(headers, f"{prefix}-reset")
        remaining = headers.get(f"{prefix}-remaining")
        if reset is not None and (prefix == "x-rate-limit" or remaining == "0"):
            resets.append(reset)
    if resets:
        return max(resets)
    return timezone.now() + DEFAULT_RATE_LIMIT_WAIT


def _connection_error_before_send(exc: requests.ConnectionError) -> bool:
    """True when the connection failed before the request could reach X (DNS, refused,
    connect timeout, TLS handshake); False when it broke mid-request (maybe posted)."""
    # GuardedConnectionError: our transport refused the address before any connection.
    if isinstance(exc, requests.ConnectTimeout | requests.exceptions.SSLError):
        return True
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(
            current,
            GuardedConnectionError | NewConnectionError | ConnectTimeoutError | Urllib3SSLError,
        ):
            return True
        pending.extend(a for a in getattr(current, "args", ()) if isinstance(a, BaseException))
        pending.append(getattr(current, "reason", None))
        pending.append(current.__cause__)
        pending.append(current.__context__)
    return False
