"""One Facebook Login flow for Facebook Pages and Instagram professional accounts.

1. `authorize_url`: Meta's login dialog (META_AUTH_BASE) with our app (META_APP_ID), the
   permissions the network needs and a random `state` kept in the session.
2. The callback: `user_tokens` trades the code for a user token, then for a long-lived one
   (`grant_type=fb_exchange_token`, about 60 days).
3. `pages`: `GET /me/accounts` with the long-lived user token: each Page the person manages
   with its Page token (long-lived when asked with a long-lived user token: it has no expiry)
   and its `instagram_business_account`.
4. The person picks Pages (Facebook) or the Instagram accounts behind them; each becomes an
   account (accounts.services.account_connect), its tokens encrypted.

`token_status` reads a token's expiry with `GET /debug_token` (the app's token), and
`refresh_page_token` gets a Page token again from the stored user token (check_accounts,
before the user token's expiry).
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from django.conf import settings

from networks.base import AuthFailed, Rejected
from networks.meta import graph

FACEBOOK_SCOPES = ("pages_show_list", "pages_read_engagement", "pages_manage_posts")
INSTAGRAM_SCOPES = (
    "pages_show_list",
    "pages_read_engagement",
    "instagram_basic",
    "instagram_content_publish",
)
SCOPES = {"facebook": FACEBOOK_SCOPES, "instagram": INSTAGRAM_SCOPES}
PAGE_FIELDS = "id,name,access_token,tasks,instagram_business_account{id,username,name}"
# Refresh a token this long before Meta says it expires.
REFRESH_BEFORE = dt.timedelta(days=10)


def configured() -> str:
    """Why the flow cannot start ("" when it can)."""
    if not settings.META_APP_ID or not settings.META_APP_SECRET:
        return (
            "Connecting Facebook and Instagram is not configured: set META_APP_ID and "
            "META_APP_SECRET (a Meta app with Facebook Login; see the README)."
        )
    return ""


def authorize_url(*, network: str, state: str, redirect_uri: str) -> str:
    params = {
        "client_id": settings.META_APP_ID,
        "redirect_uri": redirect_uri,
        "state": state,
        "response_type": "code",
        "scope": ",".join(SCOPES[network]),
    }
    return f"{settings.META_AUTH_BASE}?{urlencode(params)}"


def _app_params() -> dict:
    return {"client_id": settings.META_APP_ID, "client_secret": settings.META_APP_SECRET}


def user_tokens(*, code: str, redirect_uri: str) -> dict:
    """The code → a user token → a long-lived user token: {"token", "expires_at"}."""
    short = graph.call(
        "GET",
        "oauth/access_token",
        token=None,
        what="the sign-in code",
        params={**_app_params(), "redirect_uri": redirect_uri, "code": code},
    )
    long = long_lived(short.get("access_token", ""))
    return long


def long_lived(user_token: str) -> dict:
    if not user_token:
        raise AuthFailed("Meta gave no user token: start connecting again.")
    answer = graph.call(
        "GET",
        "oauth/access_token",
        token=None,
        what="the long-lived token exchange",
        params={
            **_app_params(),
            "grant_type": "fb_exchange_token",
            "fb_exchange_token": user_token,
        },
    )
    token = answer.get("access_token")
    if not token:
        raise AuthFailed("Meta gave no long-lived token: start connecting again.")
    expires_in = answer.get("expires_in")
    expires_at = 0
    if isinstance(expires_in, int) and expires_in > 0:
        expires_at = int(dt.datetime.now(dt.UTC).timestamp()) + expires_in
    return {"token": token, "expires_at": expires_at}


def pages(user_token: str) -> list[dict]:
    """The Pages the person manages: [{"id", "name", "access_token", "instagram": {...}}]."""
    answer = graph.call(
        "GET",
        "me/accounts",
        token=user_token,
        what="the list of your Pages",
        params={"fields": PAGE_FIELDS, "limit": 100},
    )
    found = []
    for page in answer.get("data") or []:
        if not isinstance(page, dict) or not page.get("id") or not page.get("access_token"):
            continue
        instagram = page.get("instagram_business_account")
        found.append(
            {
                "id": str(page["id"]),
                "name": str(page.get("name") or page["id"])[:100],
                "access_token": page["access_token"],
                "instagram": (
                    {
                        "id": str(instagram["id"]),
                        "username": str(instagram.get("username") or instagram["id"])[:100],
                    }
                    if isinstance(instagram, dict) and instagram.get("id")
                    else None
                ),
            }
        )
    return found


def token_status(token: str) -> dict:
    """`GET /debug_token`: {"is_valid", "expires_at" (0: never), "scopes"}; {} when the app
    is not configured (nothing to ask with)."""
    if configured():
        return {}
    app_token = f"{settings.META_APP_ID}|{settings.META_APP_SECRET}"
    answer = graph.call(
        "GET",
        "debug_token",
        token=None,
        what="the token check",
        params={"input_token": token, "access_token": app_token},
    )
    data = answer.get("data") if isinstance(answer.get("data"), dict) else {}
    return data


def expires_soon(expires_at: int, *, now: dt.datetime) -> bool:
    return bool(expires_at) and dt.datetime.fromtimestamp(expires_at, dt.UTC) - now < REFRESH_BEFORE


def refresh(credentials: dict, *, page_id: str) -> dict:
    """New credentials from the stored long-lived user token: a fresh long-lived user token
    and the Page's token read again. Rejected when the user token is gone."""
    user_token = credentials.get("user_token", "")
    if not user_token:
        raise Rejected("No user token is stored to refresh with: reconnect the account.")
    fresh = long_lived(user_token)
    page = next((p for p in pages(fresh["token"]) if p["id"] == page_id), None)
    if page is None:
        raise AuthFailed(
            "The Page is no longer among the Pages you manage with Queue Loop: reconnect it."
        )
    return {
        **credentials,
        "page_token": page["access_token"],
        "user_token": fresh["token"],
        "user_token_expires_at": fresh["expires_at"],
    }
