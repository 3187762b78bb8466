"""LinkedIn's OAuth 2.0 tokens: the token endpoint, the stored credentials, and refreshing.

A LinkedIn account's `credentials` (encrypted JSON)::

    {"access_token", "expires_at" (epoch seconds), "refresh_token" ("" when LinkedIn grants
     none), "refresh_token_expires_at", "scope"}

Access tokens live 60 days, refresh tokens 365 (LinkedIn grants refresh tokens to the apps
it approved for them; without one, the account is reconnected before the access token
expires). The access token is refreshed when it expires within REFRESH_MARGIN — a week,
so the daily `check_accounts` refreshes it well before any delivery needs it — and once
more when LinkedIn answers 401. Refreshing keeps the refresh token's own expiry (LinkedIn
does not extend it) and does not revoke the old access token; it is still done under a
row lock on the account, as X's is, so two workers never both spend one request and the
last writer never stores an older pair. The member's account and each page connected with
the same sign-in hold their own copy and refresh it on their own.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ground.address_policy import BlockedDestination
from networks.base import AuthFailed, Rejected, Transient
from networks.linkedin import api

log = logging.getLogger(__name__)

REFRESH_MARGIN = dt.timedelta(days=7)


class TokenRequestFailed(Exception):
    """LinkedIn's token endpoint refused the request (a bad code, an expired refresh token)."""

    def __init__(self, *, status: int, detail: str = ""):
        self.status = status
        self.detail = detail[:200]
        self.reason = f"{status}: {self.detail}" if self.detail else str(status)
        self.message = f"LinkedIn refused the token request ({self.reason})."
        super().__init__(self.message)


def token_url() -> str:
    return settings.LINKEDIN_AUTH_BASE.rstrip("/") + "/oauth/v2/accessToken"


def token_request(data: dict[str, str]) -> dict[str, Any]:
    """POST to LinkedIn's token endpoint (the client's id and secret in the form, as LinkedIn
    takes them). Raises Transient when LinkedIn cannot be reached or fails, TokenRequestFailed
    when it refuses. Never logs the request or the answer: both hold secrets."""
    if not settings.LINKEDIN_CLIENT_ID or not settings.LINKEDIN_CLIENT_SECRET:
        raise Rejected(
            "LINKEDIN_CLIENT_ID and LINKEDIN_CLIENT_SECRET are not configured, so LinkedIn "
            "tokens cannot be obtained."
        )
    form = {
        **data,
        "client_id": settings.LINKEDIN_CLIENT_ID,
        "client_secret": settings.LINKEDIN_CLIENT_SECRET,
    }
    try:
        response = api.session().post(
            token_url(), data=form, headers={"Accept": "application/json"}
        )
    except requests.RequestException as exc:
        # A token request makes nothing anyone sees: retrying it is safe.
        raise api.transport_error(exc, what="the token request", makes=False) from None
    except BlockedDestination as exc:  # a redirect refused by the response hook
        raise Rejected(str(exc)) from None
    if response.status_code == 429 or response.status_code >= 500:
        raise Transient(
            f"LinkedIn's token endpoint answered {response.status_code}; try again later."
        )
    try:
        payload = response.json()
    except ValueError:
        payload = {}
    if response.status_code != 200 or not isinstance(payload, dict):
        raise TokenRequestFailed(status=response.status_code, detail=api.message_of(response))
    if not payload.get("access_token"):
        raise TokenRequestFailed(status=200, detail="the answer holds no access token")
    return payload


def _seconds(value) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and value.isdigit():
        return float(value)
    return None


