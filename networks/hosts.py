"""Which servers a Mastodon or Bluesky account may make us call (DESIGN invariant 6).

The instance URL (Mastodon) and the server URL (Bluesky, when not bsky.social) are user
input. Unchecked, they would let a user point our workers at loopback, the cloud metadata
service or any host on our private network, and read back status codes and errors. So
every such URL is checked when the account is connected (the user gets a form error), and
every call the SDKs make goes through ground.http_transport.sdk, which checks the address it
actually connects to (after DNS, so a record re-pointed later is refused too) and follows
no redirect: every address must be public unless the operator listed the host in
INSTANCE_ALLOWED_HOSTS (ground.address_policy.NETWORKS).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ground import address_policy as netpolicy

# The policy's errors, under the names the providers and forms use.
BlockedHost = netpolicy.BlockedDestination
HostUnresolvable = netpolicy.Unresolvable
REFUSED = netpolicy.NETWORK_REFUSED
POLICY = netpolicy.NETWORKS


def is_allowed(host: str) -> bool:
    return POLICY.allows(host)


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
    if not urlsplit(url).hostname:
        raise BlockedHost("This is not a valid server address.")
    POLICY.check_url(url)
