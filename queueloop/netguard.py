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
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Mapping
from functools import cache
from typing import NamedTuple
from urllib.parse import urlsplit

import requests
import urllib3
from django.conf import settings
from requests_hardened import Config, Manager
from requests_hardened.ip_filter import EXTRA_BLOCKED_NET_RANGES, InvalidIPAddress, filter_host

__all__ = [
    "BlockedDestination",
    "Fetched",
    "InvalidIPAddress",
    "TooLarge",
    "Unresolvable",
    "check_url",
    "get",
    "post",
    "session_for",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class BlockedDestination(ValueError):
    """The URL may not be called; the message is meant for the user."""


class Unresolvable(BlockedDestination):
    """The host name did not resolve (now: at send time this may pass, so retry)."""


def normalise_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def is_allowed_host(host: str) -> bool:
    allowed = {normalise_host(h) for h in settings.WEBHOOK_ALLOWED_HOSTS}
    return normalise_host(host) in allowed


def is_forbidden_address(ip: IPAddress) -> bool:
    """Loopback, private, link-local, multicast, reserved, unspecified, shared (CG-NAT) and
    the translation ranges that can wrap one of those."""
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        not ip.is_global
        or ip.is_multicast
        or ip.is_reserved
        or any(ip in net for net in EXTRA_BLOCKED_NET_RANGES if net.version == ip.version)
    )


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return [literal]
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise Unresolvable(f"The host name {host!r} does not resolve.") from None
    return [ipaddress.ip_address(answer[4][0].split("%", 1)[0]) for answer in answers]


REFUSED = (
    "The URL points at a local, private or reserved network address. Use a public address, "
    "or ask your operator to allow this host (WEBHOOK_ALLOWED_HOSTS)."
)


