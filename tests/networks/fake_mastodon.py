"""A fake Mastodon instance: a real HTTP server on 127.0.0.1 that answers what Queue Loop
calls, in the shapes docs.joinmastodon.org documents.

- POST /api/v1/apps (client_name, redirect_uris, scopes) → Application with client_id/secret.
- GET /oauth/authorize is what the browser would open; tests call `authorize()` to get the
  code the instance would put on the redirect. GET /.well-known/oauth-authorization-server
  answers 404 (an instance before 4.3), so the default /oauth/token is used.
- POST /oauth/token (authorization_code; checks client secret, redirect URI, single-use code).
- GET /api/v1/accounts/verify_credentials, GET /api/v2/instance, GET /api/v1/instance.
- POST /api/v1/statuses (form or JSON; Bearer): Idempotency-Key honoured as Mastodon does —
  a repeated key returns the status made the first time — and the instance's character
  limit enforced with a 422 like Mastodon's validator. Status ids are snowflakes like
  Mastodon's (the time in milliseconds shifted 16 bits, then a sequence), and `content` is
  the HTML Mastodon renders (escaped text, <p> paragraphs, <br />, links and mentions in
  anchors with the invisible/ellipsis spans).
- GET /api/v1/accounts/:id/statuses (Bearer optional: without one, public and unlisted
  statuses only; a token whose scopes lack read:statuses is refused 403 as
  Mastodon's doorkeeper does) with limit (max 40), max_id, since_id and min_id (min_id:
  the page right after it), newest first.
- GET /api/v1/statuses/:id (Bearer optional; public and unlisted statuses, or the token's
  own): the Status with favourites_count, reblogs_count and replies_count (set them with
  `set_counts()`); an unknown or deleted id is a 404 "Record not found".
- GET /api/v1/statuses/:id/source (Bearer with read:statuses, own statuses): the text as
  posted.
"""

from __future__ import annotations

import datetime as dt
import html
import itertools
import re
import secrets
import time

import grapheme
import pytest
from mastodon import Mastodon

from tests.networks.fake_http import FakeServer, Reply, Request

ERROR_401 = Reply(401, {"error": "The access token is invalid"})
ERROR_403_SCOPE = Reply(403, {"error": "This action is outside the authorized scopes"})
STATUSES = re.compile(r"/api/v1/accounts/(\d+)/statuses")
SOURCE = re.compile(r"/api/v1/statuses/(\d+)/source")
STATUS = re.compile(r"/api/v1/statuses/(\d+)")
LINK = re.compile(r"https?://\S+")
MENTION = re.compile(r"@(\w+)@([\w.-]+\w)")


def render(text: str) -> str:
    """Mastodon's HTML for a status text (its TextFormatter, for links and mentions)."""

    def link(match: re.Match) -> str:
        url = match.group(0)
        scheme, rest = url.split("://", 1)
        shown, hidden = rest[:30], rest[30:]
        ellipsis = ' class="ellipsis"' if hidden else ""
        return (
            f'<a href="{url}" rel="nofollow noopener" translate="no" target="_blank">'
            f'<span class="invisible">{scheme}://</span><span{ellipsis}>{shown}</span>'
            f'<span class="invisible">{hidden}</span></a>'
        )

    def mention(match: re.Match) -> str:
        user, host = match.groups()
        return (
            f'<span class="h-card" translate="no"><a href="https://{host}/@{user}" '
            f'class="u-url mention">@<span>{user}</span></a></span>'
        )

    paragraphs = []
    for paragraph in re.split(r"\n{2,}", text.strip()):
        escaped = html.escape(paragraph, quote=False)
        escaped = LINK.sub(link, escaped)
        escaped = MENTION.sub(mention, escaped)
        paragraphs.append("<p>" + escaped.replace("\n", "<br />") + "</p>")
    return "".join(paragraphs)


