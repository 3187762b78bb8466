"""X (Twitter): weighted length (twitter-text v3), publishing through tweepy, credential checks.

An X account's `credentials` (encrypted JSON) hold one of two shapes:

- OAuth 2.0 user context, from the PKCE connect flow (networks/x/connect.py)::

      {"auth": "oauth2", "access_token", "refresh_token", "expires_at" (epoch seconds),
       "token_type", "scope", "user_id"}

  The access token lives about two hours; it is refreshed (with `offline.access`) when it
  expires within REFRESH_MARGIN, and once more when X answers 401, then the call is retried
  once. X's refresh tokens are single-use, so refreshing is serialised per account under a
  row lock and the new pair is written only by the worker that spent the stored refresh
  token; a worker that finds newer tokens stored uses them (see refresh_access_token).

- OAuth 1.0a keys pasted by the user (their own developer app)::

      {"auth": "oauth1", "consumer_key", "consumer_secret", "access_token",
       "access_token_secret", "user_id"}

Every HTTP session that talks to X comes from `new_session()`: it applies X_HTTP_TIMEOUT to
every request (tweepy sets no timeout, so a silent X would hang a worker forever), connects
only to an address the networks' policy allows (ground.http_transport.sdk: checked at the
connect, INSTANCE_ALLOWED_HOSTS for an internal X_API_BASE) and follows no redirect: X's API
answers none, and tweepy reports a 3xx as the HTTP error it is.

Test hook: `transport_hook`, when set, is called with each new session, so tests mount a
fake X (a requests transport adapter) on it. Production never sets it.

tweepy, requests-oauthlib and oauthlib print request headers (bearer tokens, OAuth 1.0a
parameters) and token responses at DEBUG level; those records are dropped at their loggers
(`_CREDENTIAL_LOGGERS`), so turning on DEBUG logging never writes a token anywhere.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import requests
import tweepy
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from twitter_text import parse_tweet
from twitter_text.config import config as twitter_text_config

from ground import address_policy as netpolicy
from ground.http_transport import sdk as netclients
from networks import thread
from networks.base import (
    AuthFailed,
    RateLimited,
    Rejected,
    Transient,
)
from networks.contract import Capabilities, LengthCounting, Published
from networks.x import media as x_media
from networks.x import metrics as x_metrics
from networks.x import read_back as x_read_back
from networks.x.errors import (
    DEFAULT_RATE_LIMIT_WAIT,  # noqa: F401 (re-exported)
    _connection_error_before_send,
    _rate_limit_reset,
    _x_message,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

OAUTH1 = "oauth1"
OAUTH2 = "oauth2"
TWEET_URL = "https://x.com/{handle}/status/{id}"
# Refresh an OAuth 2.0 access token that expires within this margin before using it.
REFRESH_MARGIN = dt.timedelta(minutes=2)
DUPLICATE_MESSAGE = "X rejected a duplicate: add a variation to this post."
TWITTER_TEXT_V3 = twitter_text_config["version3"]

# --- Logging: never let a library print a credential ----------------------------------

_CREDENTIAL_LOGGERS = (
    "tweepy.client",
    "tweepy.auth",
    "tweepy.api",
    "requests_oauthlib.oauth1_auth",
    "requests_oauthlib.oauth1_session",
    "requests_oauthlib.oauth2_session",
    "oauthlib.oauth1.rfc5849",
    "oauthlib.oauth1.rfc5849.signature",
    "oauthlib.oauth1.rfc5849.endpoints.resource",
    "oauthlib.oauth1.rfc5849.endpoints.signature_only",
)


class _DropDebugRecords(logging.Filter):
    """Drops DEBUG records: at that level these libraries print headers and token bodies."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


def _install_log_filters() -> None:
    for name in _CREDENTIAL_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropDebugRecords) for f in logger.filters):
            logger.addFilter(_DropDebugRecords())


_install_log_filters()

# --- HTTP sessions -------------------------------------------------------------------------


# Tests set this to mount a fake X on every new session; see the module docstring.
transport_hook: Callable[[requests.Session], None] | None = None


def new_session() -> requests.Session:
    session = netclients.requests_session(netpolicy.NETWORKS, timeout=settings.X_HTTP_TIMEOUT)
    if transport_hook is not None:
        transport_hook(session)
    return session


def build_client(credentials: dict) -> tuple[tweepy.Client, bool]:
    """A tweepy client for these credentials and the `user_auth` flag its calls need."""
    kind = auth_kind(credentials)
    if kind == OAUTH1:
        client = tweepy.Client(
            consumer_key=credentials["consumer_key"],
            consumer_secret=credentials["consumer_secret"],
            access_token=credentials["access_token"],
            access_token_secret=credentials["access_token_secret"],
        )
        user_auth = True
    else:
        # An OAuth 2.0 user access token is sent as a bearer token (user_auth=False).
        client = tweepy.Client(bearer_token=credentials["access_token"])
        user_auth = False
    client.session.close()
    client.session = new_session()
    return client, user_auth


