"""A fake Discord: channel webhooks on a real HTTP server on 127.0.0.1, answering in the
shapes Discord's API documents (the Webhook and Message resources, "Uploading Files", the
JSON error and rate-limit bodies).

- GET /api[/v10]/webhooks/<id>/<token> (Get Webhook with Token) → the webhook object
  (type 1, id, name, channel_id, guild_id, application_id, token, ...).
- POST /api[/v10]/webhooks/<id>/<token>[?wait=true][&thread_id=] (Execute Webhook): JSON
  `{"content"}`, or multipart/form-data with `payload_json` and `files[n]` parts described by
  `attachments: [{"id": n, "filename", "description"}]`. At most 2,000 characters of content
  (code points, as Discord counts) and 10 files; an empty message is refused. With
  `wait=true` the answer is the message object; without it, 204 and no body.
- An unknown webhook id answers 404 `{"message": "Unknown Webhook", "code": 10015}`, a wrong
  token 401 `{"message": "Invalid Webhook Token", "code": 50027}`; a bad body 400
  `{"code": 50035, "errors": {...}, "message": "Invalid Form Body"}`.

Failures are scripted per route with `script()` (tests/networks/fake_http.py): a 429 body is
`rate_limited(seconds)`. Every request is kept in `calls`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import secrets

import pytest

from tests.networks.fake_http import FakeServer, Reply, Request

MAX_CONTENT = 2000
MAX_FILES = 10
ROUTE = re.compile(r"/api(?:/v\d+)?/webhooks/(?P<id>\d+)/(?P<token>[^/]+)")
INVALID_JSON = {"message": "The request body contains invalid JSON.", "code": 50109}
UNKNOWN_WEBHOOK = {"message": "Unknown Webhook", "code": 10015}
INVALID_TOKEN = {"message": "Invalid Webhook Token", "code": 50027}


def invalid_form_body(errors: dict) -> dict:
    return {"code": 50035, "errors": errors, "message": "Invalid Form Body"}


def field_error(code: str, message: str) -> dict:
    return {"_errors": [{"code": code, "message": message}]}


def rate_limited(seconds: float, *, is_global: bool = False) -> dict:
    return {"message": "You are being rate limited.", "retry_after": seconds, "global": is_global}


class FakeDiscord(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.webhooks: dict[str, dict] = {}
        self.messages: list[dict] = []
        self.issued: list[str] = []  # every token handed out (for the log scan)
        self._ids = itertools.count(1_180_000_000_000_000_001)

    def snowflake(self) -> str:
        return str(next(self._ids))

    # --- test helpers ---------------------------------------------------------------------
    def add_webhook(self, name: str = "Queue Loop", *, guild_id: str = "") -> dict:
        """A channel webhook; its "url" is what Discord's Copy Webhook URL gives."""
        webhook_id = self.snowflake()
        token = secrets.token_urlsafe(51)  # 68 characters, as Discord's
        self.issued.append(token)
        hook = {
            "application_id": None,
            "avatar": None,
            "channel_id": self.snowflake(),
            "guild_id": guild_id or self.snowflake(),
            "id": webhook_id,
            "name": name,
            "type": 1,
            "token": token,
        }
        self.webhooks[webhook_id] = hook
        return {**hook, "url": f"{self.url}/api/webhooks/{webhook_id}/{token}"}

    def path_of(self, hook: dict, *, version: int = 10) -> str:
        return f"/api/v{version}/webhooks/{hook['id']}/{hook['token']}"

    def delete_webhook(self, webhook_id: str) -> None:
        self.webhooks.pop(webhook_id, None)

    def messages_of(self, webhook_id: str) -> list[dict]:
        return [m for m in self.messages if m["webhook_id"] == webhook_id]

    # --- the API --------------------------------------------------------------------------
    def handle(self, request: Request) -> Reply:
        route = ROUTE.fullmatch(request.path)
        if route is None:
            return Reply(404, {"message": "404: Not Found", "code": 0})
        hook = self.webhooks.get(route["id"])
        if hook is None:
            return Reply(404, UNKNOWN_WEBHOOK)
        if not secrets.compare_digest(route["token"], hook["token"]):
            return Reply(401, INVALID_TOKEN)
        if request.method == "GET":
            return Reply(200, dict(hook))
        if request.method == "POST":
            return self._execute(request, hook)
        return Reply(405, {"message": "405: Method Not Allowed", "code": 0})

    def _execute(self, request: Request, hook: dict) -> Reply:
        content_type = request.headers.get("content-type", "")
        files: dict[int, tuple[str | None, str, bytes]] = {}
        if content_type.startswith("multipart/form-data"):
            parts = request.multipart()
            if "payload_json" not in parts:
                return Reply(400, {"message": "Cannot send an empty message", "code": 50006})
            try:
                payload = json.loads(parts["payload_json"][2])
            except ValueError:
                return Reply(400, INVALID_JSON)
            for name, part in parts.items():
                if found := re.fullmatch(r"files\[(\d+)\]", name or ""):
                    files[int(found[1])] = part
        elif content_type.startswith("application/json"):
            try:
                payload = json.loads(request.body)
            except ValueError:
                return Reply(400, INVALID_JSON)
        else:
            return Reply(400, {"message": "Cannot send an empty message", "code": 50006})
        content = payload.get("content") or ""
        if len(content) > MAX_CONTENT:
            too_long = field_error(
                "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_CONTENT} or fewer in length."
            )
            return Reply(400, invalid_form_body({"content": too_long}))
        if len(files) > MAX_FILES:
            said = f"Maximum number of attachments in a message reached ({MAX_FILES})"
            return Reply(400, {"message": said, "code": 30015})
        attachments = []
        described = {int(a["id"]): a for a in payload.get("attachments") or []}
        for n in described:
            if n not in files:
                missing = field_error("ATTACHMENT_NOT_FOUND", "Attachment data not found")
                return Reply(400, invalid_form_body({"attachments": {str(n): missing}}))
        for n in sorted(files):
            filename, file_type, data = files[n]
            declared = described.get(n, {})
            attachment_id = self.snowflake()
            name = declared.get("filename") or filename or f"file{n}"
            where = f"attachments/{hook['channel_id']}/{attachment_id}/{name}"
            attachment = {
                "id": attachment_id,
                "filename": name,
                "content_type": file_type,
                "size": len(data),
                "url": f"https://cdn.discordapp.com/{where}",
                "proxy_url": f"https://media.discordapp.net/{where}",
            }
            if declared.get("description"):
                attachment["description"] = declared["description"]
            attachments.append(attachment)
        if not content.strip() and not attachments:
            return Reply(400, {"message": "Cannot send an empty message", "code": 50006})
        channel_id = request.query.get("thread_id") or hook["channel_id"]
        message = {
            "id": self.snowflake(),
            "type": 0,
            "content": content,
            "channel_id": channel_id,
            "author": {
                "bot": True,
                "id": hook["id"],
                "username": hook["name"],
                "avatar": None,
                "discriminator": "0000",
            },
            "attachments": attachments,
            "embeds": [],
            "mentions": [],
            "mention_roles": [],
            "pinned": False,
            "mention_everyone": False,
            "tts": False,
            "timestamp": dt.datetime.now(dt.UTC).isoformat(),
            "edited_timestamp": None,
            "flags": 0,
            "components": [],
            "webhook_id": hook["id"],
        }
        self.messages.append(message)
        if request.query.get("wait") == "true":
            return Reply(200, message)
        return Reply(204)


@pytest.fixture
def fake_discord(settings):
    """A fresh fake Discord on 127.0.0.1, which the settings allow as Discord's host and as
    a webhook destination (as tests/settings.py allows its local receivers)."""
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.DISCORD_WEBHOOK_HOSTS = ["discord.com", "discordapp.com", "127.0.0.1"]
    settings.DISCORD_HTTP_TIMEOUT = 5
    fake = FakeDiscord().start()
    yield fake
    fake.stop()
