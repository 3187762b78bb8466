"""A Threads account's long-lived token: stored, and refreshed before its 60 days run out.

The account's `credentials` (encrypted at rest) hold `{"access_token", "expires_at",
"issued_at"}` (epoch seconds). Meta refreshes a long-lived token that is at least 24 hours
old and not yet expired (GET /refresh_access_token, grant_type th_refresh_token), for 60 days
from then; a token left to expire cannot be refreshed and the account must be reconnected.
So every call first asks `fresh_token(account)`, which refreshes when fewer than
REFRESH_MARGIN days are left (publishing and `manage.py check_accounts` both call it, so an
account checked daily never comes near the end).
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.utils import timezone

from networks.base import AuthFailed, ProviderError
from networks.threads import api

log = logging.getLogger(__name__)

REFRESH_MARGIN = dt.timedelta(days=7)
MIN_AGE = dt.timedelta(hours=24)


def credentials_from(payload: dict) -> dict:
    """The stored credentials for a token answer ({"access_token", "expires_in"})."""
    now = int(timezone.now().timestamp())
    credentials = {"access_token": str(payload["access_token"]), "issued_at": now}
    expires_in = payload.get("expires_in")
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
        credentials["expires_at"] = now + int(expires_in)
    return credentials


def _due(credentials: dict, now: float) -> bool:
    expires_at = credentials.get("expires_at")
    issued_at = credentials.get("issued_at") or 0
    if not isinstance(expires_at, int | float):
        return False  # unknown: a 190 from Meta will say so
    near_end = expires_at - now < REFRESH_MARGIN.total_seconds()
    old_enough = now - issued_at >= MIN_AGE.total_seconds()
    return near_end and old_enough


def fresh_token(account) -> str:
    """The account's token, refreshed first when it is near its end."""
    credentials = account.credentials or {}
    token = credentials.get("access_token")
    if not token:
        raise AuthFailed("No Threads token is stored for this account: connect it.")
    now = timezone.now().timestamp()
    expires_at = credentials.get("expires_at")
    if isinstance(expires_at, int | float) and expires_at <= now:
        raise AuthFailed(
            "The Threads token expired (Meta's tokens last 60 days unless refreshed): "
            "reconnect the account."
        )
    if _due(credentials, now):
        return refresh_token(account, used=token)
    return token


def refresh_token(account, *, used: str) -> str:
    """Refresh under a row lock, so two workers do not both refresh; one that finds a newer
    token stored (another worker refreshed while it waited) uses that one. A refresh that
    fails for a passing reason keeps the current token, still valid for days."""
    from accounts.models import SocialAccount

    with transaction.atomic():
        stored = SocialAccount.objects.select_for_update().only("id", "credentials")
        credentials = stored.get(id=account.id).credentials or {}
        if credentials.get("access_token") != used:
            account.credentials = credentials
            return credentials.get("access_token", used)
        try:
            payload = api.refresh(used)
        except AuthFailed as exc:
            raise AuthFailed(
                f"Threads refused to refresh the token ({exc.message}): reconnect the account."
            ) from None
        except ProviderError as exc:
            log.warning("Refreshing the Threads token of account %s failed for now.", account.id)
            account.credentials = credentials
            log.debug("The refresh failed with: %s", exc.message)
            return used
        if not payload.get("access_token"):
            log.warning("Threads' token refresh for account %s held no token.", account.id)
            return used
        new = credentials_from(payload)
        SocialAccount.objects.filter(id=account.id).update(credentials=new)
    account.credentials = new
    log.info("Refreshed the Threads token of account %s.", account.id)
    return new["access_token"]
