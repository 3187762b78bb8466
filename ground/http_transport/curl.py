"""Requests sent on a user's behalf never reach our own network (DESIGN §7, invariant 6).

A webhook URL is user input. Without a guard it can point at loopback, the cloud metadata
service (169.254.169.254) or any private host, and the delivery list would answer with
status codes and errors: a port scanner run by our workers. So a destination is checked
twice: when it is saved (the user gets a clear form error) and again when it is called,
after DNS resolution, because a name that resolved to a public address at save time can be
re-pointed at 127.0.0.1 later (DNS rebinding). At send time requests-hardened resolves once,
refuses a private answer and connects to the address it checked, so the name cannot change
between the check and the connection. Redirects are never followed: a 307 would re-POST the
body to wherever the receiver says, loopback included.

Self-hosters who do need an internal receiver list its host in WEBHOOK_ALLOWED_HOSTS.

This module is the transport for webhooks and feeds; which addresses may be reached is
ground.address_policy (shared with the SDKs' transports, ground.http_transport.sdk).
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import NamedTuple

import certifi
import pycurl
import requests
from requests_hardened.ip_filter import InvalidIPAddress, filter_host
from urllib3 import HTTPHeaderDict

# The address policy lives in ground.address_policy (the SDK transport shares it); its names
# stay importable from here.
from ground.address_policy import (
    REFUSED,
    WEBHOOKS,
    BlockedDestination,
    IPAddress,
    RedirectRefused,
    Unresolvable,
    _literal,
    _resolve,
    is_forbidden_address,
    normalise_host,
)

__all__ = [
    "REFUSED",
    "BlockedDestination",
    "Calls",
    "Fetched",
    "IPAddress",
    "InvalidIPAddress",
    "RedirectRefused",
    "Request",
    "TooLarge",
    "TransportError",
    "Unresolvable",
    "calls",
    "check_url",
    "fetch",
    "get",
    "is_allowed_host",
    "is_forbidden_address",
    "normalise_host",
    "post",
]


def is_allowed_host(host: str) -> bool:
    return WEBHOOKS.allows(host)


def check_url(url: str) -> None:
    """Raise BlockedDestination unless `url` is http(s) and every address its host resolves
    to is public (or the host is in WEBHOOK_ALLOWED_HOSTS). Resolves DNS."""
    WEBHOOKS.check_url(url)


def _checked(url: str) -> tuple[str, int, bool]:
    return WEBHOOKS.check_url(url)


# --- The transport -------------------------------------------------------------------------
# libcurl (pycurl), for the engine's hot path. In one worker process making 64 calls at once,
# a POST through urllib3 in a thread cost the most CPU (Python header parsing, and the GIL
# handed between threads), through pycurl in a thread less, and through curl's multi
# interface, many calls from one thread, the least by far (the figures: bench/README.md,
# "Engine v2, second follow-up"). The address rule stays ours and requests-hardened's, in Python:
#   - `filter_host` resolves once and refuses a non-public answer; that answer is pinned
#     (CURLOPT_RESOLVE), so curl never looks the name up itself and cannot be rebound;
#   - curl asks us for every socket (CURLOPT_OPENSOCKETFUNCTION): the address is checked
#     again there and Python starts the connection (non-blocking connect_ex; curl is told the
#     socket is connected and waits until it can write), so nothing reaches a forbidden
#     address through a path this module did not foresee, and tests see every connect.
# Redirects, proxies from the environment and protocols other than http(s) are off.


class Request(NamedTuple):
    method: str  # GET or POST
    url: str
    headers: Mapping[str, str]
    body: bytes | None = None
    timeout: float = 15.0  # seconds for the whole call, after connect_timeout
    max_bytes: int | None = None  # GET: the most body the caller accepts


class Fetched(NamedTuple):
    status: int
    headers: Mapping[str, str]
    body: bytes


class TooLarge(ValueError):
    """The answer was bigger than the caller accepts, or took longer than it allows."""


class TransportError(OSError):
    """The call failed on the network. `maybe_sent`: the request may have reached the
    server (a timeout or a cut after it was written); False when no byte of it left."""

    def __init__(self, message: str, *, maybe_sent: bool, timed_out: bool = False):
        super().__init__(message)
        self.maybe_sent = maybe_sent
        self.timed_out = timed_out


class _Target(NamedTuple):
    host: str  # normalised, without brackets
    port: int
    address: str  # the address connected to (checked, or the operator allowed the host)
    allowed: bool
    literal: bool  # the host is an IP address: nothing to pin


def _target(url: str) -> _Target:
    """Where `url` may be called; raise BlockedDestination (or Unresolvable) before any
    connection otherwise."""
    host, port, allowed = _checked(url)  # scheme, host, every answer public (or allowed)
    literal = _literal(host)
    if allowed:
        address = literal if literal is not None else _resolve(host, port)[0]
        return _Target(host, port, str(address), allowed=True, literal=literal is not None)
    try:
        # Resolved again, and this answer is the one connected to: a name re-pointed since
        # the check (rebinding) is refused here, never reached.
        address = filter_host(host, port, allow_loopback=False)
    except requests.ConnectionError:
        raise Unresolvable(f"The host name {host!r} does not resolve.") from None
    except InvalidIPAddress:
        raise BlockedDestination(REFUSED) from None
    return _Target(host, port, address.strip("[]"), allowed=False, literal=literal is not None)


class _Headers:
    """The final answer's headers (a 1xx answer's lines are dropped)."""

    def __init__(self):
        self.fields = HTTPHeaderDict()

    def __call__(self, line: bytes) -> None:
        text = line.decode("iso-8859-1").rstrip("\r\n")
        if text.startswith("HTTP/"):
            self.fields = HTTPHeaderDict()
        elif ":" in text:
            name, _, value = text.partition(":")
            self.fields.add(name.strip(), value.strip())


class _Body:
    def __init__(self, max_bytes: int | None):
        self.data = bytearray()
        self.max_bytes = max_bytes
        self.too_large = False

    def __call__(self, chunk: bytes) -> int | None:
        self.data += chunk
        if self.max_bytes is not None and len(self.data) > self.max_bytes:
            self.too_large = True
            return -1  # curl stops the transfer
        return None


class _Call:
    """One curl handle (not thread-safe: one thread uses it) kept for its connections, and
    what its socket callback must know about the call it is making."""

    def __init__(self):
        c = self.curl = pycurl.Curl()
        c.setopt(pycurl.NOSIGNAL, 1)
        c.setopt(pycurl.PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS)
        c.setopt(pycurl.FOLLOWLOCATION, 0)
        c.setopt(pycurl.PROXY, "")
        c.setopt(pycurl.NOPROXY, "*")
        c.setopt(pycurl.CAINFO, certifi.where())
        c.setopt(pycurl.OPENSOCKETFUNCTION, self._open_socket)
        c.setopt(pycurl.SOCKOPTFUNCTION, _already_connected)
        self.allowed = False
        self.refused = False
        self.connect_error = 0
        self.request: Request | None = None
        self.headers = _Headers()
        self.body = _Body(None)

    def _open_socket(self, purpose, address):
        """curl's socket(2): refuse a forbidden address, else start connecting it."""
        family, socktype, protocol, sockaddr = address
        if not self.allowed and is_forbidden_address(ipaddress.ip_address(sockaddr[0])):
            self.refused = True
            return pycurl.SOCKET_BAD
        sock = socket.socket(family, socktype & ~socket.SOCK_CLOEXEC, protocol)
        sock.setblocking(False)
        error = sock.connect_ex(sockaddr)
        if error not in (0, errno.EINPROGRESS):
            sock.close()
            self.connect_error = error
            return pycurl.SOCKET_BAD
        return sock  # pycurl keeps a duplicate of its descriptor

    def prepare(self, request: Request) -> None:
        """Set the handle up for `request`; raise BlockedDestination before any connection."""
        target = _target(request.url)
        c = self.curl
        self.request, self.allowed, self.refused, self.connect_error = (
            request,
            target.allowed,
            False,
            0,
        )
        if not target.literal:
            # Pin the checked answer: curl never resolves the name itself. The "-" entry
            # drops an answer pinned by an earlier call on this handle.
            pinned = f"[{target.address}]" if ":" in target.address else target.address
            name = f"{target.host}:{target.port}"
            c.setopt(pycurl.RESOLVE, [f"-{name}", f"{name}:{pinned}"])
        c.setopt(pycurl.URL, request.url.partition("#")[0])
        # No "Expect: 100-continue": one round trip, and no 1xx answer to wait for.
        c.setopt(pycurl.HTTPHEADER, [f"{k}: {v}" for k, v in request.headers.items()] + ["Expect:"])
        if request.method == "POST":
            c.setopt(pycurl.POSTFIELDS, request.body or b"")
        else:
            c.setopt(pycurl.HTTPGET, 1)
        connect = min(5.0, request.timeout)
        c.setopt(pycurl.CONNECTTIMEOUT_MS, int(connect * 1000))
        c.setopt(pycurl.TIMEOUT_MS, int((connect + request.timeout) * 1000))
        self.headers, self.body = _Headers(), _Body(request.max_bytes)
        c.setopt(pycurl.HEADERFUNCTION, self.headers)
        c.setopt(pycurl.WRITEFUNCTION, self.body)

    def outcome(self, error: pycurl.error | None) -> Fetched:
        """The answer, or the call's failure as one of this module's errors."""
        c, request = self.curl, self.request
        status = c.getinfo(pycurl.RESPONSE_CODE)
        if error is None:
            return Fetched(status, self.headers.fields, bytes(self.body.data))
        code = error.args[0]
        if self.refused:
            raise BlockedDestination(REFUSED)
        if self.body.too_large:
            raise TooLarge(f"The answer is larger than {request.max_bytes} bytes.")
        timed_out = code == pycurl.E_OPERATION_TIMEDOUT
        if timed_out and status and request.max_bytes is not None:
            raise TooLarge(f"The answer took longer than {request.timeout:g} seconds.")
        if self.connect_error:
            raise TransportError(
                f"Connecting failed: {os.strerror(self.connect_error)}.", maybe_sent=False
            )
        message = error.args[1] if len(error.args) > 1 else f"curl error {code}"
        sent = c.getinfo(pycurl.REQUEST_SIZE) > 0
        raise TransportError(message, maybe_sent=sent, timed_out=timed_out)


