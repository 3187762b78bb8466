"""Threads: a post's parts published one after another, each a reply to the one before.

`publish_parts` is the loop every provider shares; the provider gives it `post_part(index,
text, sent)`, which posts one part (a reply to `sent[-1]`, the thread's root being
`sent[0]`) and returns its reference ({"id", "url"}, plus what the network needs to reply
to it, such as Bluesky's "cid").

Resuming: after each part its reference is written to the delivery (`thread_sent`) at once,
so a retry — after a rate limit, a server error, a worker that died — starts after the last
part that went out and never posts one twice. Each part also carries its own idempotency
key (Mastodon) or record key (Bluesky), so a part whose answer was lost is found again
rather than repeated.

A part that fails for good after others went out ends the delivery `partial`
(PartlySent); its message lists what went out.

A first comment (publishing/comments.py) replies to `thread_sent[0]`; `comment_on` gives it.
"""

from __future__ import annotations

from collections.abc import Callable

from networks.base import (
    AuthFailed,
    ProviderError,
    RateLimited,
    Rejected,
    Transient,
    validate_for,
)
from networks.contract import Published

# One posted part: {"id", "url"}, plus what replying to it needs (Bluesky: "uri", "cid").
PartRef = dict


class PartlySent(ProviderError):
    """Some parts of the thread went out, and the next one was refused for good."""

    def __init__(self, message: str, *, needs_reconnect: bool = False):
        super().__init__(message)
        self.needs_reconnect = needs_reconnect


def texts_of(delivery) -> list[str]:
    return [delivery.text, *(delivery.thread_parts or [])]


def validate_parts(provider, delivery, *, account=None) -> list[str]:
    """Every part's errors, labelled when the post is a thread (the provider's own
    validate, through validate_for, as the composer and the API use it)."""
    texts = texts_of(delivery)
    errors: list[str] = []
    for index, text in enumerate(texts):
        label = f"Part {index + 1}: " if len(texts) > 1 else ""
        errors.extend(label + e for e in validate_for(provider, text, account))
    return errors


def _went_out(sent: list[PartRef], total: int) -> str:
    where = ", ".join(ref.get("url") or ref["id"] for ref in sent)
    which = "Part 1" if len(sent) == 1 else f"Parts 1 to {len(sent)}"
    return f"{which} of {total} went out ({where})."


def _record(delivery, sent: list[PartRef]) -> None:
    first = sent[0]
    # The delivery's own model (publishing.Delivery): publishing sits above networks, so
    # its manager is read from the row, not imported.
    type(delivery)._default_manager.filter(id=delivery.id).update(
        thread_sent=sent, external_id=first["id"][:100], url=first.get("url", "")[:500]
    )
    delivery.thread_sent = sent


def publish_parts(delivery, post_part: Callable[[int, str, list[PartRef]], PartRef]) -> Published:
    """Post the parts not yet sent, in order; returns the first part as the delivery's."""
    texts = texts_of(delivery)
    sent: list[PartRef] = list(delivery.thread_sent or [])
    for index in range(len(sent), len(texts)):
        try:
            ref = post_part(index, texts[index], sent)
        except ProviderError as exc:
            if not sent:
                raise
            prefix = f"{_went_out(sent, len(texts))} Part {index + 1}: "
            if isinstance(exc, RateLimited):
                raise RateLimited(prefix + exc.message, reset_at=exc.reset_at) from None
            if isinstance(exc, Transient):
                raise Transient(prefix + exc.message, maybe_sent=exc.maybe_sent) from None
            if isinstance(exc, Rejected | AuthFailed):
                raise PartlySent(
                    prefix + exc.message, needs_reconnect=isinstance(exc, AuthFailed)
                ) from None
            raise
        sent.append(ref)
        # A first comment due after the post replies to the first part: its reference
        # (Bluesky's "cid" included) is kept for it even when the post is a single part.
        if len(texts) > 1 or getattr(delivery, "comment_status", "") == "due":
            _record(delivery, sent)
    first = sent[0]
    return Published(external_id=first["id"], url=first.get("url", ""))


def comment_on(delivery) -> dict:
    """The reference a first comment replies to: the post's first part (thread_sent[0]),
    else what the delivery recorded of it (a network that keeps no thread_sent)."""
    if delivery.thread_sent:
        return dict(delivery.thread_sent[0])
    return {"id": delivery.external_id, "url": delivery.url}
