"""A local fake X API over real HTTP: the not-idempotent receiving end of the drills.

Like X, it creates a post for every POST /2/tweets that reaches it, whether or not the
client is still there to read the answer, and it has no idempotency key: a repeated call
is a second post (X itself would answer 403 "duplicate content" for the same text, which
is what it answers here too; either way the drill counts the second create attempt as a
double post). GET /2/users/me answers for credential checks.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


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
                return self._answer(404, {"title": "Not Found", "status": 404})

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
                user = self._user()
                if user is None:
                    return self._answer(401, {"title": "Unauthorized", "status": 401})
                if not self.path.startswith("/2/tweets"):
                    return self._answer(404, {"title": "Not Found", "status": 404})
                text = json.loads(body or b"{}").get("text", "")
                with fake._lock:
                    duplicate = any(c.user_id == user and c.text == text for c in fake.creates)
                    fake.creates.append(Create(user, text, time.time()))
                    fake._ids += 1
                    tweet_id = str(fake._ids)
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

    def counts(self) -> Counter:
        """(user id, text) -> how many create calls reached X."""
        with self._lock:
            return Counter((c.user_id, c.text) for c in self.creates)
