"""X errors: reading X's messages and rate-limit headers. Telling a connection that failed
before sending from one that broke mid-request is shared with Mastodon (networks.http_errors)."""

from __future__ import annotations

import datetime as dt

import requests
import tweepy
from django.utils import timezone

from networks.http_errors import (  # noqa: F401 (the name X's adapter and tests use)
    connection_error_before_send as _connection_error_before_send,
)

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
