"""A real RSS/Atom server on 127.0.0.1 for the feed tests: serves `document` with an ETag,
answers 304 to a matching If-None-Match (when `etag` is on), and records every request."""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def rss(items: list[tuple[str, str, str]], title: str = "Blog") -> bytes:
    """items: (guid, title, link), newest first as feeds list them."""
    body = "".join(
        f"<item><guid>{g}</guid><title>{t}</title><link>{link}</link></item>"
        for g, t, link in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{title}</title><link>https://example.com/</link>{body}</channel></rss>"
    ).encode()


def atom(items: list[tuple[str, str, str]]) -> bytes:
    body = "".join(
        f'<entry><id>{i}</id><title>{t}</title><link href="{link}"/>'
        "<updated>2026-01-01T00:00:00Z</updated></entry>"
        for i, t, link in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        "<title>Atom blog</title><id>urn:blog</id>"
        f"<updated>2026-01-01T00:00:00Z</updated>{body}</feed>"
    ).encode()


@dataclass
class FeedServer:
    document: bytes = b""
    content_type: str = "application/rss+xml"
    status: int = 200
    etag: bool = True
    drip: float = 0.0  # seconds between 100-byte pieces of the body (a slow server)
    requests: list[dict] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/feed.xml"

    def start(self) -> FeedServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                fake.requests.append(dict(self.headers.items()))
                tag = '"' + hashlib.sha256(fake.document).hexdigest()[:16] + '"'
                if fake.etag and self.headers.get("If-None-Match") == tag:
                    self.send_response(304)
                    self.end_headers()
                    return
                self.send_response(fake.status)
                self.send_header("Content-Type", fake.content_type)
                self.send_header("Content-Length", str(len(fake.document)))
                if fake.etag:
                    self.send_header("ETag", tag)
                self.end_headers()
                if not fake.drip:
                    self.wfile.write(fake.document)
                    return
                for i in range(0, len(fake.document), 100):
                    try:
                        self.wfile.write(fake.document[i : i + 100])
                        self.wfile.flush()
                    except OSError:
                        return  # the client gave up
                    time.sleep(fake.drip)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