def _already_connected(fd, purpose):
    return pycurl.SOCKOPT_ALREADY_CONNECTED


class _Local(threading.local):
    call: _Call | None = None


_local = _Local()


def fetch(request: Request) -> Fetched:
    """One call from this thread. Raises BlockedDestination (or Unresolvable) before any
    connection, TooLarge, or TransportError."""
    call = _local.call = _local.call or _Call()
    call.prepare(request)
    try:
        call.curl.perform()
    except pycurl.error as exc:
        return call.outcome(exc)
    return call.outcome(None)


class Calls:
    """Many calls at once from one thread (curl's multi interface): no thread per call, and
    the connections stay open between uses. One thread at a time: see `calls()`."""

    def __init__(self):
        self.multi = pycurl.CurlMulti()
        self.idle: list[_Call] = []
        self.running: dict[pycurl.Curl, tuple[_Call, object]] = {}

    def start(self, key, request: Request) -> None:
        """Begin `request`; raise BlockedDestination (or Unresolvable) before any connection."""
        call = self.idle.pop() if self.idle else _Call()
        try:
            call.prepare(request)
        except BaseException:
            self.idle.append(call)
            raise
        self.multi.add_handle(call.curl)
        self.running[call.curl] = (call, key)

    def wait(self) -> list[tuple[object, Fetched | Exception]]:
        """Block until at least one call has ended; each ended call's key with its answer
        or its error (BlockedDestination, TooLarge, TransportError)."""
        while self.running:
            while self.multi.perform()[0] == pycurl.E_CALL_MULTI_PERFORM:
                pass
            ended = []
            while True:
                queued, ok, failed = self.multi.info_read()
                ended += [(c, None) for c in ok]
                ended += [(c, pycurl.error(code, message)) for c, code, message in failed]
                if not queued:
                    break
            if ended:
                return [self._end(c, error) for c, error in ended]
            wait_ms = self.multi.timeout()
            self.multi.select(1.0 if wait_ms < 0 else min(1.0, wait_ms / 1000))
        return []

    def _end(self, curl: pycurl.Curl, error: pycurl.error | None):
        call, key = self.running.pop(curl)
        self.multi.remove_handle(curl)
        self.idle.append(call)
        try:
            return key, call.outcome(error)
        except Exception as exc:
            return key, exc

    def abandon(self) -> None:
        """Drop every call still running (the task ran out of time): their answers are
        never read, and the handles are free for the next task."""
        for curl, (call, _key) in list(self.running.items()):
            self.multi.remove_handle(curl)
            self.idle.append(call)
        self.running.clear()