def auth_kind(credentials: dict) -> str:
    if credentials.get("auth") == OAUTH1 or (
        credentials.get("consumer_key") and credentials.get("access_token_secret")
    ):
        if not all(
            credentials.get(key)
            for key in ("consumer_key", "consumer_secret", "access_token", "access_token_secret")
        ):
            raise AuthFailed("The stored OAuth 1.0a keys are incomplete: reconnect the account.")
        return OAUTH1
    if credentials.get("access_token"):
        return OAUTH2
    raise AuthFailed("No X credentials are stored for this account: connect it.")


# --- OAuth 2.0 tokens -------------------------------------------------------------------


class TokenRequestFailed(Exception):
    """X's token endpoint refused the request (bad code, used refresh token...)."""

    def __init__(self, *, status: int, detail: str = ""):
        self.status = status
        self.detail = detail[:200]
        self.reason = f"{status}: {self.detail}" if self.detail else str(status)
        self.message = f"X refused the token request ({self.reason})."
        super().__init__(self.message)


def token_url() -> str:
    return settings.X_API_BASE.rstrip("/") + "/2/oauth2/token"


def token_request(data: dict[str, str]) -> dict[str, Any]:
    """POST to X's OAuth 2.0 token endpoint; the client authenticates with HTTP Basic when
    it has a secret (confidential client), else by client_id alone (public client).

    Raises Transient when X cannot be reached or fails (5xx), TokenRequestFailed when X
    refuses the request. Never logs the request or the answer: both hold secrets.
    """
    if not settings.X_CLIENT_ID:
        raise Rejected("X_CLIENT_ID is not configured, so X tokens cannot be obtained.")
    data = dict(data)
    auth = None
    if settings.X_CLIENT_SECRET:
        auth = (settings.X_CLIENT_ID, settings.X_CLIENT_SECRET)
    else:
        data["client_id"] = settings.X_CLIENT_ID
    session = new_session()
    try:
        response = session.post(
            token_url(), data=data, auth=auth, headers={"Accept": "application/json"}
        )
    except requests.RequestException as exc:
        raise Transient(f"Could not reach X's token endpoint ({exc.__class__.__name__}).") from None
    finally:
        session.close()
    if response.status_code == 429 or response.status_code >= 500:
        raise Transient(f"X's token endpoint answered {response.status_code}; try again later.")
    try:
        payload = response.json()
    except ValueError:
        payload = {}
    if response.status_code != 200 or not isinstance(payload, dict):
        detail = ""
        if isinstance(payload, dict):
            detail = str(payload.get("error_description") or payload.get("error") or "")
        raise TokenRequestFailed(status=response.status_code, detail=detail)
    if not payload.get("access_token"):
        raise TokenRequestFailed(status=200, detail="the answer holds no access token")
    return payload


def credentials_from_token(payload: dict[str, Any], *, previous: dict | None = None) -> dict:
    """The credentials JSON for a token endpoint answer (keeps the old refresh token and
    user id when X does not send new ones)."""
    previous = previous or {}
    now = timezone.now().timestamp()
    credentials = {
        "auth": OAUTH2,
        "access_token": payload["access_token"],
        "refresh_token": payload.get("refresh_token") or previous.get("refresh_token", ""),
        "token_type": payload.get("token_type", "bearer"),
        "scope": payload.get("scope", previous.get("scope", "")),
    }
    expires_in = payload.get("expires_in")
    if isinstance(expires_in, int | float) or (
        isinstance(expires_in, str) and expires_in.isdigit()
    ):
        credentials["expires_at"] = int(now + float(expires_in))
    if previous.get("user_id"):
        credentials["user_id"] = previous["user_id"]
    return credentials


def _expires_soon(credentials: dict) -> bool:
    expires_at = credentials.get("expires_at")
    if not isinstance(expires_at, int | float):
        return False  # unknown: rely on the 401 path
    return expires_at - timezone.now().timestamp() < REFRESH_MARGIN.total_seconds()


