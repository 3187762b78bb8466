"""A fake Threads API (graph.threads.net): a real HTTP server on 127.0.0.1 answering in the
shapes developers.facebook.com/docs/threads documents. THREADS_API_BASE points at
`<fake>/v1.0`; the token endpoints sit at its root.

- POST /oauth/access_token (client_id, client_secret, grant_type=authorization_code,
  redirect_uri, code) → {"access_token", "user_id"} (a short-lived token, one hour).
- GET /access_token?grant_type=th_exchange_token&client_secret&access_token → {"access_token",
  "token_type": "bearer", "expires_in": 5183944} (60 days).
- GET /refresh_access_token?grant_type=th_refresh_token&access_token → the same shape; only
  for a long-lived token at least 24 hours old and not expired.
- GET /v1.0/me?fields=id,username → the profile.
- POST /v1.0/{user-id}/threads (media_type TEXT / IMAGE / CAROUSEL, text, image_url,
  alt_text, is_carousel_item, children, reply_to_id) → {"id": container id}. TEXT needs
  text; text over 500 (emoji as UTF-8 bytes) is refused; IMAGE needs image_url; CAROUSEL
  2-20 children that are carousel items; reply_to_id must be a published post.
- GET /v1.0/{container-id}?fields=id,status,error_message → {"id", "status"}: FINISHED (an
  IMAGE container starts as `image_status`, IN_PROGRESS when a test says so), PUBLISHED once
  published, EXPIRED after 24 hours unpublished.
- POST /v1.0/{user-id}/threads_publish?creation_id= → {"id": media id}; the post is made,
  the container becomes PUBLISHED. Publishing a container twice is refused here (code 100):
  the docs give a container one media object; the exact answer of a repeat is not
  documented, so Queue Loop never sends one (it asks the container's status first).
- GET /v1.0/{user-id}/threads_publishing_limit?fields=quota_usage,config → {"data":
  [{"quota_usage", "config": {"quota_total": 250, "quota_duration": 86400}}]}; at the cap,
  threads_publish is refused with code 4 (a rate limit).
- GET /v1.0/{user-id}/threads and /replies?fields=id,permalink,text,timestamp → {"data": [...]},
  newest first; GET /v1.0/{media-id}?fields=permalink → the post.
- GET /v1.0/{media-id}/insights?metric=likes,replies,reposts,quotes,views → {"data": [{"name",
  "period": "lifetime", "values": [{"value"}], "title", "description", "id":
  "<media>/insights/<name>/lifetime"}]}, the metrics asked for (the token's own posts;
  another's or a deleted one: code 100, subcode 33). `set_insights(id, likes=3, views=90)`;
  replies count the replies made; `delete_post(id)`.

Errors are Meta's `{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}`;
a bad token is 400 with code 190 (OAuthException).
"""

from __future__ import annotations

import itertools
import secrets
import time

import pytest

from networks.threads.adapter import threads_length
from tests.networks.fake_http import FakeServer, Reply, Request

APP_ID = "990602627938098"
APP_SECRET = "fake-threads-app-secret"
LONG_LIVED = 5183944
DAY = 24 * 3600


def error(
    status: int, message: str, *, code: int, subcode: int | None = None, kind="THApiException"
):
    body = {"message": message, "type": kind, "code": code, "fbtrace_id": "AbCdEf123"}
    if subcode is not None:
        body["error_subcode"] = subcode
    return Reply(status, {"error": body})


BAD_TOKEN = ("Invalid OAuth access token - Cannot parse access token", 190)


