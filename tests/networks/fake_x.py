"""A fake X API, as a requests transport adapter: tests mount it on the sessions our code
makes (networks.x.adapter.transport_hook), so everything above the HTTP boundary —
tweepy, OAuth 1.0a signing, our token handling — runs for real.

It implements what Queue Loop uses:

- POST /2/oauth2/token — authorization_code (checks the PKCE verifier against the challenge
  given to `authorize()`, the redirect URI and the client's Basic credentials) and
  refresh_token (single-use refresh tokens, rotated like X does).
- GET /2/users/me and POST /2/tweets — bearer tokens (OAuth 2.0 user context, expiring) or
  OAuth 1.0a (the HMAC-SHA1 signature is verified with the registered secrets). Posting the
  same text twice for one user gets X's 403 duplicate answer. A tweet may name up to 4
  media ids its author uploaded, and reply to an existing tweet (reply.in_reply_to_tweet_id).
- POST /2/media/upload (one request, JSON body: base64 `media`, `media_category`
  tweet_image, `media_type`; at most 5 MB decoded; bearer tokens need media.write) and
  POST /2/media/metadata (`{"id", "metadata": {"alt_text": {"text"}}}`, at most 1000
  characters), as documented on docs.x.com.
- GET /2/users/:id/tweets (the user timeline, newest first): start_time (second
  granularity, inclusive), max_results 5-100, pagination_token / meta.next_token, and the
  tweet.fields created_at, attachments (media_keys), referenced_tweets (replied_to) and
  entities (urls). Like X, the text comes back with &, < and > escaped and every link
  shortened to a t.co address, the typed one in entities.urls[].expanded_url.
- GET /2/tweets?ids=... (tweet lookup, 1 to 100 comma-separated ids, else X's 400) with
  tweet.fields=public_metrics (retweet_count, reply_count, like_count, quote_count,
  bookmark_count, impression_count): a tweet no longer there comes back in `errors` as
  X's "Not Found Error" (type .../resource-not-found, resource_id the id), the others in
  `data`. Set counts with `set_metrics()`, delete with `delete_tweet()`.

Failures are scripted per endpoint with `script()`; `hang_on()` makes an endpoint never
answer (it raises ReadTimeout, after checking the client asked for a timeout at all).
Every request is recorded in `calls`.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import itertools
import json
import logging
import re
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from oauthlib.oauth1 import Client as OAuth1Client
from oauthlib.oauth1.rfc5849.utils import parse_authorization_header
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

HOSTS = ("https://api.twitter.com", "https://api.x.com")
CLIENT_ID = "fake-client-id"
CLIENT_SECRET = "fake-client-secret-0123456789abcdef"
REDIRECT_URI = "http://testserver/connect/x/callback/"
SCOPE = "tweet.read tweet.write users.read offline.access media.write"
MAX_MEDIA_BYTES = 5 * 1024 * 1024
TIMELINE = re.compile(r"/2/users/(\w+)/tweets")
LINK = re.compile(r"https?://\S+")


@dataclass
class Call:
    method: str
    path: str
    headers: dict
    body: bytes
    timeout: object

    @property
    def form(self) -> dict:
        return dict(parse_qsl(self.body.decode())) if self.body else {}

    @property
    def json(self) -> dict:
        return json.loads(self.body) if self.body else {}

    @property
    def bearer(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        return auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None


@dataclass
class User:
    id: str
    username: str
    name: str = "Fake User"
    tweets: list[dict] = field(default_factory=list)
    media: dict[str, dict] = field(default_factory=dict)


@dataclass
class Scripted:
    status: int
    body: object = None
    headers: dict = field(default_factory=dict)
    exception: BaseException | None = None
    passes: int = 0  # calls answered normally before this answer applies


class FakeX(BaseAdapter):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[Call] = []
        self.users: dict[str, User] = {}
        self.access_tokens: dict[str, tuple[str, float]] = {}  # token -> (user id, expires)
        self.token_scopes: dict[str, set[str]] = {}
        self.refresh_tokens: dict[str, str] = {}  # token -> user id (single use)
        self.oauth1_keys: dict[tuple[str, str], tuple[str, str, str]] = {}
        self.codes: dict[str, dict] = {}
        self.scripts: dict[tuple[str, str], list[Scripted]] = {}
        self.hanging: set[tuple[str, str]] = set()
        self.hang_passes: dict[tuple[str, str], int] = {}  # answered normally before hanging
        self.on_refresh = None  # called (with the refresh token) before a refresh is answered
        self.issued: set[str] = {CLIENT_SECRET}  # every secret handed out, for log checks
        self._ids = itertools.count(1_800_000_000_000_000_000)
        self.timeline_page: int | None = None  # tests: a smaller page than max_results

    # --- Setting up ---------------------------------------------------------------------

    def mount(self, session: requests.Session) -> None:
        for host in HOSTS:
            session.mount(host, self)

    def add_user(self, user_id: str = "1001", username: str = "queueloop") -> User:
        return self.users.setdefault(user_id, User(id=user_id, username=username))

    def _secret(self, prefix: str) -> str:
        value = f"{prefix}-{secrets.token_urlsafe(24)}"
        self.issued.add(value)
        return value

    def issue_tokens(
        self, user_id: str = "1001", *, expires_in: int = 7200, scope: str = SCOPE
    ) -> dict:
        """Tokens as the token endpoint would answer them."""
        self.add_user(user_id)
        access, refresh = self._secret("at"), self._secret("rt")
        self.access_tokens[access] = (user_id, time.time() + expires_in)
        self.refresh_tokens[refresh] = user_id
        self.token_scopes[access] = set(scope.split())
        return {
            "token_type": "bearer",
            "expires_in": expires_in,
            "access_token": access,
            "refresh_token": refresh,
            "scope": scope,
        }

    def issue_oauth1_keys(self, user_id: str = "1001") -> dict:
        self.add_user(user_id)
        keys = {
            "consumer_key": self._secret("ck"),
            "consumer_secret": self._secret("cs"),
            "access_token": self._secret("oat"),
            "access_token_secret": self._secret("oats"),
        }
        self.oauth1_keys[(keys["consumer_key"], keys["access_token"])] = (
            keys["consumer_secret"],
            keys["access_token_secret"],
            user_id,
        )
        return keys

    def revoke(self, token: str) -> None:
        self.access_tokens.pop(token, None)
        self.refresh_tokens.pop(token, None)

    def authorize(self, params: dict, *, user_id: str = "1001", username: str = "queueloop"):
        """What X does when the user clicks "Authorize app": returns the callback query."""
        assert params["response_type"] == "code"
        assert params["client_id"] == CLIENT_ID
        assert params["code_challenge_method"] == "S256"
        self.add_user(user_id, username)
        # Not added to `issued`: a code is single-use and useless without the PKCE verifier
        # and the client secret, and Django's DEBUG template log prints request paths.
        code = f"code-{secrets.token_urlsafe(24)}"
        self.codes[code] = {
            "challenge": params["code_challenge"],
            "redirect_uri": params["redirect_uri"],
            "user_id": user_id,
            "scope": params["scope"],
        }
        return {"code": code, "state": params["state"]}

    def script(
        self, method: str, path: str, status: int, body=None, headers=None, *, passes: int = 0
    ) -> None:
        """The next call to method+path (after `passes` normal ones) gets this answer
        instead of the normal one."""
        self.scripts.setdefault((method, path), []).append(
            Scripted(status=status, body=body, headers=headers or {}, passes=passes)
        )

    def script_exception(
        self, method: str, path: str, exception: BaseException, *, passes: int = 0
    ) -> None:
        """The next call to method+path (after `passes` normal ones) raises `exception`."""
        self.scripts.setdefault((method, path), []).append(
            Scripted(0, exception=exception, passes=passes)
        )

    def hang_on(self, method: str, path: str, *, passes: int = 0) -> None:
        """The endpoint receives (and acts on) the request but never answers (after
        `passes` calls answered normally: a thread's later part)."""
        self.hanging.add((method, path))
        self.hang_passes[(method, path)] = passes

    # --- Inspecting ---------------------------------------------------------------------

    def calls_to(self, method: str, path: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.path == path]

    def set_metrics(self, tweet_id: str, **counts: int) -> None:
        """Set a tweet's public_metrics (like_count=3, impression_count=40...)."""
        tweet = next(t for t in self._all_tweets() if t["id"] == tweet_id)
        tweet.setdefault("public_metrics", {}).update(counts)

    def delete_tweet(self, tweet_id: str) -> None:
        for user in self.users.values():
            user.tweets = [t for t in user.tweets if t["id"] != tweet_id]

    def tweets(self, user_id: str = "1001") -> list[dict]:
        return self.users[user_id].tweets if user_id in self.users else []

    # --- The transport ------------------------------------------------------------------

    def close(self) -> None:
        pass

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        parts = urlsplit(request.url)
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        call = Call(request.method, parts.path, dict(request.headers), body, timeout)
        self.calls.append(call)
        key = (request.method, parts.path)
        queue = self.scripts.get(key)
        if queue and queue[0].passes:
            queue[0].passes -= 1
        elif queue:
            scripted = queue.pop(0)
            if scripted.exception is not None:
                raise scripted.exception
            return self._response(request, scripted.status, scripted.body, scripted.headers)
        if key in self.hanging and self.hang_passes.get(key, 0) > 0:
            self.hang_passes[key] -= 1
        elif key in self.hanging:
            assert timeout is not None, "no timeout: a silent X would hang this worker forever"
            self._route(request, call)  # X got it and acted on it...
            raise requests.ReadTimeout(f"fake X never answered {request.method} {parts.path}")
        status, payload, headers = self._route(request, call)
        return self._response(request, status, payload, headers)

    def _response(self, request, status: int, payload, headers=None) -> requests.Response:
        response = requests.Response()
        response.status_code = status
        response.reason = requests.status_codes._codes.get(status, ("",))[0].upper()
        response.headers = CaseInsensitiveDict(headers or {})
        if payload is not None:
            response.headers.setdefault("content-type", "application/json; charset=utf-8")
            response._content = (
                payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            )
        else:
            response._content = b""
        response.url = request.url
        response.request = request
        response.encoding = "utf-8"
        return response

    def _route(self, request, call: Call):
        if call.method == "POST" and call.path == "/2/oauth2/token":
            return self._token(call)
        if call.method == "GET" and call.path == "/2/users/me":
            user = self._authenticate(request, call)
            if user is None:
                return self._unauthorized()
            return 200, {"data": {"id": user.id, "name": user.name, "username": user.username}}, {}
        if call.method == "POST" and call.path == "/2/tweets":
            user = self._authenticate(request, call)
            if user is None:
                return self._unauthorized()
            body = call.json
            text = body.get("text", "")
            media_ids = (body.get("media") or {}).get("media_ids") or []
            if len(media_ids) > 4 or any(m not in user.media for m in media_ids):
                return 400, self._invalid("media.media_ids", "unknown media id or more than 4"), {}
            reply_to = (body.get("reply") or {}).get("in_reply_to_tweet_id")
            if reply_to is not None and not any(t["id"] == reply_to for t in self._all_tweets()):
                return 400, self._invalid("reply.in_reply_to_tweet_id", "no such tweet"), {}
            if any(t["text"] == text for t in user.tweets):
                return (
                    403,
                    {
                        "detail": "You are not allowed to create a Tweet with duplicate content.",
                        "type": "about:blank",
                        "title": "Forbidden",
                        "status": 403,
                    },
                    {},
                )
            tweet = {
                "id": str(next(self._ids)),
                "text": text,
                "media": [user.media[m] for m in media_ids],
                "in_reply_to": reply_to,
                "created_at": dt.datetime.now(dt.UTC),
            }
            user.tweets.append(tweet)
            return 201, {"data": {"id": tweet["id"], "text": text}}, {}
        if call.method == "POST" and call.path == "/2/media/upload":
            return self._media_upload(request, call)
        if call.method == "GET" and call.path == "/2/tweets":
            if self._authenticate(request, call) is None:
                return self._unauthorized()
            return self._lookup(dict(parse_qsl(urlsplit(request.url).query)))
        timeline = TIMELINE.fullmatch(call.path)
        if call.method == "GET" and timeline:
            if self._authenticate(request, call) is None:
                return self._unauthorized()
            return self._timeline(timeline.group(1), dict(parse_qsl(urlsplit(request.url).query)))
        if call.method == "POST" and call.path == "/2/media/metadata":
            user = self._authenticate(request, call)
            if user is None:
                return self._unauthorized()
            body = call.json
            media = user.media.get(str(body.get("id")))
            alt = ((body.get("metadata") or {}).get("alt_text") or {}).get("text")
            if media is None or not isinstance(alt, str) or len(alt) > 1000:
                return 400, self._invalid("metadata", "unknown media id or bad alt text"), {}
            media["alt_text"] = alt
            return 200, {"data": {"associated_metadata": {"alt_text": {"text": alt}}}}, {}
        return 404, {"title": "Not Found", "detail": f"no route {call.path}"}, {}

    def _timeline(self, user_id: str, query: dict):
        if user_id not in self.users:
            return 404, {"title": "Not Found Error", "detail": f"no user {user_id}"}, {}
        try:
            size = int(query.get("max_results", 10))
            start = query.get("start_time")
            since = dt.datetime.strptime(start, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
        except (TypeError, ValueError):
            return 400, self._invalid("start_time", "a time as YYYY-MM-DDTHH:mm:ssZ"), {}
        if not 5 <= size <= 100:
            return 400, self._invalid("max_results", "between 5 and 100"), {}
        size = self.timeline_page or size
        tweets = [t for t in reversed(self.users[user_id].tweets) if t["created_at"] >= since]
        offset = int(query.get("pagination_token") or 0)
        page = tweets[offset : offset + size]
        fields = set((query.get("tweet.fields") or "").split(","))
        meta = {"result_count": len(page)}
        if page:
            meta |= {"newest_id": page[0]["id"], "oldest_id": page[-1]["id"]}
        if offset + size < len(tweets):
            meta["next_token"] = str(offset + size)
        body = {"meta": meta}
        if page:
            body["data"] = [self._listed(t, fields) for t in page]
        return 200, body, {}

    def _lookup(self, query: dict):
        ids = [i for i in (query.get("ids") or "").split(",") if i]
        if not 1 <= len(ids) <= 100:
            return 400, self._invalid("ids", "between 1 and 100 ids"), {}
        fields = set((query.get("tweet.fields") or "").split(","))
        tweets = {t["id"]: t for t in self._all_tweets()}
        data, errors = [], []
        for tweet_id in ids:
            tweet = tweets.get(tweet_id)
            if tweet is None:
                errors.append(
                    {
                        "value": tweet_id,
                        "detail": f"Could not find tweet with ids: [{tweet_id}].",
                        "title": "Not Found Error",
                        "resource_type": "tweet",
                        "parameter": "ids",
                        "resource_id": tweet_id,
                        "type": "https://api.twitter.com/2/problems/resource-not-found",
                    }
                )
                continue
            listed = self._listed(tweet, fields)
            if "public_metrics" in fields:
                listed["public_metrics"] = {
                    "retweet_count": 0,
                    "reply_count": 0,
                    "like_count": 0,
                    "quote_count": 0,
                    "bookmark_count": 0,
                    "impression_count": 0,
                    **tweet.get("public_metrics", {}),
                }
            data.append(listed)
        body = {}
        if data:
            body["data"] = data
        if errors:
            body["errors"] = errors
        return 200, body, {}

    def _listed(self, tweet: dict, fields: set[str]) -> dict:
        """A tweet as the timeline shows it: links shortened, &<> escaped."""
        text, urls = tweet["text"], []
        for n, match in enumerate(LINK.finditer(tweet["text"])):
            short = f"https://t.co/{tweet['id'][-6:]}{n}"
            urls.append({"url": short, "expanded_url": match.group(0)})
            text = text.replace(match.group(0), short, 1)
        for u in urls:
            u["start"] = text.index(u["url"])
            u["end"] = u["start"] + len(u["url"])
            u["display_url"] = u["expanded_url"].split("://", 1)[-1][:25]
        listed = {
            "id": tweet["id"],
            "text": html.escape(text, quote=False),
            "edit_history_tweet_ids": [tweet["id"]],
        }
        if "created_at" in fields:
            listed["created_at"] = tweet["created_at"].strftime("%Y-%m-%dT%H:%M:%S.000Z")
        if "attachments" in fields and tweet["media"]:
            listed["attachments"] = {"media_keys": [f"3_{m['id']}" for m in tweet["media"]]}
        if "referenced_tweets" in fields and tweet["in_reply_to"]:
            listed["referenced_tweets"] = [{"type": "replied_to", "id": tweet["in_reply_to"]}]
        if "entities" in fields and urls:
            listed["entities"] = {"urls": urls}
        return listed

    def _all_tweets(self) -> list[dict]:
        return [t for u in self.users.values() for t in u.tweets]

    @staticmethod
    def _invalid(parameter: str, message: str) -> dict:
        return {
            "errors": [{"parameters": {parameter: []}, "message": message}],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.twitter.com/2/problems/invalid-request",
        }

    def _media_upload(self, request, call: Call):
        user = self._authenticate(request, call)
        if user is None:
            return self._unauthorized()
        if call.bearer is not None and "media.write" not in self.token_scopes.get(call.bearer, ()):
            body = {"title": "Forbidden", "status": 403, "type": "about:blank"}
            return 403, {**body, "detail": "The token lacks the media.write scope."}, {}
        body = call.json
        try:
            data = base64.b64decode(body.get("media", ""), validate=True)
        except (ValueError, TypeError):
            data = b""
        if (
            not data
            or body.get("media_category") != "tweet_image"
            or body.get("media_type") not in ("image/jpeg", "image/png", "image/webp")
        ):
            return 400, self._invalid("media", "not a tweet_image upload"), {}
        if len(data) > MAX_MEDIA_BYTES:
            return 400, self._invalid("media", "File size exceeds 5242880 bytes."), {}
        media_id = str(next(self._ids))
        user.media[media_id] = {
            "id": media_id,
            "bytes": data,
            "media_type": body["media_type"],
            "alt_text": "",
        }
        answer = {"id": media_id, "media_key": f"3_{media_id}", "size": len(data)}
        return 200, {"data": {**answer, "expires_after_secs": 86400}}, {}

    @staticmethod
    def _unauthorized():
        body = {"title": "Unauthorized", "type": "about:blank", "status": 401}
        return 401, {**body, "detail": "Unauthorized"}, {}

    def _authenticate(self, request, call: Call) -> User | None:
        if call.bearer is not None:
            found = self.access_tokens.get(call.bearer)
            if found is None or found[1] < time.time():
                return None
            return self.users[found[0]]
        header = call.headers.get("Authorization", "")
        if not header.startswith("OAuth "):
            return None
        params = dict(parse_authorization_header(header))
        keys = self.oauth1_keys.get((params.get("oauth_consumer_key"), params.get("oauth_token")))
        if keys is None:
            return None
        consumer_secret, token_secret, user_id = keys
        signer = OAuth1Client(
            params["oauth_consumer_key"],
            client_secret=consumer_secret,
            resource_owner_key=params["oauth_token"],
            resource_owner_secret=token_secret,
            nonce=params["oauth_nonce"],
            timestamp=params["oauth_timestamp"],
        )
        _, signed_headers, _ = signer.sign(request.url, call.method)
        expected = dict(parse_authorization_header(signed_headers["Authorization"]))
        if expected["oauth_signature"] != params["oauth_signature"]:
            return None
        return self.users[user_id]

    def _client_authenticated(self, call: Call) -> bool:
        auth = call.headers.get("Authorization", "")
        if not auth.startswith("Basic "):
            return False
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        return auth == f"Basic {expected}"

    def _token(self, call: Call):
        form = call.form
        bad = {
            "error": "invalid_request",
            "error_description": "Value passed for the token was invalid.",
        }
        if not self._client_authenticated(call):
            unauthorized = {
                "error": "unauthorized_client",
                "error_description": "Missing valid authorization header",
            }
            return 401, unauthorized, {}
        if form.get("grant_type") == "authorization_code":
            grant = self.codes.pop(form.get("code", ""), None)
            if grant is None or form.get("redirect_uri") != grant["redirect_uri"]:
                return 400, bad, {}
            digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
            challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if challenge != grant["challenge"]:
                return 400, bad, {}
            return 200, self.issue_tokens(grant["user_id"], scope=grant["scope"]), {}
        if form.get("grant_type") == "refresh_token":
            if self.on_refresh is not None:
                self.on_refresh(form.get("refresh_token"))
            user_id = self.refresh_tokens.pop(form.get("refresh_token", ""), None)
            if user_id is None:
                return 400, bad, {}
            return 200, self.issue_tokens(user_id), {}
        return 400, {"error": "unsupported_grant_type"}, {}


# --- Fixtures (import them into a test module) --------------------------------------------

LOUD_LOGGERS = (
    "",
    "urllib3",
    "urllib3.connectionpool",
    "requests",
    "requests_oauthlib",
    "requests_oauthlib.oauth1_auth",
    "oauthlib",
    "oauthlib.oauth1.rfc5849",
    "tweepy",
    "tweepy.client",
    "publishing",
    "accounts",
    "django",
    "celery",
)


@pytest.fixture
def fake_x(monkeypatch, settings):
    """A fresh fake X mounted on every session networks.x.adapter makes."""
    from networks.x import adapter as x

    settings.X_CLIENT_ID = CLIENT_ID
    settings.X_CLIENT_SECRET = CLIENT_SECRET
    settings.X_API_BASE = "https://api.x.com"
    settings.X_HTTP_TIMEOUT = 7
    fake = FakeX()
    monkeypatch.setattr(x, "transport_hook", fake.mount)
    return fake


@pytest.fixture
def secrets_never_logged(caplog, fake_x):
    """Everything logs at DEBUG during the test; afterwards no token or secret the fake
    handed out (nor the app's client secret) may appear in any record."""
    for name in LOUD_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name or None)
    yield caplog
    # At fixture teardown caplog.records is the teardown phase's; read every phase.
    records = [r for when in ("setup", "call") for r in caplog.get_records(when)]
    handler = logging.Formatter("%(name)s %(levelname)s %(message)s")
    logged = []
    for record in records:
        logged.append(handler.format(record))
        logged.append(repr(record.args))
    everything = "\n".join(logged)
    if fake_x.calls:
        assert records, "X was called but nothing was logged: is the log capture working?"
    leaked = [s for s in fake_x.issued if s in everything]
    assert not leaked, f"{len(leaked)} secret(s) appeared in the logs"
