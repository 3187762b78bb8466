"""A real local HTTP webhook receiver for tests, drills and benchmarks.

It records every request (arrival time, Idempotency-Key, body, signature) and acts on each
key once, as a well-behaved receiver does. Its behaviour is switchable per test: answer
after a delay, answer with a status code, or hang until released (a worker killed mid-call).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Server(ThreadingHTTPServer):
    # A real network's servers have deep accept queues. The default 5 overflowed when a
    # worker's 64 lanes connected at once on a loaded machine, and the resets looked like
    # "the connection broke mid-request" (an X delivery ended unconfirmed in drill 5).
    request_queue_size = 256


@dataclass
class Received:
    key: str
    body: bytes
    signature: str
    arrived: float  # time.time()

    @property
    def payload(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    delay: float = 0.0
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)  # extra response headers
    hang: threading.Event | None = None  # when set: requests wait until it is set
    keep_alive: bool = False  # HTTP/1.1, the connection kept open between requests
    # Answers for the next requests, in order, each after acting on the request (an answer
    # lost after the post was made: 503); then `status` again.
    next_statuses: list[int] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    acted_on: dict[str, Received] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/hook"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if self.keep_alive else "HTTP/1.0"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                item = Received(
                    key=self.headers.get("Idempotency-Key", ""),
                    body=body,
                    signature=self.headers.get("X-QueueLoop-Signature", ""),
                    arrived=time.time(),
                )
                with receiver._lock:
                    receiver.requests.append(item)
                if receiver.hang is not None:
                    receiver.hang.wait(30)
                if receiver.delay:
                    time.sleep(receiver.delay)
                with receiver._lock:
                    receiver.acted_on.setdefault(item.key, item)
                    status = (
                        receiver.next_statuses.pop(0) if receiver.next_statuses else receiver.status
                    )
                self.send_response(status)
                answer = b'{"ok": true}'
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                for name, value in receiver.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):  # keep test output clean
                pass

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.hang is not None:
            self.hang.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def keys(self) -> list[str]:
        with self._lock:
            return [r.key for r in self.requests]
