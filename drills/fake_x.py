"""A local fake X API over real HTTP: the not-idempotent receiving end of the drills.

Like X, it creates a post for every POST /2/tweets that reaches it, whether or not the
client is still there to read the answer, and it has no idempotency key: a repeated call
is a second post (X itself would answer 403 "duplicate content" for the same text, which
is what it answers here too; either way the drill counts the second create attempt as a
double post). GET /2/users/me answers for credential checks.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

TIMELINE = re.compile(r"/2/users/(\w+)/tweets")


class _Server(ThreadingHTTPServer):
    # A real network's servers have deep accept queues. The default 5 overflowed when a
    # worker's 64 lanes connected at once on a loaded machine, and the resets looked like
    # "the connection broke mid-request" (an X delivery ended unconfirmed in drill 5).
    request_queue_size = 256


@dataclass
class Create:
    user_id: str
    text: str
    arrived: float
    id: str = ""
    reply_to: str | None = None
    made: bool = True  # False: refused as a duplicate, nothing was posted


@dataclass
class FakeX:
    delay: float = 0.0  # seconds between creating the post and answering
    tokens: dict[str, str] = field(default_factory=dict)  # bearer token -> user id
    creates: list[Create] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _ids: int = 1_900_000_000_000_000_000

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add_user(self, token: str, user_id: str) -> None:
        self.tokens[token] = user_id

    def start(self) -> FakeX:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self, status: int, payload: dict) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _user(self) -> str | None:
                auth = self.headers.get("Authorization", "")
                return fake.tokens.get(auth.removeprefix("Bearer ")) if auth else None

            def do_GET(self):
                user = self._user()
                if user is None:
                    return self._answer(401, {"title": "Unauthorized", "status": 401})
                if self.path.startswith("/2/users/me"):
                    return self._answer(200, {"data": {"id": user, "username": f"user{user}"}})
                timeline = TIMELINE.fullmatch(urlsplit(self.path).path)
                if timeline:
                    return self._answer(200, fake.timeline(timeline.group(1), self.path))
                return self._answer(404, {"title": "Not Found", "status": 404})

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
                user = self._user()
                if user is None:
                    return self._answer(401, {"title": "Unauthorized", "status": 401})
                if not self.path.startswith("/2/tweets"):
                    return self._answer(404, {"title": "Not Found", "status": 404})
                payload = json.loads(body or b"{}")
                text = payload.get("text", "")
                reply_to = (payload.get("reply") or {}).get("in_reply_to_tweet_id")
                with fake._lock:
                    duplicate = any(c.user_id == user and c.text == text for c in fake.creates)
                    fake._ids += 1
                    tweet_id = str(fake._ids)
                    fake.creates.append(
                        Create(user, text, time.time(), tweet_id, reply_to, not duplicate)
                    )
                if fake.delay:
                    time.sleep(fake.delay)
                if duplicate:
                    return self._answer(
                        403,
                        {
                            "detail": "You are not allowed to create a Tweet with duplicate "
                            "content.",
                            "title": "Forbidden",
                            "status": 403,
                        },
                    )
                return self._answer(201, {"data": {"id": tweet_id, "text": text}})

            def log_message(self, *args):
                pass

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def timeline(self, user_id: str, path: str) -> dict:
        """GET /2/users/:id/tweets: the user's tweets since start_time, newest first."""
        query = dict(parse_qsl(urlsplit(path).query))
        since = dt.datetime.strptime(query["start_time"], "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=dt.UTC
        )
        since_ts = since.timestamp()
        size = int(query.get("max_results", 10))
        with self._lock:
            tweets = [
                c
                for c in reversed(self.creates)
                if c.user_id == user_id and c.made and c.arrived >= since_ts
            ]
        offset = int(query.get("pagination_token") or 0)
        page = tweets[offset : offset + size]
        meta: dict = {"result_count": len(page)}
        if offset + size < len(tweets):
            meta["next_token"] = str(offset + size)
        data = []
        for c in page:
            tweet = {"id": c.id, "text": c.text, "edit_history_tweet_ids": [c.id]}
            tweet["created_at"] = dt.datetime.fromtimestamp(c.arrived, dt.UTC).isoformat()
            if c.reply_to:
                tweet["referenced_tweets"] = [{"type": "replied_to", "id": c.reply_to}]
            data.append(tweet)
        return {"data": data, "meta": meta} if data else {"meta": meta}

    def counts(self) -> Counter:
        """(user id, text) -> how many create calls reached X."""
        with self._lock:
            return Counter((c.user_id, c.text) for c in self.creates)
