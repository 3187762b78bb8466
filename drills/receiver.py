"""The drills' webhook receiving end: a real local HTTP server, idempotent by
`Idempotency-Key`, as a well-behaved receiver is.

It records every request (arrival time, key, body) and acts on each key once; the drill
counts requests, distinct keys, the repeats it absorbed and the (timeslot, account) pairs
acted on under more than one key (a real double publication). A scenario can slow it down
(`delay`) or hold every call open until released (`hang`: a worker killed mid-call).

The drills' own, like drills/fake_x.py: the drills run as a tool of their own and import
nothing from tests/ (tests/receiver.py is the tests' switchable one).
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
    daemon_threads = True


@dataclass
class Received:
    key: str
    body: bytes
    arrived: float  # time.time()

    @property
    def payload(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    delay: float = 0.0
    hang: threading.Event | None = None  # when set: requests wait until it is set
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
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                item = Received(
                    key=self.headers.get("Idempotency-Key", ""), body=body, arrived=time.time()
                )
                with receiver._lock:
                    receiver.requests.append(item)
                if receiver.hang is not None:
                    receiver.hang.wait(30)
                if receiver.delay:
                    time.sleep(receiver.delay)
                with receiver._lock:
                    receiver.acted_on.setdefault(item.key, item)
                answer = b'{"ok": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):  # keep the drill's output clean
                pass

        self._server = _Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.hang is not None:
            self.hang.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