_lent_lock = threading.Lock()
_free: list[Calls] = []


def _forget_parents_handles() -> None:
    """In a forked child: its own handles (fetch's and the lent ones) and its own lock,
    never the parent's (a lock held by another thread at the fork is never released)."""
    global _local, _lent_lock, _free
    _local, _lent_lock, _free = _Local(), threading.Lock(), []


os.register_at_fork(after_in_child=_forget_parents_handles)


@contextmanager
def calls() -> Iterator[Calls]:
    """A Calls lent to this thread until the block ends, then kept for the next borrower
    with its handles and open connections; calls still running are abandoned first.

    Lent, not one per thread: a hot second runs delivery chunks on ~20 pool threads, and
    with a Calls each, every thread's first chunk made fresh curl handles and opened a
    new connection to the same receivers (bench/README.md). Only as many exist as chunks
    ever ran at once, and the last returned (the warmest) is lent first.

    A block that ends by an exception (a time limit) may have cut the Calls' bookkeeping
    mid-step, a handle attached but not yet listed: that Calls is dropped, never lent
    again, so no stray transfer can run in the next borrower's chunk."""
    with _lent_lock:
        lent = _free.pop() if _free else None
    lent = lent or Calls()
    try:
        yield lent
    except BaseException:
        lent.abandon()
        raise
    lent.abandon()
    with _lent_lock:
        _free.append(lent)


def post(url: str, *, body: bytes, headers: dict[str, str], timeout: float) -> Fetched:
    """POST `body` to `url` if it may be called; raise BlockedDestination (or Unresolvable)
    before any connection otherwise, or TransportError."""
    return fetch(Request("POST", url, headers, body, timeout))


def get(url: str, *, headers: dict[str, str], timeout: float, max_bytes: int) -> Fetched:
    """GET `url` under the same address rules as a webhook (feeds: bulk.feeds), reading at
    most `max_bytes` of body within `timeout` seconds in all (a server that drips one byte
    per second never times out a single read). Raises BlockedDestination, TooLarge or
    TransportError. Redirects are not followed: a 3xx is returned as it is."""
    fetched = fetch(Request("GET", url, headers, None, timeout, max_bytes))
    declared = fetched.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise TooLarge(f"The answer is larger than {max_bytes} bytes.")
    return fetched
