"""What every network shares: its errors, its answer (Published), the plain-text base
class, and the per-account length helpers. The contract itself is networks/contract.py.

Providers whose limit depends on the account (Mastodon: the instance's own limit) also take
`validate(text, account=...)` and have `limit_for(account) -> int`; `limit_for` below works
for every provider.
Provider errors are classified so the delivery logic can decide without knowing the network:

- Transient: nothing was posted (5xx before/without effect, connection refused); retry with
  backoff. `maybe_sent=True` means the request may have reached the network (timeout while
  waiting for the answer): a non-idempotent provider must not retry it.
- RateLimited(reset_at): nothing was posted; retry at reset_at.
- AuthFailed: credentials are bad; the account needs reconnecting.
- Rejected: the network refused this text for good (duplicate, too long...).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from accounts.models import SocialAccount
    from networks.contract import Network as Provider


class ProviderError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class Transient(ProviderError):
    def __init__(self, message: str, *, maybe_sent: bool = False):
        super().__init__(message)
        self.maybe_sent = maybe_sent


class RateLimited(ProviderError):
    def __init__(self, message: str, *, reset_at: dt.datetime):
        super().__init__(message)
        self.reset_at = reset_at


class AuthFailed(ProviderError):
    pass


class Rejected(ProviderError):
    pass


class PlainTextProvider:
    """Length is plain characters; the only rules are "not empty" and a maximum length."""

    label = "This network"
    max_length = 0

    def text_length(self, text: str) -> int:
        return len(text)

    def limit_for(self, account=None) -> int:
        return self.max_length

    def validate(self, text: str, *, account=None) -> list[str]:
        if not text.strip():
            return ["The text is empty."]
        if len(text) > self.max_length:
            return [
                f"{self.label} takes at most {self.max_length} characters; this text has "
                f"{len(text)}."
            ]
        return []


def limit_for(provider: Provider, account: SocialAccount | None = None) -> int:
    """The provider's length limit for this account (the instance's, on Mastodon)."""
    per_account = getattr(provider, "limit_for", None)
    return per_account(account) if per_account is not None else provider.max_length


def validate_for(provider: Provider, text: str, account: SocialAccount | None = None) -> list[str]:
    """provider.validate(text), with the account when the provider's rules depend on it."""
    if account is not None and hasattr(provider, "limit_for"):
        return provider.validate(text, account=account)
    return provider.validate(text)


def needs_image(provider: Provider) -> str:
    """Why a post without an image cannot go to this network ("" when it can): one sentence
    for the composer's warning, the upcoming slots' misfits and the skipped delivery."""
    if not getattr(provider.capabilities, "requires_image", False):
        return ""
    return f"{provider.label} needs an image: every post there has one, and this post has none."


def image_type_problem(provider: Provider, content_types: list[str]) -> str:
    """Why these images (their content types, in order) cannot go to this network ("" when
    they can): one sentence for the composer's warning; publish() refuses them too."""
    accepted = getattr(provider.capabilities, "image_types", frozenset())
    if not accepted:
        return ""
    refused = [n for n, kind in enumerate(content_types, 1) if kind not in accepted]
    if not refused:
        return ""
    names = " and ".join(sorted(k.split("/")[-1].upper() for k in accepted))
    which = ", ".join(str(n) for n in refused)
    return f"{provider.label} takes {names} images only: image {which} will fail there."


def delivery_images(delivery) -> list:
    """The images of the delivery's post, in order. A delivery chunk loads them for all its
    deliveries in one query into `delivery.image_list` (publishing.delivery.load_images);
    a delivery loaded on its own reads them here."""
    if not delivery.post_id:
        return []
    loaded = getattr(delivery, "image_list", None)
    images = list(loaded) if loaded is not None else list(delivery.post.images.all())
    # An image added to a post already queued may still be processing (or have failed):
    # its stored file is not made yet. Scheduling refuses such a post; this is for the slot
    # that comes first.
    for image in images:
        if not image.is_ready:
            raise Rejected(
                f"Image {image.position + 1} of the post is not ready ({image.status}): "
                "see the post's Images page."
            )
    return images
