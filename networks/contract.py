"""The contract every network keeps: what it can do, and the calls the rest of Queue Loop
makes on it. Nothing outside networks/ knows which network it talks to; it asks the
registry (networks/registry.py) for one by name and uses only what is written here.

A network is one object (the module's `network`), usually a class instance:

    network = get_provider(account.provider)
    errors = network.validate(text, account=account)   # [] when the text may go out
    published = network.publish(delivery)              # or raises one of the errors below
    message = network.check(account)                   # "Signed in as ..." or raises

What a network can do is stated in `capabilities` (a Capabilities, below), so a caller (the
composer, the delivery code, the contract test) asks instead of guessing by name.

Errors — how a network classifies what went wrong. publish() and check() raise only these
(networks.base), whatever SDK sits underneath; turning an SDK's or the transport's
exception into one of them is the network's job ("classifying"), and the delivery code
decides from the class alone:

- Transient(message, maybe_sent=False): nothing was posted (a 5xx before any effect, a
  refused connection); retried with backoff. maybe_sent=True: the request may have reached
  the network (a timeout while waiting for the answer): a network that is not idempotent is
  not retried, the delivery ends `unconfirmed`.
- RateLimited(message, reset_at): nothing was posted; retried at reset_at.
- AuthFailed: the credentials are bad; the account is marked needs_reconnect.
- Rejected: the network refused this post for good (duplicate, too long, bad image...).
- thread.PartlySent: some parts of a thread went out and the next was refused for good.

Every HTTP call a network makes goes through the ground's guarded transport
(ground.http_transport.sdk / netguard): the address actually connected to is checked against
the networks' address policy, and no redirect is followed (DESIGN invariant 6).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from accounts.models import SocialAccount


@dataclass(frozen=True)
class Published:
    """What a published part is known by on its network: its id, and its address if any."""

    external_id: str
    url: str = ""


class LengthCounting(StrEnum):
    """How a network counts a text's length against its limit."""

    # Python's len(): code points (webhook, sandbox).
    CHARACTERS = "characters"
    # twitter-text v3 weighted length: CJK and emoji count 2, every URL 23 (X).
    WEIGHTED = "weighted"
    # Grapheme clusters, a URL as the instance's url_chars, @user@host as @user (Mastodon).
    MASTODON = "mastodon"
    # Grapheme clusters: a flag or a family emoji is one (Bluesky).
    GRAPHEMES = "graphemes"
    # Characters, but an emoji counts as its UTF-8 bytes (Threads: "emojis are counted as
    # the number of UTF-8 bytes").
    EMOJI_BYTES = "emoji_bytes"

    @property
    def description(self) -> str:
        """How it counts, in the composer's words (under each network's counter)."""
        return _HOW_COUNTED[self]


_HOW_COUNTED = {
    LengthCounting.CHARACTERS: "Characters.",
    LengthCounting.WEIGHTED: "X's weighted count: CJK characters and emoji count 2, every link 23.",
    LengthCounting.MASTODON: "Characters; every link counts 23.",
    LengthCounting.GRAPHEMES: "Graphemes (what you see as one character counts 1).",
    LengthCounting.EMOJI_BYTES: "Characters; an emoji counts as its UTF-8 bytes (most are 4).",
}


@dataclass(frozen=True)
class Capabilities:
    """What a network can do. The contract test (tests/networks/test_contract.py) runs its
    cases according to these, so state them truthfully."""

    # A post's later parts go out after the first, in order (networks/thread.py): each a
    # reply to the part before where the network has replies, else as the next messages
    # (Discord: a webhook cannot reply).
    threads: bool
    # The post's images go with the first part (at most max_images).
    images: bool
    max_images: int
    # Video uploads (no network does video yet).
    video: bool
    # A first comment: publish_comment() posts a reply/comment under the post's first part
    # right after it (or after the post's delay).
    first_comment: bool
    # Repeating a call cannot post twice (an idempotency key, a record key, a unique row),
    # so a call that may have gone through is retried instead of ending `unconfirmed`.
    idempotent: bool
    # The network can list the account's own posts (or read a record by its key), so an
    # `unconfirmed` delivery is resolved by looking: find_published() (ReadsBack, below;
    # DESIGN §4 "Read-back", publishing/read_back.py).
    read_back: bool
    # How text_length() counts.
    length_counting: LengthCounting
    # Each image goes with its alt text (Telegram's photos have none: False).
    alt_text: bool = True
    # Every post needs an image (Instagram): the composer says so before scheduling, and a
    # queued post without one is skipped for the account when its slot comes.
    requires_image: bool = False
    # The image types it takes (content types); empty: every type Queue Loop stores. The
    # composer warns of an image of another type before the post is scheduled.
    image_types: frozenset[str] = frozenset()


