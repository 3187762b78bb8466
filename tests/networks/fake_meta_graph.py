"""A fake Meta Graph API (graph.facebook.com/vXX.X) on 127.0.0.1, answering in the shapes
Meta documents, for Facebook Pages and Instagram (Facebook Login):

- `GET /oauth/access_token` with `code` (client_id, client_secret, redirect_uri) → a user
  token; with `grant_type=fb_exchange_token` → a long-lived one (`expires_in` 60 days);
- `GET /me/accounts` → {"data": [{id, name, access_token, tasks,
  instagram_business_account}], "paging"}; `GET /debug_token` → {"data": {is_valid,
  expires_at, scopes...}};
- Pages: `GET /{page-id}`, `GET /{page-id}/posts` (refused with code 10 for a Page in
  `reads_revoked`), `POST /{page-id}/feed` {message, link, attached_media[n]} →
  {"id": "<page>_<post>"}, `POST /{page-id}/photos` (multipart `source`, caption,
  published) → {"id", "post_id"} (or {"id"} unpublished), `POST /{post-id}/comments`;
- Instagram: `GET /{ig-user-id}`, `GET /{ig-user-id}/content_publishing_limit` →
  {"data": [{"quota_usage", "config": {"quota_total": 100, "quota_duration": 86400}}]},
  `POST /{ig-user-id}/media` (image_url, caption, alt_text, is_carousel_item; media_type
  CAROUSEL with children) → {"id"}, `GET /{container-id}?fields=status_code`,
  `POST /{ig-user-id}/media_publish` {creation_id} → {"id"}, `GET /{media-id}` (permalink),
  `GET /{ig-user-id}/media`, `GET|POST /{media-id}/comments`.
- Counts, many objects a call: `GET /?ids=a,b&fields=...` → `{"a": {...}, "b": {...}}`
  (at most 50 ids). A Page post answers `reactions.limit(0).summary(total_count)` as
  `{"reactions": {"data": [], "summary": {"total_count", "viewer_reaction": "NONE"}}}`,
  `comments...` likewise (`{"order": "ranked", "total_count", "can_comment"}`) and `shares`
  as `{"count"}` (absent when nobody shared it); an Instagram media answers `like_count` and
  `comments_count`. An id the token cannot see spoils the call: 400 `(#803) Some of the
  aliases you requested do not exist: <ids>`, or for an id asked alone `(#100) Object with ID
  '<id>' does not exist...` (subcode 33). `set_counts(id, reactions=3, shares=1)` (Facebook)
  or `set_counts(id, like_count=3)` (Instagram); comments count the comments made;
  `delete(id)` removes a post or media.

Errors are `{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}`.
Tokens come in `Authorization: Bearer` or `access_token`. What is posted is kept in
`posts` (Facebook) and `media` (Instagram). Scripted failures come from FakeServer:
`script("POST", fake.path("<page>/feed"), Scripted(...))`.
"""

from __future__ import annotations

import itertools
import json
import secrets

import pytest

from tests.networks.fake_http import FakeServer, Reply, Request

VERSION = "v25.0"
APP_ID = "1234567890"
APP_SECRET = "app-secret-for-tests"
LONG_LIVED = 60 * 24 * 3600
PUBLISH_QUOTA = 100


def error(
    status: int, code: int, message: str, *, subcode: int | None = None, kind="OAuthException"
):
    body = {"message": message, "type": kind, "code": code, "fbtrace_id": secrets.token_hex(6)}
    if subcode is not None:
        body["error_subcode"] = subcode
    return Reply(status, {"error": body})


BAD_TOKEN = error(
    400, 190, "Error validating access token: The session has been invalidated.", subcode=460
)


