"""Calling the Telegram Bot API and classifying what went wrong.

Every call is `POST {TELEGRAM_API_BASE}/bot<token>/<method>` through the ground's guarded
transport (ground.http_transport.sdk: a requests session that connects only where the
networks' policy allows and follows no redirect). Telegram answers
`{"ok": true, "result": ...}`, or `{"ok": false, "error_code": N, "description": "...",
"parameters": {"retry_after": N, "migrate_to_chat_id": N}}` (core.telegram.org/bots/api,
"Making requests": error_code "is subject to change", so the HTTP status is read first).

The bot token is part of the URL path, so neither the URL nor a requests exception's text
(which repeats the URL) is ever put into a message, and urllib3's DEBUG line (the request
line, path included) has the token masked by a filter on its logger
(networks/pooled.py, `mask_urllib3_log`).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import requests
from django.conf import settings
from django.utils import timezone

from ground import address_policy as netpolicy
from ground.http_transport import sdk as netclients
from networks.base import AuthFailed, RateLimited, Rejected, Transient
from networks.http_errors import connection_error_before_send
from networks.pooled import PooledSession, mask_urllib3_log

# Seconds per call (connect and each read). A module constant rather than a setting: the
# Bot API answers within a second or two, and tests change it here.
HTTP_TIMEOUT = 20
# Telegram's flood control normally says how long to wait (retry_after); this is for a 429
# that does not.
DEFAULT_RATE_LIMIT_WAIT = dt.timedelta(seconds=30)

# --- Logging: the token travels in the URL path -----------------------------------------

_TOKEN_IN_PATH = re.compile(r"/bot[^/\s\"']+/")


def mask(text: str) -> str:
    """`/bot123:ABC/sendMessage` → `/bot<token>/sendMessage`."""
    return _TOKEN_IN_PATH.sub("/bot<token>/", text)


# --- The session ----------------------------------------------------------------------

_pool = PooledSession(timeout=lambda: HTTP_TIMEOUT)
mask_urllib3_log(mask)


def session() -> requests.Session:
    return _pool.get()


def reset_session() -> None:
    _pool.reset()


def method_url(token: str, method: str) -> str:
    return f"{settings.TELEGRAM_API_BASE.rstrip('/')}/bot{token}/{method}"


# --- Calling ----------------------------------------------------------------------------


def call(
    token: str,
    method: str,
    *,
    what: str,
    params: dict | None = None,
    files: dict | None = None,
) -> Any:
    """POST one Bot API method; returns its `result` or raises the contract's errors.
    With `files` the call is multipart/form-data (params as form fields, nested objects
    JSON-encoded by the caller), else a JSON body."""
    try:
        if files:
            response = session().post(method_url(token, method), data=params or {}, files=files)
        else:
            response = session().post(method_url(token, method), json=params or {})
    except requests.RequestException as exc:
        raise transport_error(exc, what=what) from None
    except netpolicy.BlockedDestination as exc:  # a redirect refused by the response hook
        raise Rejected(str(exc)) from None
    return result_of(response, what=what)


def transport_error(exc: requests.RequestException, *, what: str) -> Exception:
    """The contract's error for a call that got no answer. Never the exception's text: it
    names the URL, token included."""
    refusal = netclients.refusal_of(exc)
    if isinstance(refusal, netpolicy.Unresolvable):
        return Transient(f"{refusal} Nothing was sent.")
    if refusal is not None:
        return Rejected(str(refusal))
    kind = exc.__class__.__name__
    if isinstance(exc, requests.ConnectionError) and connection_error_before_send(exc):
        return Transient(f"Could not connect to Telegram ({kind}); nothing was sent.")
    if isinstance(exc, requests.Timeout):
        return Transient(
            f"Telegram did not answer within {HTTP_TIMEOUT} s: {what} may have gone out. "
            "Check the chat.",
            maybe_sent=True,
        )
    return Transient(
        f"The connection to Telegram broke mid-request ({kind}): {what} may have gone out. "
        "Check the chat.",
        maybe_sent=True,
    )


def _body(response: requests.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _retry_at(parameters: dict) -> dt.datetime:
    wait = parameters.get("retry_after")
    if isinstance(wait, int) and not isinstance(wait, bool) and wait >= 0:
        return timezone.now() + dt.timedelta(seconds=wait)
    return timezone.now() + DEFAULT_RATE_LIMIT_WAIT


def result_of(response: requests.Response, *, what: str) -> Any:
    """The `result` of a Bot API answer, or the contract's error for it."""
    body = _body(response)
    status = response.status_code
    if status == 200:
        if body.get("ok") is True and "result" in body:
            return body["result"]
        # Telegram accepted the call (200) but its answer cannot be read.
        raise Transient(
            f"Telegram accepted {what} but its answer could not be read.", maybe_sent=True
        )
    said = mask(str(body.get("description") or f"HTTP {status} {response.reason or ''}"))
    said = said.strip()[:500]
    parameters = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
    if status == 429:
        reset_at = _retry_at(parameters)
        raise RateLimited(
            f"Telegram's flood control ({said}); trying again at {reset_at:%Y-%m-%d %H:%M:%S} UTC.",
            reset_at=reset_at,
        )
    if status in (401, 404):
        # 401: a revoked or wrong token; 404: a token Telegram does not know at all.
        raise AuthFailed(
            f"Telegram refused the bot token ({status}: {said}): get the token from "
            "@BotFather again and reconnect the account."
        )
    if status == 403:
        raise AuthFailed(
            f"Telegram refused {what} (403: {said}): add the bot to the chat as an "
            "administrator that may post messages, then reconnect the account."
        )
    if parameters.get("migrate_to_chat_id"):
        raise AuthFailed(
            f"The group became a supergroup (its new id is {parameters['migrate_to_chat_id']}): "
            "reconnect the account with the new id."
        )
    if status == 504:
        # A gateway timeout: the Bot API server may have sent the message.
        raise Transient(
            f"Telegram timed out behind its gateway (504): {what} may have gone out. "
            "Check the chat.",
            maybe_sent=True,
        )
    if status >= 500:
        raise Transient(f"Telegram answered {status} (a server error): {what} did not go out.")
    raise Rejected(f"Telegram refused {what}: {said}")
