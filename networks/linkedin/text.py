"""A post's text as the Posts API's `commentary`: LinkedIn's "little" text format.

`commentary` is not plain text: `@[Name](urn:li:person:1)` is a mention, `{hashtag|#|tag}` a
hashtag template, and LinkedIn's docs say every reserved character must be escaped with a
backslash to be read as text, "even if those characters are not used in one of the
supported elements or templates" — unescaped, a "(" can cut the post short or make LinkedIn
refuse it. The reserved characters: | { } @ [ ] ( ) < > # \\ * _ ~

A plain `#tag` (a # at a word's start, followed by letters or digits) is little's own
HashtagElement and is left as it is, so hashtags written in the composer stay hashtags;
every other reserved character is escaped, so the text is posted literally.
"""

from __future__ import annotations

import re

RESERVED = frozenset("|{}@[]()<>#\\*_~")
# A hashtag: a # not glued to the word before, followed by a letter or a digit (the
# hashtag's own characters are not reserved, except "_", which stays escaped).
_HASHTAG_START = re.compile(r"(?<![\w#\\])#(?=[^\W_])")


def escape(text: str) -> str:
    """`text` with little's reserved characters escaped; hashtags kept."""
    keep = {m.start() for m in _HASHTAG_START.finditer(text)}
    return "".join(
        f"\\{char}" if char in RESERVED and index not in keep else char
        for index, char in enumerate(text)
    )
