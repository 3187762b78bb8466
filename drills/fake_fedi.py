"""Local fake Mastodon and Bluesky servers over real HTTP, for drill 6 (drills/readback.py).

Like the real ones, each acts on a request before it answers, whether or not the client is
still there to read the answer, and keeps a repeat from posting twice the way the network
does: Mastodon by the `Idempotency-Key` (a repeat gets the status made the first time),
Bluesky by the record key (a second record under one key is refused with a 500, as
bsky.social does). The drill counts what each made per account and text: more than one is
a double post.

Mastodon: POST /api/v1/statuses, GET /api/v1/accounts/:id/statuses (min_id, limit; ids are
snowflakes: milliseconds shifted 16 bits). Bluesky: com.atproto.repo.createRecord and
getRecord, with access JWTs handed out in a session string (no sign-in call needed).
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import itertools
import json
import re
import secrets
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, parse_qsl, urlsplit

CID = "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"
STATUSES = re.compile(r"/api/v1/accounts/(\d+)/statuses")


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # as drills/fake_x.py: a real network's accept queue is deep
    daemon_threads = True


class _Fake:
    """A threaded HTTP server answering through `handle(method, path, query, headers, body)`."""

    delay: float = 0.0  # seconds between acting and answering

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self):
                length = int(self.headers.get("Content-Length", 0) or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                status, payload = fake.handle(
                    self.command, parts.path, dict(parse_qsl(parts.query)), self.headers, body
                )
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve

            def log_message(self, *args):
                pass

        self._server = _Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @staticmethod
    def bearer(headers) -> str:
        return (headers.get("Authorization") or "").removeprefix("Bearer ")


class FakeMastodon(_Fake):
    def __init__(self) -> None:
        super().__init__()
        self.tokens: dict[str, str] = {}  # token → account id
        self.statuses: list[dict] = []
        self.by_key: dict[tuple[str, str], dict] = {}
        self._ids = itertools.count(1)
        self._accounts = itertools.count(1)

    def add_account(self, token: str) -> str:
        account_id = str(next(self._accounts))
        self.tokens[token] = account_id
        return account_id

    def counts(self) -> Counter:
        """(account id, text) → statuses made."""
        with self._lock:
            return Counter((s["account"]["id"], s["text"]) for s in self.statuses)

    def handle(self, method, path, query, headers, body):
        account_id = self.tokens.get(self.bearer(headers))
        listing = STATUSES.fullmatch(path)
        if method == "GET" and listing:
            return 200, self._list(listing.group(1), query)
        if (method, path) != ("POST", "/api/v1/statuses"):
            return 404, {"error": "Record not found"}
        if account_id is None:
            return 401, {"error": "The access token is invalid"}
        if "json" in (headers.get("Content-Type") or ""):
            text = json.loads(body or b"{}").get("status", "")
        else:
            text = (parse_qs(body.decode()).get("status") or [""])[0]
        key = headers.get("Idempotency-Key") or ""
        with self._lock:
            made = self.by_key.get((account_id, key)) if key else None
            if made is None:
                status_id = str((int(time.time() * 1000) << 16) + next(self._ids) % 65536)
                made = {
                    "id": status_id,
                    "created_at": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
                    "in_reply_to_id": None,
                    "visibility": "public",
                    "url": f"https://fake.social/@u{account_id}/{status_id}",
                    "content": f"<p>{html.escape(text, quote=False)}</p>",
                    "account": {"id": account_id, "username": f"u{account_id}"},
                    "media_attachments": [],
                    "text": text,
                }
                self.statuses.append(made)
                if key:
                    self.by_key[(account_id, key)] = made
        if self.delay:
            time.sleep(self.delay)
        return 200, {k: v for k, v in made.items() if k != "text"}

    def _list(self, account_id: str, query: dict) -> list[dict]:
        limit = min(int(query.get("limit") or 20), 40)
        after = int(query.get("min_id") or 0)
        with self._lock:
            mine = sorted(
                (
                    s
                    for s in self.statuses
                    if s["account"]["id"] == account_id and int(s["id"]) > after
                ),
                key=lambda s: int(s["id"]),
            )
        return [{k: v for k, v in s.items() if k != "text"} for s in reversed(mine[:limit])]


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


class FakeBluesky(_Fake):
    def __init__(self) -> None:
        super().__init__()
        self.access: dict[str, str] = {}  # access JWT → did
        self.records: dict[str, dict] = {}  # at:// uri → record

    def session_string(self, handle: str, did: str) -> str:
        """What the SDK's export_session_string gives after a sign-in to this server."""
        now = int(time.time())

        def jwt(scope: str) -> str:
            claims = {"scope": scope, "sub": did, "iat": now, "exp": now + 30 * 86400}
            header = _b64({"typ": "at+jwt", "alg": "ES256K"})
            return ".".join([header, _b64(claims), secrets.token_urlsafe(32)])

        access = jwt("com.atproto.appPass")
        self.access[access] = did
        return ":::".join([handle, did, access, jwt("com.atproto.refresh"), self.url])

    def counts(self) -> Counter:
        """(did, text) → records made."""
        with self._lock:
            return Counter(
                (uri.split("/")[2], r.get("text", "")) for uri, r in self.records.items()
            )

    def handle(self, method, path, query, headers, body):
        did = self.access.get(self.bearer(headers))
        if did is None:
            return 401, {"error": "AuthMissing", "message": "Authentication Required"}
        nsid = path.removeprefix("/xrpc/")
        if nsid == "com.atproto.repo.getRecord":
            uri = f"at://{query.get('repo')}/{query.get('collection')}/{query.get('rkey')}"
            with self._lock:
                record = self.records.get(uri)
            if record is None:
                return 400, {"error": "RecordNotFound", "message": f"Could not locate {uri}"}
            return 200, {"uri": uri, "cid": CID, "value": record}
        if nsid != "com.atproto.repo.createRecord":
            return 501, {"error": "MethodNotImplemented"}
        data = json.loads(body or b"{}")
        uri = f"at://{did}/{data.get('collection')}/{data.get('rkey')}"
        with self._lock:
            taken = uri in self.records
            if not taken:
                self.records[uri] = data.get("record") or {}
        if self.delay:
            time.sleep(self.delay)
        if taken:
            return 500, {"error": "InternalServerError", "message": "Internal Server Error"}
        return 200, {"uri": uri, "cid": CID, "commit": {"cid": CID, "rev": "3l" + uri[-11:]}}