class FakeThreads(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.users: dict[str, dict] = {}  # user id → {"username"}
        self.tokens: dict[str, dict] = {}  # token → {"user_id", "expires_at", "issued_at", "long"}
        self.codes: dict[str, str] = {}  # authorization code → user id
        self.containers: dict[str, dict] = {}
        self.posts: list[dict] = []
        self.quota_total = 250
        self.extra_usage: dict[str, int] = {}  # posts made elsewhere in the last 24 h
        self.image_status = "FINISHED"
        self.insights: dict[str, dict[str, int]] = {}  # media id → {metric: value}
        self.redirect_uri = ""
        self._ids = itertools.count(17_889_615_691_921_648)

    # --- test helpers ---------------------------------------------------------------------
    def add_user(self, username: str = "queueloop") -> tuple[str, str]:
        """A profile and a long-lived token for it: (user id, token)."""
        user_id = str(next(self._ids))
        self.users[user_id] = {"username": username}
        return user_id, self.issue(user_id, long=True)

    def issue(self, user_id: str, *, long: bool) -> str:
        token = "THAA" + secrets.token_urlsafe(40)
        now = time.time()
        self.tokens[token] = {
            "user_id": user_id,
            "issued_at": now,
            "expires_at": now + (LONG_LIVED if long else 3600),
            "long": long,
        }
        return token

    def authorization_code(self, user_id: str) -> str:
        code = secrets.token_urlsafe(24)
        self.codes[code] = user_id
        return code

    def set_insights(self, media_id: str, **values: int) -> None:
        self.insights[media_id] = {**self.insights.get(media_id, {}), **values}

    def delete_post(self, media_id: str) -> None:
        self.posts = [p for p in self.posts if p["id"] != media_id]

    def posts_of(self, user_id: str) -> list[dict]:
        return [p for p in self.posts if p["user_id"] == user_id]

    def usage(self, user_id: str) -> int:
        since = time.time() - DAY
        made = [p for p in self.posts_of(user_id) if not p["reply_to_id"] and p["at"] > since]
        return len(made) + self.extra_usage.get(user_id, 0)

    # --- serving --------------------------------------------------------------------------
    def _params(self, request: Request) -> dict:
        values = dict(request.query)
        values.update({k: v[0] for k, v in request.form.items() if v})
        return values

    def _token(self, request: Request, params: dict) -> str | None:
        token = request.bearer or params.get("access_token")
        info = self.tokens.get(token or "")
        if info is None or info["expires_at"] <= time.time():
            return None
        return token

    def handle(self, request: Request) -> Reply:
        params = self._params(request)
        path = request.path
        if path == "/oauth/access_token" and request.method == "POST":
            return self._exchange_code(params)
        if path == "/access_token":
            return self._long_lived(params)
        if path == "/refresh_access_token":
            return self._refresh(params)
        if not path.startswith("/v1.0/"):
            return error(404, "Unknown path", code=803)
        token = self._token(request, params)
        if token is None:
            return error(400, BAD_TOKEN[0], code=BAD_TOKEN[1], kind="OAuthException")
        me = self.tokens[token]["user_id"]
        parts = path.removeprefix("/v1.0/").split("/")
        if parts == ["me"]:
            return Reply(200, {"id": me, "username": self.users[me]["username"]})
        if len(parts) == 2 and parts[0] in (me, "me"):
            edge = parts[1]
            if edge == "threads" and request.method == "POST":
                return self._create(me, params)
            if edge == "threads_publish" and request.method == "POST":
                return self._publish(me, params)
            if edge == "threads_publishing_limit":
                return Reply(
                    200,
                    {
                        "data": [
                            {
                                "quota_usage": self.usage(me),
                                "config": {
                                    "quota_total": self.quota_total,
                                    "quota_duration": 86400,
                                },
                            }
                        ]
                    },
                )
            if edge in ("threads", "replies"):
                replies = edge == "replies"
                rows = [
                    self._media(p)
                    for p in reversed(self.posts_of(me))
                    if bool(p["reply_to_id"]) == replies
                ]
                return Reply(200, {"data": rows[: int(params.get("limit") or 25)]})
        if len(parts) == 2 and parts[1] == "insights" and request.method == "GET":
            return self._insights(me, parts[0], params)
        if len(parts) == 1:
            return self._read(me, parts[0])
        return error(400, "Unsupported request", code=100)

    def _media(self, post: dict) -> dict:
        return {
            "id": post["id"],
            "permalink": post["permalink"],
            "text": post["text"],
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(post["at"])),
        }

    def _read(self, me: str, object_id: str) -> Reply:
        container = self.containers.get(object_id)
        if container is not None and container["user_id"] == me:
            status = container["status"]
            if status not in ("PUBLISHED",) and time.time() - container["at"] > DAY:
                status = container["status"] = "EXPIRED"
            return Reply(200, {"id": object_id, "status": status})
        post = next((p for p in self.posts if p["id"] == object_id), None)
        if post is not None:
            return Reply(200, self._media(post))
        return error(
            400,
            f"Unsupported get request. Object with ID '{object_id}' does not exist",
            code=100,
            subcode=33,
        )

    def _insights(self, me: str, media_id: str, params: dict) -> Reply:
        post = next((p for p in self.posts if p["id"] == media_id and p["user_id"] == me), None)
        if post is None:
            return error(
                400,
                f"Unsupported get request. Object with ID '{media_id}' does not exist, cannot "
                "be loaded due to missing permissions, or does not support this operation",
                code=100,
                subcode=33,
            )
        names = [m for m in params.get("metric", "").split(",") if m]
        known = ("views", "likes", "replies", "reposts", "quotes", "shares")
        if not names or any(m not in known for m in names):
            return error(400, "(#100) metric must be one of " + ", ".join(known), code=100)
        values = {
            **self.insights.get(media_id, {}),
            "replies": sum(1 for p in self.posts if p["reply_to_id"] == media_id)
            + self.insights.get(media_id, {}).get("replies", 0),
        }
        return Reply(
            200,
            {
                "data": [
                    {
                        "name": name,
                        "period": "lifetime",
                        "values": [{"value": values.get(name, 0)}],
                        "title": name.capitalize(),
                        "description": f"The number of {name} of your post.",
                        "id": f"{media_id}/insights/{name}/lifetime",
                    }
                    for name in names
                ]
            },
        )

    def _create(self, me: str, params: dict) -> Reply:
        media_type = params.get("media_type", "")
        text = params.get("text", "")
        if threads_length(text) > 500:
            return error(400, "The post's text is over 500 characters.", code=100, subcode=4279008)
        reply_to = params.get("reply_to_id", "")
        if reply_to and not any(p["id"] == reply_to for p in self.posts):
            return error(400, "The reply_to_id post does not exist.", code=100)
        container = {
            "user_id": me,
            "media_type": media_type,
            "text": text,
            "reply_to_id": reply_to,
            "status": "FINISHED",
            "at": time.time(),
            "images": [],
            "carousel_item": params.get("is_carousel_item") == "true",
        }
        if media_type == "TEXT":
            if not text:
                return error(400, "Param text is required for a TEXT post.", code=100)
        elif media_type == "IMAGE":
            if not params.get("image_url", "").startswith(("http://", "https://")):
                return error(400, "Param image_url is required and must be a URL.", code=100)
            container["images"] = [(params["image_url"], params.get("alt_text", ""))]
            container["status"] = self.image_status
        elif media_type == "CAROUSEL":
            children = [c for c in params.get("children", "").split(",") if c]
            if not 2 <= len(children) <= 20:
                return error(400, "A carousel takes 2 to 20 children.", code=100)
            for child in children:
                item = self.containers.get(child)
                if item is None or not item["carousel_item"] or item["user_id"] != me:
                    return error(400, f"Child {child} is not a carousel item.", code=100)
                if item["status"] != "FINISHED":
                    return error(400, f"Child {child} is not ready ({item['status']}).", code=100)
                container["images"].extend(item["images"])
        else:
            return error(
                400, "Param media_type must be one of TEXT, IMAGE, VIDEO, CAROUSEL", code=100
            )
        container_id = str(next(self._ids))
        self.containers[container_id] = container
        return Reply(200, {"id": container_id})

    def _publish(self, me: str, params: dict) -> Reply:
        container_id = params.get("creation_id", "")
        container = self.containers.get(container_id)
        if container is None or container["user_id"] != me or container["carousel_item"]:
            return error(
                400,
                "The requested resource does not exist",
                code=24,
                subcode=4279009,
                kind="OAuthException",
            )
        if container["status"] == "PUBLISHED":
            return error(400, "This container was already published.", code=100)
        if container["status"] != "FINISHED":
            return error(
                400,
                "The requested resource does not exist",
                code=24,
                subcode=4279009,
                kind="OAuthException",
            )
        if not container["reply_to_id"] and self.usage(me) >= self.quota_total:
            return error(400, "Application request limit reached", code=4)
        media_id = str(next(self._ids))
        username = self.users[me]["username"]
        self.posts.append(
            {
                "id": media_id,
                "user_id": me,
                "text": container["text"],
                "reply_to_id": container["reply_to_id"],
                "images": container["images"],
                "media_type": container["media_type"],
                "container": container_id,
                "at": time.time(),
                "permalink": f"https://www.threads.net/@{username}/post/{media_id}",
            }
        )
        container["status"] = "PUBLISHED"
        return Reply(200, {"id": media_id})

    # --- tokens ---------------------------------------------------------------------------
    def _exchange_code(self, params: dict) -> Reply:
        if params.get("client_id") != APP_ID or params.get("client_secret") != APP_SECRET:
            return error(400, "Error validating client secret.", code=1, kind="OAuthException")
        user_id = self.codes.pop(params.get("code", ""), None)
        if user_id is None or params.get("grant_type") != "authorization_code":
            return error(400, "Invalid verification code format.", code=100, kind="OAuthException")
        if self.redirect_uri and params.get("redirect_uri") != self.redirect_uri:
            return error(
                400,
                "Error validating verification code: redirect_uri differs.",
                code=100,
                kind="OAuthException",
            )
        return Reply(
            200, {"access_token": self.issue(user_id, long=False), "user_id": int(user_id)}
        )

    def _long_lived(self, params: dict) -> Reply:
        info = self.tokens.get(params.get("access_token", ""))
        if (
            params.get("grant_type") != "th_exchange_token"
            or params.get("client_secret") != APP_SECRET
        ):
            return error(400, "Invalid grant or secret.", code=100, kind="OAuthException")
        if info is None or info["long"] or info["expires_at"] <= time.time():
            return error(400, BAD_TOKEN[0], code=190, kind="OAuthException")
        token = self.issue(info["user_id"], long=True)
        return Reply(200, {"access_token": token, "token_type": "bearer", "expires_in": LONG_LIVED})

    def _refresh(self, params: dict) -> Reply:
        info = self.tokens.get(params.get("access_token", ""))
        if params.get("grant_type") != "th_refresh_token":
            return error(400, "Invalid grant_type.", code=100, kind="OAuthException")
        now = time.time()
        if info is None or not info["long"] or info["expires_at"] <= now:
            return error(
                400,
                "Error validating access token: Session has expired.",
                code=190,
                kind="OAuthException",
            )
        if now - info["issued_at"] < DAY:
            return error(400, "The token must be at least 24 hours old to refresh.", code=100)
        token = self.issue(info["user_id"], long=True)
        return Reply(200, {"access_token": token, "token_type": "bearer", "expires_in": LONG_LIVED})


@pytest.fixture
def fake_threads(settings):
    from networks.threads import api

    settings.INSTANCE_ALLOWED_HOSTS = ["127.0.0.1"]
    fake = FakeThreads().start()
    settings.THREADS_API_BASE = fake.url + "/v1.0"
    settings.THREADS_APP_ID = APP_ID
    settings.THREADS_APP_SECRET = APP_SECRET
    api.reset_session()
    yield fake
    api.reset_session()
    fake.stop()
