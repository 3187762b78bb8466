"""A small real HTTP server on 127.0.0.1 for the Mastodon and Bluesky fakes.

A fake subclasses FakeServer and implements `handle(request) -> Reply`. Tests script
failures per route with `script(method, path, Scripted(...))`, consumed in order:

- `Scripted(status, body, headers)` answers instead of the fake, nothing done ("before");
- `Scripted(..., after=True)` lets the fake do the work, then answers the scripted status
  (the server acted but the client saw a failure);
- `Scripted(drop=True[, after=True])` closes the connection without any answer.

Every request is recorded in `calls` (method, path, query, headers, body).
"""

from __future__ import annotations

import email
import email.policy
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, parse_qsl, urlsplit


class _Server(ThreadingHTTPServer):
    # A real network's servers have deep accept queues. The default 5 overflowed when a
    # worker's 64 lanes connected at once on a loaded machine, and the resets looked like
    # "the connection broke mid-request" (an X delivery ended unconfirmed in drill 5).
    request_queue_size = 256


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    # Every (name, value) of the query string in order: a repeated name (XRPC's arrays,
    # ?uris=a&uris=b) keeps all its values here, `query` only the last.
    query_list: list[tuple[str, str]] = field(default_factory=list)

    @property
    def json(self) -> dict:
        try:
            return json.loads(self.body) if self.body else {}
        except ValueError:
            return {}

    @property
    def form(self) -> dict[str, list[str]]:
        if "json" in self.headers.get("content-type", ""):
            data = self.json
            return {k: v if isinstance(v, list) else [v] for k, v in data.items()}
        return parse_qs(self.body.decode(), keep_blank_values=True)

    def field(self, name: str, default: str = "") -> str:
        values = self.form.get(name) or self.form.get(f"{name}[]") or [default]
        return values[0] if not isinstance(values[0], bool) else str(values[0]).lower()

    def multipart(self) -> dict[str, tuple[str | None, str, bytes]]:
        """multipart/form-data parts: name → (filename, content type, bytes)."""
        header = f"Content-Type: {self.headers.get('content-type', '')}\r\n\r\n".encode()
        message = email.message_from_bytes(header + self.body, policy=email.policy.HTTP)
        parts = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            parts[name] = (
                part.get_filename(),
                part.get_content_type(),
                part.get_payload(decode=True) or b"",
            )
        return parts

    @property
    def bearer(self) -> str | None:
        auth = self.headers.get("authorization", "")
        return auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None


@dataclass
class Reply:
    status: int
    body: object = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Scripted:
    status: int = 500
    body: object = None
    headers: dict[str, str] = field(default_factory=dict)
    after: bool = False
    drop: bool = False
    # Calls answered normally before this answer applies (a thread's part 2: passes=1).
    passes: int = 0


class FakeServer:
    def __init__(self) -> None:
        self.calls: list[Request] = []
        self.scripts: dict[tuple[str, str], list[Scripted]] = {}
        self.lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None

    # --- to implement -------------------------------------------------------------------
    def handle(self, request: Request) -> Reply:
        raise NotImplementedError

    # --- test controls --------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def script(self, method: str, path: str, *answers: Scripted) -> None:
        with self.lock:
            self.scripts.setdefault((method, path), []).extend(answers)

    def calls_to(self, method: str, path: str) -> list[Request]:
        return [c for c in self.calls if c.method == method and c.path == path]

    def start(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Request(
                    method=self.command,
                    # Rails and XRPC servers ignore a trailing slash (Mastodon.py sends
                    # /api/v2/instance/).
                    path=parts.path.rstrip("/") or "/",
                    query=dict(parse_qsl(parts.query)),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                    query_list=parse_qsl(parts.query),
                )
                with fake.lock:
                    fake.calls.append(request)
                    queue = fake.scripts.get((request.method, request.path)) or []
                    scripted = None
                    if queue and queue[0].passes:
                        queue[0].passes -= 1
                    elif queue:
                        scripted = queue.pop(0)
                if scripted is not None and not scripted.after:
                    return self._answer(scripted)
                with fake.lock:
                    reply = fake.handle(request)
                if scripted is not None:
                    return self._answer(scripted)
                return self._answer(reply)

            def _answer(self, reply: Reply | Scripted):
                if isinstance(reply, Scripted) and reply.drop:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                payload = b""
                if reply.body is not None:
                    payload = (
                        reply.body
                        if isinstance(reply.body, bytes)
                        else json.dumps(reply.body).encode()
                    )
                self.send_response(reply.status)
                headers = dict(reply.headers)
                if reply.body is not None:
                    headers.setdefault("Content-Type", "application/json; charset=utf-8")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, *args):  # keep test output clean
                pass

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
