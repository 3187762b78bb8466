"""Standard Webhooks signatures (https://www.standardwebhooks.com/, spec 1.0).

The signed content is `<webhook-id>.<webhook-timestamp>.<raw body>`; the key is the
endpoint secret without its `whsec_` prefix, base64-decoded; the signature header is
`v1,<base64 HMAC-SHA256>` (space-separated when several). The API docs print `verify`
below as the receiver's algorithm, and the tests run it from there.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PREFIX = "whsec_"
KEY_BYTES = 32  # within the spec's 24-64 bytes


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def is_valid_secret(secret: str) -> bool:
    try:
        return secret.startswith(PREFIX) and 24 <= len(_key(secret)) <= 64
    except ValueError:
        return False


def sign(*, secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The webhook-signature header's value for this message."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(*, secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "QueueLoop/0.1",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret=secret, msg_id=msg_id, timestamp=timestamp, body=body),
    }