class FakeMetaGraph(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.users: dict[str, dict] = {}  # user token → {"id", "name", "long": bool}
        self.codes: dict[str, str] = {}  # sign-in code → user token
        self.pages: dict[str, dict] = {}  # page id → page
        self.page_tokens: dict[str, str] = {}  # page token → page id
        self.ig_users: dict[str, dict] = {}
        self.posts: list[dict] = []
        self.photos: dict[str, dict] = {}
        self.containers: dict[str, dict] = {}
        self.media: list[dict] = []
        self.comments: list[dict] = []
        self.quota_usage: dict[str, int] = {}
        self.counts: dict[str, dict[str, int]] = {}  # post or media id → its counts
        # Pages whose token may no longer read (the app's access was taken away in the
        # Page's settings): Meta then says of each post that it "does not exist, cannot be
        # loaded due to missing permissions", and refuses the post lists with code 10.
        self.reads_revoked: set[str] = set()
        self.issued: list[str] = []  # every token handed out (for the log scan)
        self._ids = itertools.count(17_841_400_000_000_001)

    # --- test helpers -----------------------------------------------------------------
    def path(self, tail: str) -> str:
        return f"/{VERSION}/{tail}"

    def _id(self) -> str:
        return str(next(self._ids))

    def _token(self, prefix: str) -> str:
        token = f"{prefix}{secrets.token_urlsafe(24)}"
        self.issued.append(token)
        return token

    def add_user(self, name: str = "Alice") -> str:
        """A person who signs in; returns a sign-in code for the dialog's redirect."""
        token = self._token("EAAshort")
        self.users[token] = {"id": self._id(), "name": name, "long": False}
        code = secrets.token_urlsafe(16)
        self.codes[code] = token
        return code

    def add_page(
        self,
        name: str = "Queue Loop News",
        *,
        owner_code: str | None = None,
        instagram: str | None = None,
    ) -> dict:
        """A Page (managed by the user of `owner_code`, else nobody), with an Instagram
        professional account `instagram` (its username) linked when given."""
        page = {"id": self._id(), "name": name, "owner": None, "instagram": None}
        if owner_code:
            page["owner"] = self.users[self.codes[owner_code]]["id"]
        token = self._token("EAApage")
        page["token"] = token
        self.page_tokens[token] = page["id"]
        if instagram:
            ig = {"id": self._id(), "username": instagram, "page_id": page["id"]}
            self.ig_users[ig["id"]] = ig
            page["instagram"] = ig["id"]
        self.pages[page["id"]] = page
        return page

    def revoke(self, token: str) -> None:
        self.page_tokens.pop(token, None)
        self.users.pop(token, None)

    def set_counts(self, object_id: str, **counts: int) -> None:
        self.counts[object_id] = {**self.counts.get(object_id, {}), **counts}

    def delete(self, object_id: str) -> None:
        self.posts = [p for p in self.posts if p["id"] != object_id]
        self.media = [m for m in self.media if m["id"] != object_id]

    def posts_of(self, page_id: str) -> list[dict]:
        return [p for p in self.posts if p["page_id"] == page_id]

    def media_of(self, ig_id: str) -> list[dict]:
        return [m for m in self.media if m["ig_user"] == ig_id]

    # --- the API ----------------------------------------------------------------------
    def handle(self, request: Request) -> Reply:
        prefix = f"/{VERSION}/"
        if request.path == f"/{VERSION}" and request.method == "GET":
            return self._many(request, self._params(request))
        if not request.path.startswith(prefix):
            return error(400, 2635, "Unsupported or missing API version.")
        parts = request.path[len(prefix) :].split("/")
        params = self._params(request)
        if parts == ["oauth", "access_token"]:
            return self._access_token(params)
        if parts == ["debug_token"]:
            return self._debug_token(params)
        token = request.bearer or params.get("access_token", "")
        if parts == ["me", "accounts"]:
            user = self.users.get(token)
            if user is None:
                return BAD_TOKEN
            return self._accounts(user)
        page_id = self.page_tokens.get(token)
        if page_id is None:
            return BAD_TOKEN
        node, edge = parts[0], (parts[1] if len(parts) > 1 else "")
        if node == page_id:
            return self._page(request, params, self.pages[page_id], edge)
        ig_id = self.pages[page_id]["instagram"]
        if ig_id and node == ig_id:
            return self._ig_user(request, params, self.ig_users[ig_id], edge)
        if node in self.containers and self.containers[node]["ig_user"] == ig_id and not edge:
            container = self.containers[node]
            return Reply(200, {"id": node, "status_code": container["status_code"]})
        for media in self.media:
            if media["id"] == node and media["ig_user"] == ig_id:
                return self._ig_media(request, params, media, edge)
        for post in self.posts:
            if post["id"] == node and post["page_id"] == page_id and edge == "comments":
                return self._comment(post, params, kind="facebook")
        return error(
            400,
            100,
            f"Unsupported {request.method.lower()} request. Object with ID '{node}' does not "
            "exist, cannot be loaded due to missing permissions, or does not support this "
            "operation.",
            subcode=33,
            kind="GraphMethodException",
        )

    def _many(self, request: Request, params: dict) -> Reply:
        """`GET /?ids=a,b&fields=...`: every id's fields, or an error naming the missing."""
        page_id = self.page_tokens.get(request.bearer or params.get("access_token", ""))
        if page_id is None:
            return BAD_TOKEN
        ids = [i for i in params.get("ids", "").split(",") if i]
        if not ids or len(ids) > 50:
            return error(400, 100, "(#100) ids must name 1 to 50 objects.")
        fields = params.get("fields", "")
        ig_id = self.pages[page_id]["instagram"]
        answer, missing = {}, []
        if page_id in self.reads_revoked:
            ids, missing = [], list(ids)
        for object_id in ids:
            counts = self.counts.get(object_id, {})
            comments = sum(1 for c in self.comments if c["on"] == object_id)
            post = next(
                (p for p in self.posts if p["id"] == object_id and p["page_id"] == page_id), None
            )
            media = next(
                (m for m in self.media if m["id"] == object_id and m["ig_user"] == ig_id), None
            )
            if post is not None:
                entry = {"id": object_id}
                if "reactions" in fields:
                    entry["reactions"] = {
                        "data": [],
                        "summary": {
                            "total_count": counts.get("reactions", 0),
                            "viewer_reaction": "NONE",
                        },
                    }
                if "comments" in fields:
                    entry["comments"] = {
                        "data": [],
                        "summary": {
                            "order": "ranked",
                            "total_count": comments + counts.get("comments", 0),
                            "can_comment": True,
                        },
                    }
                if "shares" in fields and counts.get("shares"):
                    entry["shares"] = {"count": counts["shares"]}
                answer[object_id] = entry
            elif media is not None:
                entry = {"id": object_id}
                if "like_count" in fields:
                    entry["like_count"] = counts.get("like_count", 0)
                if "comments_count" in fields:
                    entry["comments_count"] = comments + counts.get("comments_count", 0)
                answer[object_id] = entry
            else:
                missing.append(object_id)
        if missing and len(missing) + len(answer) == 1:
            return error(
                400,
                100,
                f"Unsupported get request. Object with ID '{missing[0]}' does not exist, cannot "
                "be loaded due to missing permissions, or does not support this operation.",
                subcode=33,
                kind="GraphMethodException",
            )
        if missing:
            return error(
                404,
                803,
                f"(#803) Some of the aliases you requested do not exist: {','.join(missing)}",
            )
        return Reply(200, answer)

    def _params(self, request: Request) -> dict:
        found = dict(request.query)
        if request.method == "POST":
            if "multipart/form-data" in request.headers.get("content-type", ""):
                for name, (filename, _type, data) in request.multipart().items():
                    found[name] = data if filename else data.decode()
            else:
                found.update({k: v[0] for k, v in request.form.items()})
        return found

    def _access_token(self, params: dict) -> Reply:
        if params.get("client_id") != APP_ID or params.get("client_secret") != APP_SECRET:
            return error(400, 101, "Error validating client secret.")
        if params.get("grant_type") == "fb_exchange_token":
            user = self.users.get(params.get("fb_exchange_token", ""))
            if user is None:
                return BAD_TOKEN
            token = self._token("EAAlong")
            self.users[token] = {**user, "long": True}
            return Reply(
                200, {"access_token": token, "token_type": "bearer", "expires_in": LONG_LIVED}
            )
        token = self.codes.pop(params.get("code", ""), None)
        if token is None:
            return error(400, 100, "This authorization code has been used.", subcode=36009)
        if not params.get("redirect_uri"):
            return error(400, 100, "Missing redirect_uri parameter.")
        return Reply(200, {"access_token": token, "token_type": "bearer", "expires_in": 5183})

    def _debug_token(self, params: dict) -> Reply:
        if params.get("access_token") != f"{APP_ID}|{APP_SECRET}":
            return error(400, 190, "Invalid OAuth access token signature.")
        token = params.get("input_token", "")
        data = {"app_id": APP_ID, "application": "Queue Loop", "scopes": ["pages_manage_posts"]}
        if token in self.page_tokens:
            return Reply(
                200,
                {
                    "data": {
                        **data,
                        "type": "PAGE",
                        "is_valid": True,
                        "expires_at": 0,
                        "profile_id": self.page_tokens[token],
                    }
                },
            )
        if token in self.users:
            return Reply(200, {"data": {**data, "type": "USER", "is_valid": True, "expires_at": 0}})
        return Reply(
            200,
            {
                "data": {
                    **data,
                    "is_valid": False,
                    "expires_at": 0,
                    "error": {
                        "code": 190,
                        "message": "The session has been invalidated because the user changed "
                        "their password.",
                        "subcode": 460,
                    },
                }
            },
        )

    def _accounts(self, user: dict) -> Reply:
        data = []
        for page in self.pages.values():
            if page["owner"] != user["id"]:
                continue
            # A Page token asked for with a long-lived user token is long-lived itself.
            entry = {
                "id": page["id"],
                "name": page["name"],
                "access_token": page["token"],
                "category": "Software",
                "tasks": [
                    "ADVERTISE",
                    "ANALYZE",
                    "CREATE_CONTENT",
                    "MESSAGING",
                    "MODERATE",
                    "MANAGE",
                ],
            }
            if page["instagram"]:
                ig = self.ig_users[page["instagram"]]
                entry["instagram_business_account"] = {"id": ig["id"], "username": ig["username"]}
            data.append(entry)
        return Reply(
            200, {"data": data, "paging": {"cursors": {"before": "QVFI", "after": "QVFJ"}}}
        )

    # --- Facebook Pages -------------------------------------------------------------------
    def _page(self, request: Request, params: dict, page: dict, edge: str) -> Reply:
        if request.method == "GET" and not edge:
            return Reply(200, {"id": page["id"], "name": page["name"]})
        if request.method == "GET" and edge == "posts":
            if page["id"] in self.reads_revoked:
                return error(
                    400,
                    10,
                    "(#10) This endpoint requires the 'pages_read_engagement' permission or "
                    "the 'Page Public Content Access' feature.",
                )
            mine = [p for p in reversed(self.posts) if p["page_id"] == page["id"]]
            limit = int(params.get("limit") or 25)
            return Reply(200, {"data": [{"id": p["id"]} for p in mine[:limit]]})
        if request.method == "POST" and edge == "photos":
            data = params.get("source")
            if not isinstance(data, bytes) and not params.get("url"):
                return error(400, 324, "Requires upload file", kind="OAuthException")
            photo_id = self._id()
            photo = {
                "id": photo_id,
                "data": data,
                "alt": params.get("alt_text_custom", ""),
                "used": False,
            }
            self.photos[photo_id] = photo
            if str(params.get("published", "true")).lower() == "false":
                return Reply(200, {"id": photo_id})
            post = self._post(page, message=params.get("caption", ""), photos=[photo])
            return Reply(200, {"id": photo_id, "post_id": post["id"]})
        if request.method == "POST" and edge == "feed":
            photos = []
            n = 0
            while f"attached_media[{n}]" in params:
                fbid = json.loads(params[f"attached_media[{n}]"]).get("media_fbid")
                photo = self.photos.get(fbid)
                if photo is None or photo["used"]:
                    return error(400, 100, "(#100) param attached_media must be valid media.")
                photos.append(photo)
                n += 1
            message = params.get("message", "")
            if not message and not photos and not params.get("link"):
                return error(400, 100, "(#100) Missing message or attachment")
            post = self._post(page, message=message, photos=photos, link=params.get("link", ""))
            return Reply(200, {"id": post["id"]})
        return error(400, 100, "(#100) Unsupported request.")

    def _post(self, page: dict, *, message: str, photos: list[dict], link: str = "") -> dict:
        for photo in photos:
            photo["used"] = True
        post = {
            "id": f"{page['id']}_{self._id()}",
            "page_id": page["id"],
            "message": message,
            "link": link,
            "photos": photos,
        }
        self.posts.append(post)
        return post

    def _comment(self, target: dict, params: dict, *, kind: str) -> Reply:
        message = params.get("message", "")
        if not message:
            return error(400, 100, "(#100) Missing message")
        comment = {
            "id": f"{target['id']}_{self._id()}" if kind == "facebook" else self._id(),
            "on": target["id"],
            "text": message,
        }
        self.comments.append(comment)
        return Reply(200, {"id": comment["id"]})

    # --- Instagram ------------------------------------------------------------------------
    def _ig_user(self, request: Request, params: dict, ig: dict, edge: str) -> Reply:
        if request.method == "GET" and not edge:
            return Reply(200, {"id": ig["id"], "username": ig["username"]})
        if request.method == "GET" and edge == "content_publishing_limit":
            return Reply(
                200,
                {
                    "data": [
                        {
                            "quota_usage": self.quota_usage.get(ig["id"], 0),
                            "config": {"quota_total": PUBLISH_QUOTA, "quota_duration": 86400},
                        }
                    ]
                },
            )
        if request.method == "GET" and edge == "media":
            if ig["page_id"] in self.reads_revoked:
                return error(400, 10, "(#10) Application does not have permission for this action")
            return Reply(
                200,
                {
                    "data": [
                        {"id": m["id"], "caption": m["caption"], "permalink": m["permalink"]}
                        for m in reversed(self.media_of(ig["id"]))
                    ]
                },
            )
        if request.method == "POST" and edge == "media":
            return self._container(ig, params)
        if request.method == "POST" and edge == "media_publish":
            return self._publish(ig, params)
        return error(400, 100, "(#100) Unsupported request.")

    def _container(self, ig: dict, params: dict) -> Reply:
        caption = params.get("caption", "")
        if len(caption) > 2200:
            return error(400, 100, "The caption is too long.", subcode=2207018)
        if params.get("media_type") == "CAROUSEL":
            children = [c for c in params.get("children", "").split(",") if c]
            if not 2 <= len(children) <= 10 or any(
                c not in self.containers or not self.containers[c]["carousel_item"]
                for c in children
            ):
                return error(400, 100, "The carousel's children are not valid.", subcode=2207031)
            container = {"children": children, "caption": caption}
        else:
            url = params.get("image_url", "")
            if not url.startswith(("http://", "https://")):
                return error(
                    400, 9004, "Only photo or video can be accepted as media type.", subcode=2207052
                )
            container = {
                "image_url": url,
                "alt_text": params.get("alt_text", ""),
                "caption": caption,
                "carousel_item": params.get("is_carousel_item") == "true",
            }
        container_id = self._id()
        self.containers[container_id] = {
            "ig_user": ig["id"],
            "status_code": "FINISHED",
            **container,
        }
        return Reply(200, {"id": container_id})

    def _publish(self, ig: dict, params: dict) -> Reply:
        container = self.containers.get(params.get("creation_id", ""))
        if container is None or container["ig_user"] != ig["id"] or container.get("carousel_item"):
            return error(400, 100, "Media ID is not available", subcode=2207006)
        if container["status_code"] != "FINISHED":
            return error(400, 9007, "Media is not ready to be published.", subcode=2207027)
        if self.quota_usage.get(ig["id"], 0) >= PUBLISH_QUOTA:
            return error(400, 9, "Application request limit reached", subcode=2207042)
        container["status_code"] = "PUBLISHED"
        self.quota_usage[ig["id"]] = self.quota_usage.get(ig["id"], 0) + 1
        items = [self.containers[c] for c in container.get("children", [])] or [container]
        media = {
            "id": self._id(),
            "ig_user": ig["id"],
            "caption": container["caption"],
            "images": [{"url": i["image_url"], "alt_text": i["alt_text"]} for i in items],
            "permalink": f"https://www.instagram.com/p/{secrets.token_urlsafe(8)}/",
        }
        self.media.append(media)
        return Reply(200, {"id": media["id"]})

    def _ig_media(self, request: Request, params: dict, media: dict, edge: str) -> Reply:
        if request.method == "GET" and not edge:
            return Reply(200, {"id": media["id"], "permalink": media["permalink"]})
        if edge == "comments" and request.method == "POST":
            return self._comment(media, params, kind="instagram")
        if edge == "comments":
            return Reply(
                200,
                {
                    "data": [
                        {"id": c["id"], "text": c["text"]}
                        for c in self.comments
                        if c["on"] == media["id"]
                    ]
                },
            )
        return error(400, 100, "(#100) Unsupported request.")


@pytest.fixture
def fake_meta(settings):
    from networks.meta import graph

    settings.INSTANCE_ALLOWED_HOSTS = ["127.0.0.1"]
    fake = FakeMetaGraph().start()
    settings.META_GRAPH_BASE = f"{fake.url}/{VERSION}"
    settings.META_AUTH_BASE = "https://www.facebook.com/v25.0/dialog/oauth"
    settings.META_APP_ID = APP_ID
    settings.META_APP_SECRET = APP_SECRET
    graph.reset_session()
    yield fake
    graph.reset_session()
    fake.stop()
