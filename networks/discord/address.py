"""A Discord channel webhook's address: what a pasted URL may be, and the URLs we call.

An account is one channel webhook, `https://discord.com/api/webhooks/<id>/<token>` (in
Discord: the channel's Edit Channel → Integrations → Webhooks → Copy Webhook URL). The URL
is the credential: whoever holds its token can post to the channel. So it is stored
encrypted (SocialAccount.credentials), never logged and never shown back; the webhook id,
which is not secret, is the account's external id. `WebhookAddress.redact` takes the token
out of any text before it is kept or shown.

The URL is also user input that the workers call, so it obeys the webhook address rules
(DESIGN invariant 6) on top of Discord's own shape:

- its host must be one of DISCORD_WEBHOOK_HOSTS (Discord's own by default; the tests add
  their loopback fake), checked before any look-up: a URL to anywhere else is refused
  without a DNS query or a connection;
- `check` then applies the webhook address policy (ground.address_policy.WEBHOOKS: every
  address the name resolves to must be public, unless the host is in
  WEBHOOK_ALLOWED_HOSTS), and every call goes through ground.http_transport.curl, which
  checks the address it actually connects to (a Discord name re-pointed at a private address
  later is refused) and follows no redirect;
- `http://` only for a host the operator allowed in WEBHOOK_ALLOWED_HOSTS (a local fake):
  Discord itself is https only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlsplit

from django.conf import settings

from ground.address_policy import WEBHOOKS, normalise_host
from ground.http_transport import curl as netguard

# The API version every call names (Discord retires old ones; v10 is current). The stored
# URL stays the unversioned one Discord hands out.
API_VERSION = 10

# /api/webhooks/<id>/<token>, or the versioned /api/v10/webhooks/<id>/<token>. Ids are
# snowflakes (digits); tokens are URL-safe base64 (68 characters today). Anything more in
# the path (/github, /slack, /messages/...) is another endpoint, not a channel webhook.
_PATH = re.compile(
    r"/api(?:/v\d{1,2})?/webhooks/(?P<id>\d{15,25})/(?P<token>[A-Za-z0-9_-]{20,200})/?"
)

EXAMPLE = "https://discord.com/api/webhooks/<id>/<token>"
WHERE = (
    "Copy it in Discord: the channel's Edit Channel → Integrations → Webhooks → Copy Webhook URL."
)


class InvalidWebhookUrl(ValueError):
    """The text is not a Discord channel webhook URL; the message is meant for the user."""


@dataclass(frozen=True)
class WebhookAddress:
    scheme: str
    # host[:port], the host lower-cased.
    netloc: str
    webhook_id: str
    token: str = field(repr=False)
    # A thread of the webhook's channel to post into (a forum post), when the URL names one.
    thread_id: str = ""

    @property
    def url(self) -> str:
        """The form stored in credentials (and the one a person would paste)."""
        url = f"{self.scheme}://{self.netloc}/api/webhooks/{self.webhook_id}/{self.token}"
        return url + (f"?thread_id={self.thread_id}" if self.thread_id else "")

    def api_url(self, *, wait: bool = False) -> str:
        """The versioned endpoint: GET reads the webhook, POST executes it. `wait=true` makes
        Discord answer with the message it made (its id), or with an error when it made
        none; without it a message that was not saved returns no error at all."""
        base = (
            f"{self.scheme}://{self.netloc}/api/v{API_VERSION}/webhooks/"
            f"{self.webhook_id}/{self.token}"
        )
        query = {}
        if wait:
            query["wait"] = "true"
            if self.thread_id:
                query["thread_id"] = self.thread_id
        return base + (f"?{urlencode(query)}" if query else "")

    def redact(self, text: str) -> str:
        """`text` without the token (an error message that might quote the URL)."""
        return text.replace(self.token, "<token>")


def discord_hosts() -> frozenset[str]:
    return frozenset(normalise_host(h) for h in settings.DISCORD_WEBHOOK_HOSTS)


def parse(raw: str) -> WebhookAddress:
    """The webhook address in `raw`, or InvalidWebhookUrl saying what is wrong. Looks nothing
    up and connects nowhere."""
    raw = (raw or "").strip()
    if not raw:
        raise InvalidWebhookUrl(f"Paste the channel webhook's URL. {WHERE}")
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise InvalidWebhookUrl(f"This is not a valid URL. {WHERE}") from None
    host = normalise_host(parts.hostname or "")
    if parts.scheme not in {"http", "https"} or not host or parts.username or parts.password:
        raise InvalidWebhookUrl(f"This is not a Discord webhook URL ({EXAMPLE}). {WHERE}")
    if host not in discord_hosts():
        raise InvalidWebhookUrl(
            f"This is not a Discord webhook URL: its host is {host}, not discord.com. {WHERE}"
        )
    if parts.scheme == "http" and not WEBHOOKS.allows(host):
        raise InvalidWebhookUrl(f"Use the https:// URL Discord gives ({EXAMPLE}).")
    match = _PATH.fullmatch(parts.path)
    if match is None:
        raise InvalidWebhookUrl(
            f"This Discord URL is not a channel webhook's: it should look like {EXAMPLE}. {WHERE}"
        )
    thread_ids = parse_qs(parts.query).get("thread_id", [""])
    thread_id = thread_ids[0] if thread_ids[0].isdigit() else ""
    netloc = (f"[{host}]" if ":" in host else host) + (f":{port}" if port else "")
    return WebhookAddress(
        scheme=parts.scheme,
        netloc=netloc,
        webhook_id=match["id"],
        token=match["token"],
        thread_id=thread_id,
    )


def check(address: WebhookAddress) -> None:
    """Raise netguard.BlockedDestination (netguard.Unresolvable when the name does not
    resolve) unless the webhook address policy lets us call this address. Resolves DNS;
    never connects. The transport checks again at every call."""
    netguard.check_url(address.api_url())
