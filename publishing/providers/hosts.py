"""Which servers a Mastodon or Bluesky account may make us call (DESIGN invariant 6).

The instance URL (Mastodon) and the server URL (Bluesky, when not bsky.social) are user
input. Unchecked, they would let a user point our workers at loopback, the cloud metadata
service or any host on our private network, and read back status codes and errors. So
every such URL is checked when the account is connected (the user gets a form error) and
again before each call: every address its host resolves to must be public, unless the
operator listed the host in INSTANCE_ALLOWED_HOSTS.

The check resolves the name; the HTTP library resolves it again when it connects, so a
record re-pointed in between (DNS rebinding) is not caught here. The window is the few
milliseconds between the two look-ups, and an attacker needs a Mastodon/Bluesky account
whose instance they control; a webhook-style pinned connection is the stronger fix.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

from queueloop import netguard

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class BlockedHost(ValueError):
    """The URL may not be called; the message is written for the user."""


class HostUnresolvable(BlockedHost):
    """The name did not resolve now (it may later: callers treat this as transient)."""


REFUSED = (
    "{host} is on a local, private or reserved network address. Use a public server, or ask "
    "your operator to allow this host (INSTANCE_ALLOWED_HOSTS)."
)


def _normalise(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def is_allowed(host: str) -> bool:
    return _normalise(host) in {_normalise(h) for h in settings.INSTANCE_ALLOWED_HOSTS}


def _forbidden(ip: IPAddress) -> bool:
    # One definition of "not public" for every outbound call: the webhook guard's (loopback,
    # private, link-local, CG-NAT, reserved and the translation ranges that wrap them).
    return netguard.is_forbidden_address(ip)


def resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise HostUnresolvable(f"The host name {host!r} does not resolve.") from None
    return [ipaddress.ip_address(a[4][0].split("%", 1)[0]) for a in answers]


def normalise_base_url(raw: str) -> str:
    """`mastodon.social`, `https://mastodon.social/` or `https://mastodon.social/@me` →
    `https://mastodon.social` (scheme and host[:port] only). Raises BlockedHost when it
    is not a usable http(s) URL."""
    raw = raw.strip()
    if not raw:
        raise BlockedHost("Enter the server's address, such as mastodon.social.")
    if "://" not in raw:
        raw = "https://" + raw
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise BlockedHost("This is not a valid server address.") from None
    if parts.scheme not in {"http", "https"}:
        raise BlockedHost("Use an https:// address.")
    if not parts.hostname or parts.username or parts.password:
        raise BlockedHost("This is not a valid server address.")
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def check_url(url: str) -> None:
    """Raise BlockedHost unless every address of the URL's host is public or the host is
    allowed by the operator. Resolves DNS; never connects."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host:
        raise BlockedHost("This is not a valid server address.")
    if is_allowed(host):
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    # Every answer, not only the first: one public and one private record must not pass.
    if any(_forbidden(ip) for ip in resolve(_normalise(host), port)):
        raise BlockedHost(REFUSED.format(host=host))