def refresh_access_token(account, *, used: dict) -> dict:
    """Refresh the account's OAuth 2.0 access token, store the new pair, and return the
    credentials to use now.

    X's refresh tokens are single-use, so two workers must never both spend one: the
    refresh runs under a row lock on the account (SELECT ... FOR UPDATE, held for the one
    token request, bounded by X_HTTP_TIMEOUT). The update is conditional on what the lock
    holder reads: when the stored access token is no longer the one the caller `used`,
    another worker refreshed first (while we waited for the lock), and its tokens are
    used as they are, with no request and no write. Fernet ciphertext is randomised, so
    the condition is checked under the lock rather than in the UPDATE's WHERE clause.
    """
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
                "X's access token expired and no refresh token is stored: reconnect the account."
            )
        try:
            payload = token_request({"grant_type": "refresh_token", "refresh_token": refresh_token})
        except TokenRequestFailed as exc:
            raise AuthFailed(
                f"X refused to refresh the access token ({exc.reason}): reconnect the account."
            ) from None
        except Rejected as exc:  # the app is not configured for OAuth 2.0
            raise AuthFailed(exc.message) from None
        new = credentials_from_token(payload, previous=stored)
        SocialAccount.objects.filter(id=account.id).update(credentials=new)
    account.credentials = new
    log.info("Refreshed the X access token of account %s.", account.id)
    return new


# --- Calling X (reading its errors: x_errors) -------------------------------------------


