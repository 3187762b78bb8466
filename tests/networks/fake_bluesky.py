"""A fake Bluesky PDS: a real HTTP server on 127.0.0.1 speaking the XRPC endpoints Queue
Loop uses, in the shapes of the com.atproto / app.bsky lexicons.

- com.atproto.server.createSession: an app password gets a session whose JWT scope is
  com.atproto.appPass, the main password com.atproto.access (as the real PDS does); a wrong
  one 401 AuthenticationRequired. refreshSession rotates the pair (the old refresh JWT is
  spent); deleteSession revokes; getSession tells who.
- Access JWTs expire (exp claim, 2 hours): an expired one is refused with 400 ExpiredToken.
- com.atproto.identity.resolveHandle.
- com.atproto.repo.createRecord validates app.bsky.feed.post (300 graphemes, facet byte
  ranges inside the UTF-8 text, createdAt) and answers a record key that is taken with a
  500 InternalServerError, which is what bsky.social does today.
- com.atproto.repo.getRecord, 400 RecordNotFound when absent.
- 429s carry ratelimit-limit/-remaining/-reset/-policy headers (tests script them).
- `pds`: when set, every session carries a DID document naming that URL as the account's
  PDS (#atproto_pds), as an entryway such as bsky.social does; the SDK then sends every
  later call there.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time

import grapheme
import pytest

from tests.networks.fake_http import FakeServer, Reply, Request

B32 = "abcdefghijklmnopqrstuvwxyz234567"
CID = "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"
ACCESS_LIFETIME = 2 * 3600
REFRESH_LIFETIME = 90 * 86400


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def xrpc_error(status: int, error: str, message: str = "") -> Reply:
    body = {"error": error}
    if message:
        body["message"] = message
    return Reply(status, body)


class FakeBluesky(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.accounts: dict[str, dict] = {}  # did → {"handle", "app_password", "password"}
        self.access: dict[str, str] = {}  # access JWT → did
        self.refresh: dict[str, str] = {}  # refresh JWT → did
        self.records: dict[str, dict] = {}  # at:// uri → record
        self.blobs: dict[str, dict] = {}  # cid → {"mimeType", "size", "bytes"}
        self.issued: list[str] = []
        self.counts: dict[str, dict] = {}  # at:// uri → likeCount... (getPosts)
        self.pds: str | None = None  # the PDS URL the sessions' DID documents name

    # --- test helpers ---------------------------------------------------------------------
    def add_account(self, handle: str, app_password: str, password: str = "") -> str:
        password = password or "main-pass-1"  # the account's main password
        did = "did:plc:" + "".join(secrets.choice(B32) for _ in range(24))
        self.accounts[did] = {"handle": handle, "app_password": app_password, "password": password}
        self.issued.append(app_password)
        return did

    def posts_of(self, did: str) -> list[dict]:
        prefix = f"at://{did}/app.bsky.feed.post/"
        return [dict(r, uri=u) for u, r in self.records.items() if u.startswith(prefix)]

    def expire_access_tokens(self) -> None:
        self.access.clear()

    def _jwt(self, did: str, scope: str, lifetime: int) -> str:
        now = int(time.time())
        token = ".".join(
            [
                _b64({"typ": "at+jwt", "alg": "ES256K"}),
                _b64(
                    {
                        "scope": scope,
                        "sub": did,
                        "iat": now,
                        "exp": now + lifetime,
                        "jti": secrets.token_hex(8),
                    }
                ),
                secrets.token_urlsafe(32),
            ]
        )
        self.issued.append(token)
        return token

    def _session(self, did: str, scope: str) -> dict:
        access = self._jwt(did, scope, ACCESS_LIFETIME)
        refresh = self._jwt(did, "com.atproto.refresh", REFRESH_LIFETIME)
        self.access[access] = did
        self.refresh[refresh] = did
        session = {
            "accessJwt": access,
            "refreshJwt": refresh,
            "handle": self.accounts[did]["handle"],
            "did": did,
            "active": True,
        }
        if self.pds:
            session["didDoc"] = {
                "@context": ["https://www.w3.org/ns/did/v1"],
                "id": did,
                "alsoKnownAs": [f"at://{self.accounts[did]['handle']}"],
                "service": [
                    {
                        "id": "#atproto_pds",
                        "type": "AtprotoPersonalDataServer",
                        "serviceEndpoint": self.pds,
                    }
                ],
            }
        return session

    def _authed(self, request: Request, table: dict[str, str]) -> str | Reply:
        token = request.bearer
        if not token:
            return xrpc_error(401, "AuthMissing", "Authentication Required")
        if token in table:
            payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
            if payload["exp"] < time.time():
                return xrpc_error(400, "ExpiredToken", "Token has expired")
            return table[token]
        return xrpc_error(400, "ExpiredToken", "Token has been revoked")

    # --- XRPC ---------------------------------------------------------------------------
    def handle(self, request: Request) -> Reply:
        nsid = request.path.removeprefix("/xrpc/")
        if nsid == "com.atproto.server.createSession":
            return self._create_session(request)
        if nsid == "com.atproto.identity.resolveHandle":
            handle = request.query.get("handle", "")
            for did, account in self.accounts.items():
                if account["handle"] == handle:
                    return Reply(200, {"did": did})
            return xrpc_error(400, "InvalidRequest", "Unable to resolve handle")
        if nsid in ("com.atproto.server.refreshSession", "com.atproto.server.deleteSession"):
            did = self._authed(request, self.refresh)
            if isinstance(did, Reply):
                return did
            del self.refresh[request.bearer]
            if nsid.endswith("deleteSession"):
                return Reply(200)
            return Reply(200, self._session(did, "com.atproto.appPass"))
        did = self._authed(request, self.access)
        if isinstance(did, Reply):
            return did
        if nsid == "com.atproto.server.getSession":
            return Reply(200, {"handle": self.accounts[did]["handle"], "did": did, "active": True})
        if nsid == "com.atproto.repo.uploadBlob":
            digest = hashlib.sha256(request.body).digest()
            cid = "bafkrei" + base64.b32encode(digest).decode().lower().rstrip("=")[:52]
            mime = request.headers.get("content-type", "application/octet-stream")
            self.blobs[cid] = {"mimeType": mime, "size": len(request.body), "bytes": request.body}
            return Reply(
                200,
                {
                    "blob": {
                        "$type": "blob",
                        "ref": {"$link": cid},
                        "mimeType": mime,
                        "size": len(request.body),
                    }
                },
            )
        if nsid == "com.atproto.repo.createRecord":
            return self._create_record(request, did)
        if nsid == "app.bsky.feed.getPosts":
            return self._get_posts(request)
        if nsid == "com.atproto.repo.getRecord":
            q = request.query
            uri = f"at://{q.get('repo')}/{q.get('collection')}/{q.get('rkey')}"
            if uri not in self.records:
                return xrpc_error(400, "RecordNotFound", f"Could not locate record: {uri}")
            return Reply(200, {"uri": uri, "cid": CID, "value": self.records[uri]})
        return xrpc_error(501, "MethodNotImplemented", "Method Not Implemented")

    def set_counts(self, uri: str, **counts: int) -> None:
        """likeCount=3, repostCount=1, replyCount=2, quoteCount=1."""
        self.counts.setdefault(uri, {}).update(counts)

    def _get_posts(self, request: Request) -> Reply:
        # The lexicon: uris, an array of at-uri, at most 25; deleted or unknown posts are
        # left out of `posts`. (The PDS proxies app.bsky.* to the AppView; one server here.)
        uris = [v for k, v in request.query_list if k == "uris"]
        if not uris or len(uris) > 25:
            return xrpc_error(400, "InvalidRequest", "uris must have between 1 and 25 items")
        posts = []
        for uri in uris:
            record = self.records.get(uri)
            if record is None:
                continue
            did = uri.removeprefix("at://").split("/", 1)[0]
            posts.append(
                {
                    "uri": uri,
                    "cid": CID,
                    "author": {"did": did, "handle": self.accounts[did]["handle"]},
                    "record": record,
                    "indexedAt": record.get("createdAt"),
                    "replyCount": 0,
                    "repostCount": 0,
                    "likeCount": 0,
                    "quoteCount": 0,
                    **self.counts.get(uri, {}),
                }
            )
        return Reply(200, {"posts": posts})

    def _create_session(self, request: Request) -> Reply:
        body = request.json
        identifier, password = body.get("identifier", ""), body.get("password", "")
        for did, account in self.accounts.items():
            if identifier in (did, account["handle"]):
                if password == account["app_password"]:
                    return Reply(200, self._session(did, "com.atproto.appPass"))
                if password == account["password"]:
                    return Reply(200, self._session(did, "com.atproto.access"))
        return xrpc_error(401, "AuthenticationRequired", "Invalid identifier or password")

    def _create_record(self, request: Request, did: str) -> Reply:
        body = request.json
        if body.get("repo") not in (did, self.accounts[did]["handle"]):
            return xrpc_error(400, "InvalidRequest", "Invalid repo")
        collection, rkey, record = body.get("collection"), body.get("rkey"), body.get("record", {})
        if collection != "app.bsky.feed.post" or record.get("$type") != "app.bsky.feed.post":
            return xrpc_error(400, "InvalidRequest", "Invalid collection")
        text = record.get("text", "")
        if grapheme.length(text) > 300 or len(text.encode()) > 3000:
            return xrpc_error(
                400,
                "InvalidRequest",
                "Invalid app.bsky.feed.post record: "
                "Record/text must not be longer than 300 graphemes",
            )
        if not record.get("createdAt"):
            return xrpc_error(400, "InvalidRequest", "Record/createdAt must be a datetime")
        size = len(text.encode())
        for facet in record.get("facets") or []:
            index = facet["index"]
            if not 0 <= index["byteStart"] < index["byteEnd"] <= size:
                return xrpc_error(400, "InvalidRequest", "Invalid facet index")
        embed = record.get("embed")
        if embed:
            images = embed.get("images") or []
            if embed.get("$type") != "app.bsky.embed.images" or not 1 <= len(images) <= 4:
                return xrpc_error(400, "InvalidRequest", "Invalid app.bsky.feed.post record: embed")
            for n, image in enumerate(images):
                blob = self.blobs.get(image["image"]["ref"]["$link"])
                if blob is None:
                    return xrpc_error(400, "InvalidRequest", f"Could not find blob: images/{n}")
                if blob["size"] > 1_000_000:
                    return xrpc_error(
                        400,
                        "InvalidRequest",
                        f"Invalid app.bsky.feed.post record: Record/embed/images/{n}/image "
                        "file too large. 1000000 bytes maximum",
                    )
                if "alt" not in image:
                    return xrpc_error(400, "InvalidRequest", "Record/embed/images/0 must have alt")
        reply = record.get("reply")
        if reply is not None:
            refs = [reply.get("root") or {}, reply.get("parent") or {}]
            if any(r.get("uri") not in self.records or r.get("cid") != CID for r in refs):
                return xrpc_error(400, "InvalidRequest", "Invalid app.bsky.feed.post record: reply")
        uri = f"at://{did}/{collection}/{rkey}"
        if uri in self.records:
            # bsky.social today: the MST refuses the duplicate key deep inside → 500.
            return xrpc_error(500, "InternalServerError", "Internal Server Error")
        self.records[uri] = record
        return Reply(
            200,
            {
                "uri": uri,
                "cid": CID,
                "commit": {"cid": CID, "rev": "3l" + rkey[2:]},
                "validationStatus": "valid",
            },
        )


@pytest.fixture
def fake_bluesky(settings):
    settings.INSTANCE_ALLOWED_HOSTS = ["127.0.0.1"]
    fake = FakeBluesky().start()
    settings.BLUESKY_SERVICE = fake.url
    yield fake
    fake.stop()