class FakeMastodon(FakeServer):
    def __init__(self, *, max_characters: int = 500, domain: str = "fake.social") -> None:
        super().__init__()
        self.max_characters = max_characters
        self.image_size_limit = 16 * 1024 * 1024
        self.media: dict[str, dict] = {}
        self.domain = domain
        self.apps: dict[str, dict] = {}  # client_id → app
        self.codes: dict[str, dict] = {}
        self.tokens: dict[str, str] = {}  # token → account id
        self.accounts: dict[str, dict] = {}
        self.statuses: list[dict] = []
        self.by_key: dict[tuple[str, str], dict] = {}
        self.issued: list[str] = []  # every secret handed out (for the log scan)
        self.scopes: dict[str, set[str]] = {}  # token → scopes, when not every scope
        self._sequence = itertools.count(1)
        self._ids = itertools.count(110_000_000_000_000_001)

    # --- test helpers ---------------------------------------------------------------------
    def add_account(self, username: str = "alice") -> tuple[str, str]:
        """(account id, access token)."""
        account_id = str(next(self._ids))
        self.accounts[account_id] = {"id": account_id, "username": username}
        token = secrets.token_urlsafe(32)
        self.tokens[token] = account_id
        self.issued.append(token)
        return account_id, token

    def authorize(self, client_id: str, redirect_uri: str, account_id: str) -> str:
        app = self.apps[client_id]
        assert redirect_uri in app["redirect_uris"]
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "account": account_id,
        }
        self.issued.append(code)
        return code

    def limit_scopes(self, token: str, scopes: str) -> None:
        """The token was granted only these scopes (e.g. before read:statuses was asked)."""
        self.scopes[token] = set(scopes.split())

    def _snowflake(self) -> str:
        return str((int(time.time() * 1000) << 16) + next(self._sequence) % 65536)

    def set_counts(self, status_id: str, **counts: int) -> None:
        """favourites_count=3, reblogs_count=1, replies_count=2."""
        next(s for s in self.statuses if s["id"] == status_id).update(counts)

    def delete_status(self, status_id: str) -> None:
        self.statuses = [s for s in self.statuses if s["id"] != status_id]

    def statuses_of(self, account_id: str) -> list[dict]:
        return [s for s in self.statuses if s["account"]["id"] == account_id]

    # --- the API --------------------------------------------------------------------------
    def handle(self, request: Request) -> Reply:
        route = (request.method, request.path)
        if route == ("POST", "/api/v1/apps"):
            return self._create_app(request)
        if route == ("POST", "/oauth/token"):
            return self._token(request)
        if route == ("GET", "/api/v2/instance"):
            return Reply(200, self._instance_v2())
        if route == ("GET", "/api/v1/instance"):
            return Reply(200, {"uri": self.domain, "title": "Fake Social", "version": "4.3.0"})
        account_id = self.tokens.get(request.bearer or "")
        if route == ("GET", "/api/v1/accounts/verify_credentials"):
            if account_id is None:
                return ERROR_401
            return Reply(200, self._account(account_id))
        if route == ("POST", "/api/v1/statuses"):
            if account_id is None:
                return ERROR_401
            return self._post_status(request, account_id)
        if route == ("POST", "/api/v2/media"):
            if account_id is None:
                return ERROR_401
            return self._post_media(request, account_id)
        listing = STATUSES.fullmatch(request.path)
        if request.method == "GET" and listing:
            if request.bearer and account_id is None:
                return ERROR_401
            if request.bearer and not self._may_read(request.bearer):
                return ERROR_403_SCOPE
            return self._list_statuses(request, listing.group(1), viewer=account_id)
        one = STATUS.fullmatch(request.path)
        if request.method == "GET" and one:
            if request.bearer and account_id is None:
                return ERROR_401
            found = [
                s
                for s in self.statuses
                if s["id"] == one.group(1)
                and (s["visibility"] in ("public", "unlisted") or s["account"]["id"] == account_id)
            ]
            if not found:
                return Reply(404, {"error": "Record not found"})
            shown = {k: v for k, v in found[0].items() if k not in ("text", "idempotency_key")}
            return Reply(200, shown)
        source = SOURCE.fullmatch(request.path)
        if request.method == "GET" and source:
            if account_id is None:
                return ERROR_401
            if not self._may_read(request.bearer):
                return ERROR_403_SCOPE
            found = [s for s in self.statuses_of(account_id) if s["id"] == source.group(1)]
            if not found:
                return Reply(404, {"error": "Record not found"})
            return Reply(200, {"id": found[0]["id"], "text": found[0]["text"], "spoiler_text": ""})
        return Reply(404, {"error": "Record not found"})

    def _may_read(self, token: str) -> bool:
        granted = self.scopes.get(token)
        return granted is None or bool({"read", "read:statuses"} & granted)

    def _list_statuses(self, request: Request, account_id: str, *, viewer: str | None) -> Reply:
        if account_id not in self.accounts:
            return Reply(404, {"error": "Record not found"})
        try:
            limit = min(int(request.query.get("limit") or 20), 40)
            bounds = {
                k: int(request.query[k])
                for k in ("max_id", "since_id", "min_id")
                if request.query.get(k)
            }
        except ValueError:
            return Reply(400, {"error": "Invalid id or limit"})
        mine = [
            s
            for s in self.statuses_of(account_id)
            if viewer == account_id or s["visibility"] in ("public", "unlisted")
        ]
        mine = [
            s
            for s in mine
            if ("max_id" not in bounds or int(s["id"]) < bounds["max_id"])
            and ("since_id" not in bounds or int(s["id"]) > bounds["since_id"])
            and ("min_id" not in bounds or int(s["id"]) > bounds["min_id"])
        ]
        mine.sort(key=lambda s: int(s["id"]))
        # min_id: the page right after it (oldest first, shown newest first); otherwise the
        # newest page.
        page = mine[:limit] if "min_id" in bounds else mine[-limit:]
        shown = [{k: v for k, v in s.items() if k not in ("text", "idempotency_key")} for s in page]
        return Reply(200, list(reversed(shown)))

    def _instance_v2(self) -> dict:
        return {
            "domain": self.domain,
            "title": "Fake Social",
            "version": "4.3.0",
            "api_versions": {"mastodon": 2},
            "configuration": {
                "statuses": {
                    "max_characters": self.max_characters,
                    "max_media_attachments": 4,
                    "characters_reserved_per_url": 23,
                },
                "media_attachments": {
                    "supported_mime_types": ["image/jpeg", "image/png", "image/gif", "image/webp"],
                    "image_size_limit": self.image_size_limit,
                    "image_matrix_limit": 33_177_600,
                },
            },
        }

    def _account(self, account_id: str) -> dict:
        username = self.accounts[account_id]["username"]
        return {
            "id": account_id,
            "username": username,
            "acct": username,
            "display_name": username.title(),
            "url": f"https://{self.domain}/@{username}",
            "created_at": "2024-01-01T00:00:00.000Z",
        }

    def _create_app(self, request: Request) -> Reply:
        name = request.field("client_name")
        redirect_uris = request.field("redirect_uris")
        if not name or not redirect_uris:
            return Reply(422, {"error": "Validation failed: Application name can't be blank"})
        client_id = secrets.token_urlsafe(16)
        client_secret = secrets.token_urlsafe(32)
        self.issued.append(client_secret)
        app = {
            "id": str(len(self.apps) + 1),
            "name": name,
            "website": request.field("website") or None,
            "scopes": request.field("scopes").split(),
            "redirect_uri": redirect_uris,
            "redirect_uris": redirect_uris.split(),
            "client_id": client_id,
            "client_secret": client_secret,
            "client_secret_expires_at": 0,
        }
        self.apps[client_id] = app
        return Reply(200, app)

    def _token(self, request: Request) -> Reply:
        app = self.apps.get(request.field("client_id"))
        if app is None or request.field("client_secret") != app["client_secret"]:
            return Reply(401, {"error": "invalid_client"})
        if request.field("grant_type") != "authorization_code":
            return Reply(400, {"error": "unsupported_grant_type"})
        grant = self.codes.pop(request.field("code"), None)
        if grant is None or grant["redirect_uri"] != request.field("redirect_uri"):
            return Reply(400, {"error": "invalid_grant"})
        token = secrets.token_urlsafe(32)
        self.tokens[token] = grant["account"]
        self.issued.append(token)
        return Reply(
            200,
            {
                "access_token": token,
                "token_type": "Bearer",
                "scope": " ".join(app["scopes"]),
                "created_at": 1_700_000_000,
            },
        )

    def _post_media(self, request: Request, account_id: str) -> Reply:
        parts = request.multipart()
        if "file" not in parts:
            return Reply(422, {"error": "Validation failed: File can't be blank"})
        _filename, content_type, data = parts["file"]
        if len(data) > self.image_size_limit:
            return Reply(
                422, {"error": "Validation failed: File file size must be less than 16 MB"}
            )
        if not content_type.startswith("image/"):
            return Reply(422, {"error": "Validation failed: File has contents not of their type"})
        media_id = str(next(self._ids))
        description = parts.get("description", (None, "", b""))[2].decode() or None
        attachment = {
            "id": media_id,
            "type": "image",
            "url": f"https://files.{self.domain}/media/{media_id}.jpg",
            "preview_url": f"https://files.{self.domain}/media/{media_id}-small.jpg",
            "description": description,
            "blurhash": "UFBWY:8_0Jxv%MxuRjM{9ZRj%MRj~qM{M{of",
            "meta": {},
        }
        self.media[media_id] = {
            **attachment,
            "account": account_id,
            "bytes": data,
            "content_type": content_type,
        }
        return Reply(200, attachment)

    def _post_status(self, request: Request, account_id: str) -> Reply:
        key = request.headers.get("idempotency-key")
        if key and (account_id, key) in self.by_key:
            return Reply(200, self.by_key[(account_id, key)])
        text = request.field("status")
        if not text.strip():
            return Reply(422, {"error": "Validation failed: Text can't be blank"})
        limit = self.max_characters
        if Mastodon.get_status_length(text) > limit:
            return Reply(
                422,
                {"error": f"Validation failed: Text character limit of {limit} exceeded"},
            )
        reply_to = request.field("in_reply_to_id") or None
        if reply_to is not None and not any(s["id"] == reply_to for s in self.statuses):
            # Mastodon looks the status up first: an unknown id is ActiveRecord's 404.
            return Reply(404, {"error": "Record not found"})
        media_ids = request.form.get("media_ids[]") or request.form.get("media_ids") or []
        if len(media_ids) > 4:
            return Reply(422, {"error": "Validation failed: Media attachments too many"})
        if any(self.media.get(m, {}).get("account") != account_id for m in media_ids):
            return Reply(422, {"error": "Validation failed: Media attachments are invalid"})
        attachments = [
            {
                k: v
                for k, v in self.media[m].items()
                if k not in ("account", "bytes", "content_type")
            }
            for m in media_ids
        ]
        status_id = self._snowflake()
        account = self._account(account_id)
        status = {
            "id": status_id,
            "created_at": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
            "in_reply_to_id": reply_to,
            "sensitive": False,
            "spoiler_text": request.field("spoiler_text"),
            "visibility": request.field("visibility") or "public",
            "language": request.field("language") or None,
            "uri": f"https://{self.domain}/users/{account['username']}/statuses/{status_id}",
            "url": f"https://{self.domain}/@{account['username']}/{status_id}",
            "content": render(text),
            "text_graphemes": grapheme.length(text),
            "account": account,
            "media_attachments": attachments,
            "mentions": [],
            "tags": [],
            "emojis": [],
            "replies_count": 0,
            "reblogs_count": 0,
            "favourites_count": 0,
        }
        self.statuses.append({**status, "text": text, "idempotency_key": key})
        if key:
            self.by_key[(account_id, key)] = status
        return Reply(200, status)


@pytest.fixture
def fake_mastodon(settings):
    settings.INSTANCE_ALLOWED_HOSTS = ["127.0.0.1"]
    fake = FakeMastodon().start()
    yield fake
    fake.stop()