def check_url(url: str) -> None:
    """Raise BlockedDestination unless `url` is http(s) and every address its host resolves
    to is public (or the host is allowed by the operator). Resolves DNS."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise BlockedDestination("The URL is not valid.") from None
    if parts.scheme not in {"http", "https"}:
        raise BlockedDestination("Use an http:// or https:// URL.")
    host = parts.hostname or ""
    if not host:
        raise BlockedDestination("The URL has no host.")
    if is_allowed_host(host):
        return
    # Every answer, not the first: a name with one public and one private record would
    # otherwise pass here and reach the private one on some later call.
    if any(is_forbidden_address(ip) for ip in _resolve(normalise_host(host), port)):
        raise BlockedDestination(REFUSED)


POOL_SIZE = 64


@cache
def _sessions() -> tuple[requests.Session, requests.Session]:
    """(guarded, allowed): pooled and shared by the worker's threads. Both never redirect;
    only the guarded one filters addresses."""
    guarded = Manager(
        Config(
            ip_filter_enable=True,
            ip_filter_allow_loopback_ips=False,
            never_redirect=True,
            default_timeout=(5, 15),
        )
    ).get_session()
    allowed = Manager(
        Config(
            ip_filter_enable=False,
            ip_filter_allow_loopback_ips=True,
            never_redirect=True,
            default_timeout=(5, 15),
        )
    ).get_session()
    for session in (guarded, allowed):
        # No proxy or netrc from the environment: a proxy would connect on our behalf to
        # an address this guard never saw, and reading the environment for every call
        # was a third of a webhook call's CPU (bench/README.md, engine v2 profile).
        session.trust_env = False
        for adapter in session.adapters.values():
            # One pool per host, wide enough for every lane a worker runs at once against
            # it (urllib3 keeps 10 by default and drops the rest, with a warning each).
            adapter.init_poolmanager(adapter._pool_connections, POOL_SIZE, block=False)
    return guarded, allowed


def session_for(url: str) -> requests.Session:
    """The session to call `url` with, after checking it (raises BlockedDestination).

    The guarded session re-resolves and pins the address it connects to, so a record
    re-pointed between check_url and the call is still refused (InvalidIPAddress)."""
    check_url(url)
    guarded, allowed = _sessions()
    return allowed if is_allowed_host(urlsplit(url).hostname or "") else guarded


# --- The webhook's transport ----------------------------------------------------------------
# urllib3 directly, for the engine's hot path: a call through requests costs ~1.3 ms of CPU,
# through urllib3 ~0.4 ms (bench/README.md, engine v2). The address decision stays
# requests-hardened's (`filter_host`: resolve once, refuse a non-public answer), and the
# connection goes to the very address it checked, with the name kept for Host, SNI and the
# certificate, as its adapter does. Redirects and retries are never followed.


@cache
def _pool_manager() -> urllib3.PoolManager:
    return urllib3.PoolManager(num_pools=256, maxsize=POOL_SIZE, block=False, retries=False)


class Response(NamedTuple):
    status: int
    headers: Mapping[str, str]


def _pool_for(url: str) -> tuple[urllib3.HTTPConnectionPool, str, str]:
    """(pool, Host header, path) for `url` if it may be called; raise BlockedDestination
    (or Unresolvable) before any connection otherwise."""
    check_url(url)  # scheme, host, and every answer public (or the host allowed)
    parts = urlsplit(url)
    host = normalise_host(parts.hostname or "")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    pool_kwargs: dict = {}
    if is_allowed_host(host):
        address = host
    else:
        try:
            # Resolved again, and this answer is the one connected to: a name re-pointed
            # since check_url (rebinding) is refused here, never reached.
            address = filter_host(host, port, allow_loopback=False)
        except requests.ConnectionError:
            raise Unresolvable(f"The host name {host!r} does not resolve.") from None
        except InvalidIPAddress:
            raise BlockedDestination(REFUSED) from None
        if parts.scheme == "https":
            pool_kwargs = {"assert_hostname": host, "server_hostname": host}
    pool = _pool_manager().connection_from_host(
        address.strip("[]"), port=port, scheme=parts.scheme, pool_kwargs=pool_kwargs
    )
    default_port = port == (443 if parts.scheme == "https" else 80)
    host_header = (f"[{host}]" if ":" in host else host) + ("" if default_port else f":{port}")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return pool, host_header, path


def post(url: str, *, body: bytes, headers: dict[str, str], timeout: float) -> Response:
    """POST `body` to `url` if it may be called; raise BlockedDestination (or Unresolvable)
    before any connection otherwise, or urllib3's errors for the transport."""
    pool, host_header, path = _pool_for(url)
    response = pool.urlopen(
        "POST",
        path,
        body=body,
        headers={**headers, "Host": host_header},
        redirect=False,
        retries=False,
        assert_same_host=False,
        timeout=urllib3.Timeout(connect=min(5.0, timeout), read=timeout),
    )
    return Response(response.status, response.headers)


class TooLarge(ValueError):
    """The answer was bigger than the caller accepts, or took longer than it allows."""


class Fetched(NamedTuple):
    status: int
    headers: Mapping[str, str]
    body: bytes


def get(url: str, *, headers: dict[str, str], timeout: float, max_bytes: int) -> Fetched:
    """GET `url` under the same address rules as a webhook (feeds: bulk.feeds), reading at
    most `max_bytes` of body within `timeout` seconds in all (a server that drips one byte
    per second never times out a single read). Raises BlockedDestination, TooLarge or
    urllib3's errors. Redirects are not followed: a 3xx is returned as it is."""
    deadline = time.monotonic() + timeout
    pool, host_header, path = _pool_for(url)
    response = pool.urlopen(
        "GET",
        path,
        headers={**headers, "Host": host_header},
        redirect=False,
        retries=False,
        assert_same_host=False,
        preload_content=False,
        timeout=urllib3.Timeout(connect=min(5.0, timeout), read=timeout),
    )
    try:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise TooLarge(f"The answer is larger than {max_bytes} bytes.")
        body = bytearray()
        for chunk in response.stream(64 * 1024):
            body += chunk
            if len(body) > max_bytes:
                raise TooLarge(f"The answer is larger than {max_bytes} bytes.")
            if time.monotonic() > deadline:
                raise TooLarge(f"The answer took longer than {timeout:g} seconds.")
    except BaseException:
        # The rest of the answer is unread: this connection cannot serve another request.
        response.close()
        raise
    response.release_conn()
    return Fetched(response.status, response.headers, bytes(body))
