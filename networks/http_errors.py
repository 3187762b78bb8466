"""Telling a requests connection error that failed before sending (nothing reached the
network: safe to retry) from one that broke mid-request (maybe posted). X and Mastodon
both talk through requests."""

from __future__ import annotations

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.exceptions import SSLError as Urllib3SSLError

from ground.http_transport.sdk import GuardedConnectionError


def connection_error_before_send(exc: requests.ConnectionError) -> bool:
    """True when the connection failed before the request could reach the network (DNS, refused,
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
