"""Reading Meta's error answers (the Graph API shape Threads shares with Instagram and
Facebook) into the contract's errors.

Meta answers an error as `{"error": {"message", "type", "code", "error_subcode",
"is_transient", "error_user_title", "error_user_msg", "fbtrace_id"}}`
(developers.facebook.com/docs/graph-api/guides/error-handling). The `code` decides:

- 190 (the access token expired or was revoked), 102, 10 and 200-299 (a permission the
  person did not grant) → AuthFailed: the account is reconnected, and Meta's message shown;
- 4, 17, 32, 613 (call-rate limits; the 250-posts cap refused at threads_publish) →
  RateLimited: nothing was posted;
- 24 with subcode 4279009 ("Media Not Found": a container Threads has not finished
  making) and 1, 2 or `is_transient` → Transient: nothing was posted, retried;
- anything else (100 invalid parameter, a refused image URL, a text too long...) →
  Rejected, with Meta's own message.

A 5xx without a readable error is Transient; whether it may have posted is the caller's
to say (`maybe_sent`): only threads_publish posts anything.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from networks.base import AuthFailed, ProviderError, RateLimited, Rejected, Transient

AUTH_CODES = frozenset({102, 190, 10})
RATE_CODES = frozenset({4, 17, 32, 613})
# Meta does not say when a call-rate window frees; try again after this.
RATE_LIMIT_WAIT = dt.timedelta(minutes=15)
MEDIA_NOT_FOUND = (24, 4279009)


def meta_error(body: object) -> dict:
    """The `error` object of an answer ({} when there is none)."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body["error"]
    return {}


def _said(error: dict, status: int) -> str:
    message = str(error.get("error_user_msg") or error.get("message") or f"HTTP {status}")
    code = error.get("code")
    detail = f"code {code}" if code is not None else f"HTTP {status}"
    if error.get("error_subcode"):
        detail += f", subcode {error['error_subcode']}"
    return f"{message.strip()[:400]} ({detail})"


def classify(status: int, body: object, *, what: str, maybe_sent: bool) -> ProviderError:
    """The contract's error for a Meta answer that is not a success. `maybe_sent`: whether a
    server error may have left `what` posted (only threads_publish posts anything)."""
    error = meta_error(body)
    code = error.get("code")
    subcode = error.get("error_subcode")
    said = _said(error, status)
    if code in AUTH_CODES or (isinstance(code, int) and 200 <= code <= 299):
        return AuthFailed(f"Threads refused the account's access ({said}): reconnect the account.")
    if code in RATE_CODES or status == 429:
        reset_at = timezone.now() + RATE_LIMIT_WAIT
        return RateLimited(
            f"Threads' rate limit ({said}); trying again at {reset_at:%Y-%m-%d %H:%M} UTC.",
            reset_at=reset_at,
        )
    if (code, subcode) == MEDIA_NOT_FOUND:
        return Transient(f"Threads has not finished preparing {what} ({said}); trying again.")
    if code in (1, 2) or error.get("is_transient") is True:
        return Transient(
            f"Threads had a temporary problem with {what} ({said}).", maybe_sent=maybe_sent
        )
    if status >= 500:
        return Transient(f"Threads answered {status} for {what} ({said}).", maybe_sent=maybe_sent)
    refused = Rejected(f"Threads refused {what}: {said}")
    # Kept for a caller that tells a missing object (100/33) from another refusal.
    refused.meta_code = (code, subcode)
    return refused