class _Unauthorized(Exception):
    """X answered 401; the caller decides whether a refresh may help."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _attempt(credentials: dict, operation: Callable[[tweepy.Client, bool], T], what: str) -> T:
    """Run one call against X and classify whatever goes wrong."""
    client, user_auth = build_client(credentials)
    try:
        return operation(client, user_auth)
    except tweepy.Unauthorized as exc:
        raise _Unauthorized(_x_message(exc)) from None
    except tweepy.TooManyRequests as exc:
        reset_at = _rate_limit_reset(exc.response)
        raise RateLimited(
            f"X rate limit reached (429); trying again at {reset_at:%Y-%m-%d %H:%M:%S} UTC.",
            reset_at=reset_at,
        ) from None
    except tweepy.Forbidden as exc:
        message = _x_message(exc)
        if "duplicate" in message.lower():
            raise Rejected(DUPLICATE_MESSAGE) from None
        raise Rejected(f"X refused {what} (403): {message}") from None
    except tweepy.TwitterServerError as exc:
        status = exc.response.status_code
        if status == 504:
            # A gateway timeout: X's backend may have handled the request.
            raise Transient(
                f"X timed out behind its gateway (504): {what} may or may not have gone "
                "through. Check the account on X.",
                maybe_sent=True,
            ) from None
        raise Transient(
            f"X answered {status} (a server error): {what} did not go through."
        ) from None
    except tweepy.HTTPException as exc:
        raise Rejected(
            f"X refused {what} ({exc.response.status_code}): {_x_message(exc)}"
        ) from None
    except requests.exceptions.JSONDecodeError:
        # tweepy raises for every non-2xx first, so X accepted the call; its answer is garbled.
        raise Transient(
            "X accepted the request but its answer could not be read.", maybe_sent=True
        ) from None
    except requests.ConnectionError as exc:
        if _connection_error_before_send(exc):
            raise Transient(
                f"Could not connect to X ({exc.__class__.__name__}); nothing was sent."
            ) from None
        raise Transient(
            f"The connection to X broke mid-request ({exc.__class__.__name__}).", maybe_sent=True
        ) from None
    except requests.Timeout:
        raise Transient(
            f"X did not answer within {settings.X_HTTP_TIMEOUT} s: the request may have reached X."
            " Check the account on X.",
            maybe_sent=True,
        ) from None
    except requests.RequestException as exc:
        raise Transient(
            f"The request to X failed mid-way ({exc.__class__.__name__}).", maybe_sent=True
        ) from None
    finally:
        client.session.close()


def call_x(account, operation: Callable[[tweepy.Client, bool], T], *, what: str) -> T:
    """Call X with the account's credentials: refresh an expiring OAuth 2.0 token first,
    and on a 401 refresh once and retry once. A 401 that survives → AuthFailed."""
    credentials = account.credentials or {}
    kind = auth_kind(credentials)
    if kind == OAUTH2 and _expires_soon(credentials):
        credentials = refresh_access_token(account, used=credentials)
    try:
        return _attempt(credentials, operation, what)
    except _Unauthorized as exc:
        if kind != OAUTH2:
            raise AuthFailed(
                f"X refused the account's OAuth 1.0a keys (401: {exc.message}): reconnect it."
            ) from None
    credentials = refresh_access_token(account, used=credentials)
    try:
        return _attempt(credentials, operation, what)
    except _Unauthorized as exc:
        raise AuthFailed(
            f"X refused the access token even after refreshing it (401: {exc.message}): "
            "reconnect the account."
        ) from None


def fetch_me(credentials: dict) -> dict:
    """GET /2/users/me with credentials not stored yet (connect flows): {"id", "username"}.

    Raises AuthFailed on 401 and the usual provider errors otherwise."""
    try:
        response = _attempt(
            credentials, lambda client, user_auth: client.get_me(user_auth=user_auth), "the account"
        )
    except _Unauthorized as exc:
        raise AuthFailed(f"X refused these credentials (401: {exc.message}).") from None
    return _user_from(response)


def _user_from(response) -> dict:
    user = response.data
    if user is None:
        raise Rejected("X did not return the account's profile.")
    return {"id": str(user.id), "username": str(user.username)}


# --- The provider -------------------------------------------------------------------------


class XProvider:
    name = "x"
    label = "X"
    max_length = 280
    # X has no idempotency key: a call that may have reached X is never repeated.
    idempotent = False
    capabilities = Capabilities(
        threads=True,
        images=True,
        max_images=x_media.MAX_IMAGES,
        video=False,
        # A reply to the post's first tweet.
        first_comment=True,
        idempotent=False,
        # The account's timeline, matched by exact text and images (networks/x/read_back.py).
        read_back=True,
        length_counting=LengthCounting.WEIGHTED,
    )

    def limit_for(self, account=None) -> int:
        return self.max_length

    def text_length(self, text: str) -> int:
        return parse_tweet(text, TWITTER_TEXT_V3).weightedLength

    def validate(self, text: str, *, account=None) -> list[str]:
        if not text.strip():
            return ["The text is empty."]
        result = parse_tweet(text, TWITTER_TEXT_V3)
        if result.weightedLength > self.max_length:
            return [
                f"X counts this text as {result.weightedLength} characters; the limit is "
                f"{self.max_length}."
            ]
        if not result.valid:
            return ["The text contains characters X does not accept (such as U+FFFE or U+FFFF)."]
        return []

    def publish(self, delivery) -> Published:
        errors = thread.validate_parts(self, delivery)
        if errors:
            raise Rejected(" ".join(errors))
        account = delivery.account

        def post_part(index: int, text: str, sent: list[dict]) -> dict:
            media_ids = x_media.upload_for(account, delivery, call_x=call_x) if index == 0 else []
            reply_to = sent[-1]["id"] if sent else None
            response = call_x(
                account,
                lambda client, user_auth: client.create_tweet(
                    text=text,
                    media_ids=media_ids or None,
                    in_reply_to_tweet_id=reply_to,
                    user_auth=user_auth,
                ),
                what="the post" if index == 0 else f"part {index + 1}",
            )
            data = response.data or {}
            tweet_id = str(data.get("id", "")) if isinstance(data, dict) else ""
            url = TWEET_URL.format(handle=account.handle, id=tweet_id) if tweet_id else ""
            return {"id": tweet_id, "url": url}

        published = thread.publish_parts(delivery, post_part)
        log.info(
            "Posted delivery %s to X account %s: tweet %s",
            delivery.id,
            account.id,
            published.external_id,
        )
        return published

    def find_published(self, delivery, *, since: dt.datetime):
        return x_read_back.find_published(delivery, since=since, call_x=call_x, tweet_url=TWEET_URL)

    def publish_comment(self, delivery, text: str, *, on: dict) -> dict:
        """The first comment: a reply to the post's first tweet. No idempotency key here
        either: a comment whose answer was lost is never repeated (publishing/comments.py)."""
        errors = self.validate(text)
        if errors:
            raise Rejected("The first comment: " + " ".join(errors))
        account = delivery.account
        response = call_x(
            account,
            lambda client, user_auth: client.create_tweet(
                text=text, in_reply_to_tweet_id=on["id"], user_auth=user_auth
            ),
            what="the first comment",
        )
        data = response.data or {}
        tweet_id = str(data.get("id", "")) if isinstance(data, dict) else ""
        url = TWEET_URL.format(handle=account.handle, id=tweet_id) if tweet_id else ""
        return {"id": tweet_id, "url": url}

    def metrics(self, account, external_ids: list[str]):
        """Public counts, 100 tweets a call (networks/x/metrics.py)."""
        return x_metrics.metrics(account, external_ids, call_x=call_x)

    def check(self, account) -> str:
        user = _user_from(
            call_x(
                account,
                lambda client, user_auth: client.get_me(user_auth=user_auth),
                what="the credential check",
            )
        )
        if account.external_id and user["id"] != account.external_id:
            raise Rejected(
                f"These credentials belong to @{user['username']} (X user {user['id']}), "
                f"not to this account (X user {account.external_id}): reconnect it."
            )
        return f"Signed in to X as @{user['username']} (user id {user['id']})."


network = XProvider()
# The name the code used before networks/ had a contract.
provider = network