@runtime_checkable
class Network(Protocol):
    """The calls. `name` is the registry key and the value stored in
    SocialAccount.provider; `label` is what people read ("Bluesky")."""

    name: str
    label: str
    # The default text limit; limit_for(account) may differ per account (Mastodon: the
    # instance's own limit, read when the account is connected or checked).
    max_length: int
    # Same as capabilities.idempotent (read on the delivery hot path).
    idempotent: bool
    capabilities: Capabilities

    # Optional hints for the delivery lanes (publishing/lanes.py), False when absent:
    # `inline` — the call is a row in our own database, run in the task's own thread;
    # `multiplexed` — the network gives request()/outcome() for curl's multi interface.

    def limit_for(self, account: SocialAccount | None = None) -> int:
        """The text limit for this account (max_length when the account does not matter)."""
        ...

    def text_length(self, text: str) -> int:
        """The text's length as the network counts it (capabilities.length_counting); the
        composer's live counter shows this number."""
        ...

    def validate(self, text: str, *, account: SocialAccount | None = None) -> list[str]:
        """What is wrong with one part's text for this account, as sentences a person can
        act on ("Bluesky counts this text as 301 characters (graphemes); the limit is
        300."); [] when it may go out. Never calls the network."""
        ...

    def publish(self, delivery) -> Published:
        """Post the delivery: its text (`delivery.text`), its thread's later parts
        (`delivery.thread_parts`, each a reply to the one before, resumed after
        `delivery.thread_sent`) and its post's images with their alt text (first part
        only, networks.base.delivery_images). Validates every part first (Rejected when
        one is refused). Returns the first part's Published(external_id, url), or raises
        one of the contract's errors (module docstring)."""
        ...

    def check(self, account: SocialAccount) -> str:
        """Do the stored credentials still work? Returns a sentence for the operator
        ("Signed in to X as @alice"); raises AuthFailed when they do not, and Transient /
        Rejected like publish(). manage.py check_accounts calls this."""
        ...


@runtime_checkable
class CommentsOnPosts(Protocol):
    """The call a network with capabilities.first_comment adds to `Network` (the contract
    test checks that such a network keeps this protocol too)."""

    def publish_comment(self, delivery, text: str, *, on: dict) -> dict:
        """Only when capabilities.first_comment: post `text` as a reply/comment under the
        delivery's post, `on` being its first part's reference (delivery.thread_sent[0]:
        {"id", "url", ...}). Returns the comment's reference {"id", "url"}. Raises the
        contract's errors like publish(). A network keeps a repeat from posting twice the
        way publish() does (an idempotency key or record key derived from the delivery and
        "comment"; a container kept in delivery.network_state)."""
        ...


# --- Read-back (DESIGN §4 "Read-back") ---------------------------------------------------


@dataclass(frozen=True)
class FoundPost:
    """The part was found on the network: its reference, as publish_parts records one
    ({"id", "url"}, plus what replying to it needs: Bluesky's "uri" and "cid")."""

    ref: dict


@dataclass(frozen=True)
class NotFound:
    """Proven absent: the listing covered the whole window and the part is not in it.
    `searched` says what was read ("3 pages of @alice's posts since 12:01 UTC")."""

    searched: str


@dataclass(frozen=True)
class Undecidable:
    """Neither found nor proven absent (listing unavailable, rate-limited, window too old):
    `reason` is a sentence a person can read, shown beside the unconfirmed delivery."""

    reason: str


ReadBack = FoundPost | NotFound | Undecidable


@runtime_checkable
class ReadsBack(Protocol):
    """The call a network with capabilities.read_back adds to `Network` (the contract test
    checks that such a network keeps this protocol too)."""

    def find_published(self, delivery, *, since) -> ReadBack:
        """Look on the network for the delivery's first part not yet recorded — part
        `len(delivery.thread_sent)` of `[delivery.text, *delivery.thread_parts]` (a reply
        to `thread_sent[-1]` when there is one) — posted at or after `since` (an aware
        datetime: the delivery's claim, minus a margin). Matched exactly: by record key
        where the network has one, else by the exact text and number of images within
        the window. Never posts, never raises: every failure is an Undecidable with its
        reason."""
        ...


# --- Metrics (issue 31: what each post earned) --------------------------------------------


@dataclass(frozen=True)
class Counts:
    """A post's public counts as its network shows them now. None: the network has no such
    count (Mastodon has no quotes, Instagram and LinkedIn's reading API no reposts) or does
    not show it to this token (impressions)."""

    likes: int
    reposts: int | None
    replies: int
    quotes: int | None = None
    impressions: int | None = None


@dataclass(frozen=True)
class Deleted:
    """The network says the post is gone (deleted, or its id unknown to it)."""

    reason: str = ""


PostMetrics = Counts | Deleted


@runtime_checkable
class ReportsMetrics(Protocol):
    """The call a network that can read its posts' public counts adds to `Network`
    (results/collector.py asks isinstance(network, ReportsMetrics))."""

    def metrics(self, account: SocialAccount, external_ids: list[str]) -> dict[str, PostMetrics]:
        """The counts of the account's posts named by `external_ids` (Delivery.external_id),
        read in as few calls as the network allows (X: 100 ids a call; Bluesky: 25 uris a
        call; Facebook and Instagram: 50 ids a call; LinkedIn: 50 urns a call; Mastodon and
        Threads: one post a call). An id missing from the answer was not read this
        time (it is asked again later); Deleted only when the network says the post is gone.
        Raises the contract's errors like check(): RateLimited(reset_at) delays the
        account's collection, Transient retries later, AuthFailed and Rejected are counted
        as failures. Never posts."""
        ...
