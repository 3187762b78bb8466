"""What a Facebook or Instagram account's check does with its tokens.

A Page token asked for with a long-lived user token does not expire, but it dies with the
user's password change, their leaving the Page, or the app's permissions taken back; the
long-lived user token we keep to get it again lives about 60 days. `check_tokens` asks
`GET /debug_token` (when the app is configured): a token Meta calls invalid → AuthFailed
with Meta's reason; a user token within REFRESH_BEFORE of its expiry is exchanged for a new
long-lived one and the Page token read again, both stored (encrypted) on the account.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from networks.base import AuthFailed
from networks.meta import connect


def page_token(account, *, label: str) -> str:
    token = (account.credentials or {}).get("page_token", "")
    if not token:
        raise AuthFailed(f"No Page token is stored for this {label} account: connect it.")
    return token


def check_tokens(account, *, page_id: str, label: str) -> str:
    """A sentence about the tokens ("" when nothing is known); refreshes them when due."""
    credentials = dict(account.credentials or {})
    status = connect.token_status(page_token(account, label=label))
    if not status:
        return ""
    if status.get("is_valid") is False:
        reason = (status.get("error") or {}).get("message") or "Meta says the token is invalid"
        raise AuthFailed(f"{label} refused the Page token: {reason}. Reconnect the account.")
    now = timezone.now()
    expires_at = credentials.get("user_token_expires_at") or 0
    if connect.expires_soon(int(expires_at), now=now):
        credentials = connect.refresh(credentials, page_id=page_id)
        account.credentials = credentials
        account.save(update_fields=["credentials"])
        expires_at = credentials.get("user_token_expires_at") or 0
        return f"Tokens refreshed; the next refresh is due before {_day(expires_at)}."
    if expires_at:
        return f"Tokens valid; refreshed before {_day(expires_at)}."
    return "Tokens valid."


def _day(timestamp: int) -> str:
    return f"{dt.datetime.fromtimestamp(int(timestamp), dt.UTC):%Y-%m-%d}"
