"""Calling Meta's Graph API (Facebook Pages and Instagram) and classifying what went wrong.

Every call is `{META_GRAPH_BASE}/<path>` (a pinned version, such as
https://graph.facebook.com/v25.0, a setting so operators move it when Meta retires one)
through the ground's guarded transport (ground.http_transport.sdk: a requests session that
connects only where the networks' policy allows and follows no redirect). The token goes in
the `Authorization: Bearer` header, with its `appsecret_proof` (HMAC-SHA256 of the token
keyed by META_APP_SECRET) when an app secret is set, as Meta recommends for server calls.

Meta answers errors as `{"error": {"message", "type", "code", "error_subcode",
"fbtrace_id"}}` (developers.facebook.com/docs/graph-api/guides/error-handling):

- 190 (an expired or revoked token), 102 (a session) and 10 / 200-299 (a permission taken
  back) → AuthFailed with Meta's message: reconnecting is the fix;
- 4, 17, 32, 613, 80001-80014 (call-rate limits) and 9 (Instagram's posts per 24 hours)
  → RateLimited, at the time the X-Business-Use-Case-Usage header gives, else a default;
- a 5xx, `is_transient`, 1 or 2 (Meta's own trouble) → Transient (maybe_sent for a call
  that publishes: Meta may have acted);
- anything else (100 "invalid parameter", a refused image...) → Rejected with Meta's message.

Secrets never reach a log: urllib3's DEBUG request line has access_token, client_secret,
fb_exchange_token, input_token and code masked (the token exchange carries them in the
query, as Meta documents it), and no exception text (which repeats the URL) is shown.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re

import requests
from django.conf import settings
from django.utils import timezone

from ground import address_policy as netpolicy
from ground.http_transport import sdk as netclients
from networks.base import AuthFailed, RateLimited, Rejected, Transient
from networks.http_errors import connection_error_before_send
from networks.pooled import PooledSession, mask_urllib3_log

HTTP_TIMEOUT = 30
# When a rate limit names no time: Meta's call-rate windows are an hour at most.
DEFAULT_RATE_LIMIT_WAIT = dt.timedelta(minutes=15)
# Instagram's 24-hour post limit (code 9) eases as the oldest post leaves the window, at a
# time Meta does not say: read again soon (a delivery waits at most MISSED_AFTER).
POST_LIMIT_WAIT = dt.timedelta(minutes=5)

AUTH_CODES = frozenset({190, 102, 10})
RATE_LIMIT_CODES = frozenset({4, 9, 17, 32, 613, *range(80001, 80015)})
TRANSIENT_CODES = frozenset({1, 2})

# --- Logging: the exchange carries secrets in its query ---------------------------------

_SECRET_IN_QUERY = re.compile(
    r"((?:access_token|client_secret|fb_exchange_token|input_token|code|appsecret_proof)=)"
    r"[^&\s\"']+"
)


def mask(text: str) -> str:
    return _SECRET_IN_QUERY.sub(r"\1<secret>", text)


# --- The session ----------------------------------------------------------------------

_pool = PooledSession(timeout=lambda: HTTP_TIMEOUT)
mask_urllib3_log(mask)


def session() -> requests.Session:
    return _pool.get()


def reset_session() -> None:
    _pool.reset()


def url(path: str) -> str:
    return f"{settings.META_GRAPH_BASE.rstrip('/')}/{path.lstrip('/')}"


def appsecret_proof(token: str) -> str:
    return hmac.new(settings.META_APP_SECRET.encode(), token.encode(), hashlib.sha256).hexdigest()


# --- Calling ----------------------------------------------------------------------------


def call(
    method: str,
    path: str,
    *,
    token: str | None,
    what: str,
    params: dict | None = None,
    files: dict | None = None,
    publishes: bool = False,
    network: str = "Meta",
) -> dict:
    """One Graph call; its JSON answer, or the contract's errors. GET sends `params` in the
    query, POST as a form (with `files`, multipart). `publishes`: the call makes something
    people see (a post, a comment), so a lost answer may mean it went out."""
    headers = {}
    params = {k: v for k, v in (params or {}).items() if v is not None}
    if token:
        headers["Authorization"] = f"Bearer {token}"
        if settings.META_APP_SECRET:
            params["appsecret_proof"] = appsecret_proof(token)
    try:
        if method == "GET":
            response = session().get(url(path), params=params, headers=headers)
        else:
            response = session().post(url(path), data=params, files=files, headers=headers)
    except requests.RequestException as exc:
        raise transport_error(exc, what=what, publishes=publishes, network=network) from None
    except netpolicy.BlockedDestination as exc:  # a redirect refused by the response hook
        raise Rejected(str(exc)) from None
    return answer_of(response, what=what, publishes=publishes, network=network)


def transport_error(
    exc: requests.RequestException, *, what: str, publishes: bool, network: str
) -> Exception:
    """The contract's error for a call that got no answer (never the exception's text: it
    names the URL)."""
    refusal = netclients.refusal_of(exc)
    if isinstance(refusal, netpolicy.Unresolvable):
        return Transient(f"{refusal} Nothing was sent.")
    if refusal is not None:
        return Rejected(str(refusal))
    kind = exc.__class__.__name__
    if isinstance(exc, requests.ConnectionError) and connection_error_before_send(exc):
        return Transient(f"Could not connect to {network} ({kind}); nothing was sent.")
    if not publishes:
        return Transient(f"{network} did not answer {what} ({kind}); nothing was published.")
    return Transient(
        f"{network} did not answer {what} ({kind}): it may have gone out. Check the account.",
        maybe_sent=True,
    )


def _body(response: requests.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _regain_at(response: requests.Response, default: dt.timedelta) -> dt.datetime:
    """When Meta says the limit eases: the largest estimated_time_to_regain_access (minutes)
    in X-Business-Use-Case-Usage, else `default` from now."""
    minutes = 0
    try:
        usage = json.loads(response.headers.get("X-Business-Use-Case-Usage") or "{}")
        for entries in usage.values() if isinstance(usage, dict) else ():
            for entry in entries if isinstance(entries, list) else ():
                wait = (
                    entry.get("estimated_time_to_regain_access") if isinstance(entry, dict) else 0
                )
                if isinstance(wait, int) and not isinstance(wait, bool):
                    minutes = max(minutes, wait)
    except ValueError:
        minutes = 0
    wait = dt.timedelta(minutes=minutes) if minutes > 0 else default
    return timezone.now() + wait


def answer_of(response: requests.Response, *, what: str, publishes: bool, network: str) -> dict:
    body = _body(response)
    status = response.status_code
    error = body.get("error")
    if status == 200 and not isinstance(error, dict):
        if not body:
            raise Transient(
                f"{network} accepted {what} but its answer could not be read.",
                maybe_sent=publishes,
            )
        return body
    error = error if isinstance(error, dict) else {}
    code = error.get("code")
    code = code if isinstance(code, int) and not isinstance(code, bool) else 0
    subcode = error.get("error_subcode")
    said = mask(str(error.get("error_user_msg") or error.get("message") or "")).strip()[:500]
    said = said or f"HTTP {status} {response.reason or ''}".strip()
    shown = f"{said} (code {code}{f'/{subcode}' if subcode else ''})" if code else said
    if code == 190 or code in AUTH_CODES or 200 <= code <= 299 or status == 401:
        raise AuthFailed(f"{network} refused the account's token: {shown}. Reconnect the account.")
    if code in RATE_LIMIT_CODES or status == 429:
        reset_at = _regain_at(response, POST_LIMIT_WAIT if code == 9 else DEFAULT_RATE_LIMIT_WAIT)
        raise RateLimited(
            f"{network}'s rate limit ({shown}); trying again at {reset_at:%Y-%m-%d %H:%M} UTC.",
            reset_at=reset_at,
        )
    if status >= 500 or error.get("is_transient") is True or code in TRANSIENT_CODES:
        if publishes:
            raise Transient(
                f"{network} had trouble with {what} ({status}: {shown}): it may have gone out. "
                "Check the account.",
                maybe_sent=True,
            )
        raise Transient(f"{network} had trouble with {what} ({status}: {shown}); nothing went out.")
    raise Rejected(f"{network} refused {what}: {shown}")