def credentials_from_token(payload: dict[str, Any], *, previous: dict | None = None) -> dict:
    """The credentials for a token endpoint answer; a refresh that sends no new refresh
    token keeps the old one and its expiry."""
    previous = previous or {}
    now = timezone.now().timestamp()
    credentials = {
        "access_token": payload["access_token"],
        "refresh_token": payload.get("refresh_token") or previous.get("refresh_token", ""),
        "scope": payload.get("scope") or previous.get("scope", ""),
    }
    expires_in = _seconds(payload.get("expires_in"))
    if expires_in is not None:
        credentials["expires_at"] = int(now + expires_in)
    refresh_in = _seconds(payload.get("refresh_token_expires_in"))
    if payload.get("refresh_token") and refresh_in is not None:
        credentials["refresh_token_expires_at"] = int(now + refresh_in)
    elif previous.get("refresh_token_expires_at"):
        credentials["refresh_token_expires_at"] = previous["refresh_token_expires_at"]
    return credentials


def expires_soon(credentials: dict) -> bool:
    expires_at = credentials.get("expires_at")
    if not isinstance(expires_at, int | float):
        return False  # unknown: rely on the 401 path
    return expires_at - timezone.now().timestamp() < REFRESH_MARGIN.total_seconds()


def expired(credentials: dict) -> bool:
    expires_at = credentials.get("expires_at")
    return isinstance(expires_at, int | float) and expires_at <= timezone.now().timestamp()


def expiry_text(credentials: dict) -> str:
    expires_at = credentials.get("expires_at")
    if not isinstance(expires_at, int | float):
        return ""
    return f"{dt.datetime.fromtimestamp(expires_at, tz=dt.UTC):%Y-%m-%d %H:%M} UTC"


def refresh_access_token(account, *, used: dict) -> dict:
    """Refresh the account's access token, store the new credentials, return them.

    Under a row lock on the account: when the stored access token is no longer the one the
    caller `used`, another worker refreshed first and its tokens are used as they are."""
    from accounts.models import SocialAccount

    with transaction.atomic():
        locked = SocialAccount.objects.select_for_update().only("id", "credentials")
        stored = locked.get(id=account.id).credentials
        if stored.get("access_token") != used.get("access_token"):
            account.credentials = stored
            return stored
        refresh_token = stored.get("refresh_token")
        if not refresh_token:
            raise AuthFailed(
                "LinkedIn's access token expires or was refused and LinkedIn granted no refresh "
                "token: reconnect the account."
            )
        try:
            payload = token_request({"grant_type": "refresh_token", "refresh_token": refresh_token})
        except TokenRequestFailed as exc:
            raise AuthFailed(
                f"LinkedIn refused to refresh the access token ({exc.reason}): reconnect the "
                "account."
            ) from None
        except Rejected as exc:  # the app's keys are not configured
            raise AuthFailed(exc.message) from None
        new = credentials_from_token(payload, previous=stored)
        SocialAccount.objects.filter(id=account.id).update(credentials=new)
    account.credentials = new
    log.info("Refreshed the LinkedIn access token of account %s.", account.id)
    return new


def current(account, *, strict: bool = False) -> dict:
    """The credentials to call with now: refreshed first when they expire within
    REFRESH_MARGIN and a refresh token is stored. Without one, a token that still works is
    used until it expires; an expired one is AuthFailed.

    A refresh that fails (LinkedIn down, the refresh token expired) while the access token
    still works does not stop a post: the token is used, and the failure is raised only
    when `strict` (the account check, so `check_accounts` tells the owner in time)."""
    credentials = account.credentials or {}
    if not credentials.get("access_token"):
        raise AuthFailed("No LinkedIn token is stored for this account: connect it.")
    if expires_soon(credentials):
        if credentials.get("refresh_token"):
            try:
                return refresh_access_token(account, used=credentials)
            except (AuthFailed, Transient) as exc:
                if strict or expired(credentials):
                    raise
                log.warning(
                    "Could not refresh the LinkedIn access token of account %s (%s); it works "
                    "until %s.",
                    account.id,
                    exc.__class__.__name__,
                    expiry_text(credentials),
                )
                return credentials
        if expired(credentials):
            raise AuthFailed(
                f"LinkedIn's access token expired on {expiry_text(credentials)} and LinkedIn "
                "granted no refresh token: reconnect the account."
            )
    return credentials
