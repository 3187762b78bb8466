"""Which addresses a request sent on a user's behalf may reach (DESIGN §7, invariant 6).

One rule for every outbound call: an address is refused when it is loopback, private,
link-local, multicast, reserved, unspecified, shared (CG-NAT) or one of the translation
ranges that can wrap those, unless the operator listed the host. Two allow-lists exist
because the two kinds of destination are granted separately: WEBHOOK_ALLOWED_HOSTS for
webhooks and feeds, INSTANCE_ALLOWED_HOSTS for the networks' servers (Mastodon instances,
Bluesky servers and PDSs, X's API base).

The rule is applied by the transports, at the moment they connect (ground.http_transport.curl for
webhooks and feeds, ground.http_transport.sdk for the SDKs): the name is resolved once and the
checked answer is the address connected to, so a record re-pointed between a check and the
connection (DNS rebinding) never reaches a refused address. `check_url` is the same rule
for forms, which want a clear message before anything is saved.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from functools import cache
from urllib.parse import urlsplit

from django.conf import settings
from requests_hardened.ip_filter import EXTRA_BLOCKED_NET_RANGES

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class BlockedDestination(ValueError):
    """The URL may not be called; the message is meant for the user."""


class Unresolvable(BlockedDestination):
    """The host name did not resolve (now: at send time this may pass, so retry)."""


class RedirectRefused(BlockedDestination):
    """The server answered with a redirect where the API needs none: nothing was sent to
    the redirect's target. The message is meant for the user."""

    def __init__(self, message: str, *, status: int):
        super().__init__(message)
        self.status = status


def redirect_refused(url: str, status: int, location: str) -> RedirectRefused:
    host = urlsplit(url).netloc or url
    # Only the target's host: the user needs to know where the server points, and the
    # server chose it, so it tells nothing about our network.
    target = urlsplit(location).netloc or location[:100]
    return RedirectRefused(
        f"{host} answered {status}, a redirect to {target}: Queue Loop follows no redirects "
        "from this server. Check its address.",
        status=status,
    )


def normalise_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


@cache
def _allowed(hosts: tuple[str, ...]) -> frozenset[str]:
    return frozenset(normalise_host(h) for h in hosts)


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


def _literal(host: str) -> IPAddress | None:
    """The host as an IP address, or None when it is a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _resolve(host: str, port: int) -> list[IPAddress]:
    literal = _literal(host)
    if literal is not None:
        return [literal]
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise Unresolvable(f"The host name {host!r} does not resolve.") from None
    return [ipaddress.ip_address(answer[4][0].split("%", 1)[0]) for answer in answers]


@dataclass(frozen=True)
class Policy:
    """The rule with one operator allow-list (a setting's name) and the refusal's wording
    (`{host}` is replaced by the host)."""

    allow_list: str
    refused: str

    def allows(self, host: str) -> bool:
        # Keyed by the setting's value, so a changed setting (a test's override) is read again.
        return normalise_host(host) in _allowed(tuple(getattr(settings, self.allow_list)))

    def refusal(self, host: str) -> BlockedDestination:
        return BlockedDestination(self.refused.format(host=host))

    def check_url(self, url: str) -> tuple[str, int, bool]:
        """Raise BlockedDestination unless `url` is http(s) and every address its host
        resolves to is public (or the host is allowed). Return the normalised host, the
        port, and whether the operator allowed the host (then nothing was resolved)."""
        try:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise BlockedDestination("The URL is not valid.") from None
        if parts.scheme not in {"http", "https"}:
            raise BlockedDestination("Use an http:// or https:// URL.")
        host = normalise_host(parts.hostname or "")
        if not host:
            raise BlockedDestination("The URL has no host.")
        if self.allows(host):
            return host, port, True
        # Every answer, not the first: a name with one public and one private record would
        # otherwise pass here and reach the private one on some later call.
        if any(is_forbidden_address(ip) for ip in _resolve(host, port)):
            raise self.refusal(parts.hostname or host)
        return host, port, False

    def addresses(self, host: str, port: int) -> list[str]:
        """The addresses to connect to for host:port, in the resolver's order, resolved now;
        raise BlockedDestination (or Unresolvable) unless every answer may be reached. The
        caller connects to these, never to the name, so the name cannot change in between."""
        host = normalise_host(host)
        answers = _resolve(host, port)
        if not self.allows(host) and any(is_forbidden_address(ip) for ip in answers):
            raise self.refusal(host)
        return [str(ip) for ip in answers]


REFUSED = (
    "The URL points at a local, private or reserved network address. Use a public address, "
    "or ask your operator to allow this host (WEBHOOK_ALLOWED_HOSTS)."
)
NETWORK_REFUSED = (
    "{host} is on a local, private or reserved network address. Use a public server, or ask "
    "your operator to allow this host (INSTANCE_ALLOWED_HOSTS)."
)

# Webhooks and feeds.
WEBHOOKS = Policy("WEBHOOK_ALLOWED_HOSTS", REFUSED)
# The networks' servers: Mastodon instances, Bluesky servers and PDSs, X.
NETWORKS = Policy("INSTANCE_ALLOWED_HOSTS", NETWORK_REFUSED)
