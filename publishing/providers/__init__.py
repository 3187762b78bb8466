"""Social network providers: one module each, one small interface.

`get_provider(name)` returns an object with `max_length`, `idempotent`, `text_length(text)`,
`validate(text) -> list[str]`, `publish(delivery) -> Published` and `check(account)`.
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
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from accounts.models import SocialAccount
    from publishing.models import Delivery


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


@dataclass(frozen=True)
class Published:
    external_id: str
    url: str = ""


class PlainTextProvider:
    """Length is plain characters; the only rules are "not empty" and a maximum length."""

    label = "This network"
    max_length = 0

    def text_length(self, text: str) -> int:
        return len(text)

    def validate(self, text: str) -> list[str]:
        if not text.strip():
            return ["The text is empty."]
        if len(text) > self.max_length:
            return [
                f"{self.label} takes at most {self.max_length} characters; this text has "
                f"{len(text)}."
            ]
        return []


class Provider(Protocol):
    name: str
    max_length: int
    # True when repeating a call cannot post twice (the receiver dedupes by a key).
    idempotent: bool

    def text_length(self, text: str) -> int: ...

    def validate(self, text: str) -> list[str]: ...

    def publish(self, delivery: Delivery) -> Published: ...

    def check(self, account: SocialAccount) -> str: ...


def limit_for(provider: Provider, account: SocialAccount | None = None) -> int:
    """The provider's length limit for this account (the instance's, on Mastodon)."""
    per_account = getattr(provider, "limit_for", None)
    return per_account(account) if per_account is not None else provider.max_length


def validate_for(provider: Provider, text: str, account: SocialAccount | None = None) -> list[str]:
    """provider.validate(text), with the account when the provider's rules depend on it."""
    if account is not None and hasattr(provider, "limit_for"):
        return provider.validate(text, account=account)
    return provider.validate(text)


def delivery_images(delivery) -> list:
    """The images of the delivery's post, in order. A delivery chunk loads them for all its
    deliveries in one query into `delivery.image_list` (publishing.delivery.load_images);
    a delivery loaded on its own reads them here."""
    if not delivery.post_id:
        return []
    from posts.models import PostImage

    loaded = getattr(delivery, "image_list", None)
    images = list(loaded) if loaded is not None else list(delivery.post.images.all())
    # An image added to a post already queued may still be processing (or have failed):
    # its stored file is not made yet. Scheduling refuses such a post; this is for the slot
    # that comes first.
    for image in images:
        if image.status != PostImage.Status.READY:
            raise Rejected(
                f"Image {image.position + 1} of the post is not ready ({image.status}): "
                "see the post's Images page."
            )
    return images


@cache
def load_all() -> dict[str, Provider]:
    """Every provider by name. The modules are imported on first use, not with this package:
    they pull in the networks' SDKs (atproto, Mastodon.py, twitter-text), CPU that a web
    process showing a form need not pay (bench/README.md, "Engine v2 follow-up"). A worker
    calls this when it loads its tasks, so no hot second pays it under the GIL
    (publishing/tasks.py). Cached: a delivery asks for its provider several times, and
    five imports per ask showed in the hot second."""
    from publishing.providers import bluesky, mastodon, sandbox, webhook, x

    return {
        "bluesky": bluesky.provider,
        "mastodon": mastodon.provider,
        "sandbox": sandbox.provider,
        "webhook": webhook.provider,
        "x": x.provider,
    }


def get_provider(name: str) -> Provider:
    try:
        return load_all()[name]
    except KeyError:
        raise ValueError(f"Unknown provider {name!r}") from None
