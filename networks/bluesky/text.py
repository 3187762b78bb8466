"""Bluesky text rules: grapheme length, rich-text facets (byte offsets) and record keys.

Facets mark links, mentions and hashtags. Their `index` is a byte slice of the text's UTF-8
encoding (byteStart inclusive, byteEnd exclusive), not a character position: an emoji
before a link moves the link by 4 bytes but 1 character. So the patterns run on the
encoded bytes and their offsets are used as they are. The link and mention patterns are the
ones in Bluesky's documentation ("Links, mentions and rich text").
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import grapheme

MAX_GRAPHEMES = 300
MAX_TAG_GRAPHEMES = 64

MENTION_RE = re.compile(
    rb"[$|\W](@([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)"
)
URL_RE = re.compile(
    rb"[$|\W](https?:\/\/(www\.)?[-a-zA-Z0-9@:%._\+~#=]{1,256}\.[a-zA-Z0-9()]{1,6}\b"
    rb"([-a-zA-Z0-9()@:%_\+.~#?&//=]*[-a-zA-Z0-9@%_\+~#//=])?)"
)
# A hashtag starts after a space or the start, is not only digits, and drops trailing
# punctuation (as Bluesky's app does).
TAG_RE = re.compile(rb"(?:^|\s)(#[^\d\s#][^\s#]*|#\d+[^\d\s#][^\s#]*)")
TRAILING_PUNCTUATION = b".,;:!?'\")]}"


def length(text: str) -> int:
    """What Bluesky counts: grapheme clusters (a flag or a family emoji is one)."""
    return grapheme.length(text)


@dataclass(frozen=True)
class Facet:
    kind: str  # "link" | "mention" | "tag"
    byte_start: int
    byte_end: int
    value: str  # the URL, the handle (without @) or the tag (without #)


def find_facets(text: str) -> list[Facet]:
    """Links, mentions and tags with their byte offsets, in text order."""
    # A leading space lets the patterns' "preceded by a non-word byte" match at the start;
    # every offset is shifted back by it.
    data = b" " + text.encode("utf-8")
    found: list[Facet] = []
    for match in URL_RE.finditer(data):
        found.append(Facet("link", match.start(1) - 1, match.end(1) - 1, match.group(1).decode()))
    for match in MENTION_RE.finditer(data):
        handle = match.group(1)[1:].decode()
        found.append(Facet("mention", match.start(1) - 1, match.end(1) - 1, handle))
    for match in TAG_RE.finditer(data):
        raw = match.group(1).rstrip(TRAILING_PUNCTUATION)
        tag = raw[1:].decode("utf-8", errors="ignore")
        if not tag or grapheme.length(tag) > MAX_TAG_GRAPHEMES:
            continue
        start = match.start(1) - 1
        found.append(Facet("tag", start, start + len(raw), tag))
    found.sort(key=lambda f: f.byte_start)
    # A mention inside a link (https://host/@user.example) is part of the link.
    result: list[Facet] = []
    for facet in found:
        if result and facet.byte_start < result[-1].byte_end:
            continue
        result.append(facet)
    return result


# --- Record keys ------------------------------------------------------------------------

_B32_SORTABLE = "234567abcdefghijklmnopqrstuvwxyz"


def tid(microseconds: int, clock_id: int) -> str:
    """An atproto TID: 1 zero bit, 53 bits of microseconds since the epoch, 10 bits of clock
    id, written as 13 characters of base32-sortable."""
    value = ((microseconds & ((1 << 53) - 1)) << 10) | (clock_id & 0x3FF)
    chars = []
    for _ in range(13):
        chars.append(_B32_SORTABLE[value & 31])
        value >>= 5
    return "".join(reversed(chars))


# The first comment's record key is taken as if it were this part of the thread: past any
# thread's parts (at most 25), so it is the delivery's own and apart from every other key.
COMMENT_PART = 100


def record_key(delivery_id: int, created_at: dt.datetime, *, part: int = 0) -> str:
    """The post's record key, derived from the delivery alone, so every attempt of one
    delivery writes the same key and a repeat cannot make a second post.

    It is a valid TID (app.bsky.feed.post records are keyed by TIDs) near the delivery's
    creation: the whole second it was created, plus the delivery id in the microseconds
    and clock id, which keeps any two deliveries created in the same second apart (their
    ids would have to differ by a multiple of 1,024,000,000).

    Part n of a thread takes the second n seconds later (the same argument keeps it apart
    from any other delivery's keys), so a thread's keys also sort in its order.
    """
    seconds = int(created_at.timestamp()) + part
    micro = seconds * 1_000_000 + delivery_id % 1_000_000
    clock_id = (delivery_id // 1_000_000) % 1024
    return tid(micro, clock_id)
