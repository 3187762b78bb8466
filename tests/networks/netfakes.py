"""Fakes at the network boundary for the SSRF tests: DNS answers, a connect recorder and a
canary server that no client may reach.

Tests never send a packet to a private, link-local or public address, not even to show a
refusal (tests/README rule). So names resolve from a table, and every connect() is recorded;
one to anything but loopback is refused here, loudly, instead of leaving the machine.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import socketserver
import threading
from collections.abc import Callable, Iterable

_real_getaddrinfo = socket.getaddrinfo
_real_connect = socket.socket.connect
_LOCAL_NAMES = {"localhost", "127.0.0.1", "::1", None}


def _is_literal(name) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def fake_dns(monkeypatch, table: dict[str, Iterable[str] | Callable[[], Iterable[str]]]) -> list:
    """Resolve the names in `table` to its addresses (a callable gives a new answer per
    lookup: DNS rebinding); localhost and IP literals as usual; any other name fails.
    Returns the log of lookups."""
    lookups: list[str] = []

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        name = host.decode() if isinstance(host, bytes) else host
        lookups.append(name)
        if name in table:
            answer = table[name]
            addresses = answer() if callable(answer) else answer
            port = int(port or 0)
            result = []
            for address in addresses:
                ip = ipaddress.ip_address(address)
                af = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
                sockaddr = (address, port, 0, 0) if ip.version == 6 else (address, port)
                result.append((af, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
            return result
        if name in _LOCAL_NAMES or _is_literal(name):  # a literal needs no resolver
            return _real_getaddrinfo(host, port, family, type, proto, flags)
        raise socket.gaierror(socket.EAI_NONAME, f"fake DNS: no answer for {name!r}")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups


def record_connects(monkeypatch) -> list[str]:
    """Every address a socket tried to connect to; only loopback ones go through."""
    attempts: list[str] = []

    def connect(self, address):
        if self.family == socket.AF_UNIX:  # the embedded Redis: a file, not a network
            return _real_connect(self, address)
        host = address[0]
        attempts.append(host)
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise OSError(f"test network rule: refused to connect to {host}")
        return _real_connect(self, address)

    def connect_ex(self, address):
        # The non-blocking form, which the webhook transport's socket callback uses
        # (ground/http_transport/curl.py): recorded and refused the same way, as an error code.
        try:
            connect(self, address)
        except OSError as exc:
            return exc.errno or errno.ECONNREFUSED
        return 0

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    return attempts


class Canary:
    """A loopback server that no client may reach: it counts every connection accepted and
    keeps what each sent, and answers 200 `{}` so a client that got here would carry on.
    Bound to 127.0.0.2 by default, which the tests leave off every allow-list (the fakes
    that redirect to it listen on 127.0.0.1, which the fixtures allow)."""

    def __init__(self, host: str = "127.0.0.2"):
        canary = self
        self.connections = 0
        self.received: list[bytes] = []
        self._lock = threading.Lock()

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                with canary._lock:
                    canary.connections += 1
                self.request.settimeout(2)
                data = b""
                try:
                    while b"\r\n\r\n" not in data:
                        chunk = self.request.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                    self.request.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        b"Content-Length: 2\r\nConnection: close\r\n\r\n{}"
                    )
                except OSError:
                    pass
                with canary._lock:
                    canary.received.append(data)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server((host, 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
