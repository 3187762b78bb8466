"""Rewriting a delivery's links to short links (no queries: the caller inserts the rows).

Called by the publish claim (publishing/claim.py) while it makes deliveries, so it sits
below publishing and reads only what the claim already holds: the channel's settings, the
post id, the network name."""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings

CODE_LENGTH = 10  # 62**10 codes: unguessable, and a fixed length for the composer's counters
_ALPHABET = string.ascii_letters + string.digits
# http(s) addresses up to the next space or angle bracket or quote; what trails them is
# trimmed below (a sentence's full stop is not part of its link).
URL = re.compile(r"https?://[^\s<>\"'`]+", re.I)
_TRAILING = ".,;:!?'\"*_"
_PAIRS = {")": "(", "]": "[", "}": "{"}

UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_content")


@dataclass(frozen=True)
class UtmTemplates:
    """A channel's templates: {network}, {channel} (its slug) and {post} (the post id)."""

    source: str = "{network}"
    medium: str = "social"
    campaign: str = "{channel}"
    content: str = "{post}"


@dataclass
class Rewritten:
    text: str
    links: list[tuple[str, str]] = field(default_factory=list)  # (code, target)


def _trim(url: str) -> str:
    """The URL without trailing punctuation; a closing bracket stays when the URL opened it
    (Wikipedia's "Foo_(bar)")."""
    while url:
        last = url[-1]
        if last in _TRAILING:
            url = url[:-1]
        elif last in _PAIRS and url.count(_PAIRS[last]) < url.count(last):
            url = url[:-1]
        else:
            break
    return url


def find_urls(text: str) -> list[tuple[int, int]]:
    """(start, end) of each link in the text."""
    spans = []
    for match in URL.finditer(text):
        url = _trim(match.group())
        if len(url) > len("https://"):
            spans.append((match.start(), match.start() + len(url)))
    return spans


def with_utm(url: str, values: dict[str, str]) -> str:
    """The URL with the UTM parameters added: its own query kept in order, an existing
    utm_* parameter never overwritten, an empty value left out."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    present = {k for k, _ in query}
    added = [(k, v) for k, v in values.items() if v and k not in present]
    if not added:
        return url
    new_query = f"{parts.query}&{urlencode(added)}" if parts.query else urlencode(added)
    return urlunsplit(parts._replace(query=new_query))


def utm_values(templates: UtmTemplates, *, network: str, channel: str, post_id: int):
    names = {"network": network, "channel": channel, "post": str(post_id)}

    def fill(template: str) -> str:
        out = template
        for key, value in names.items():
            out = out.replace("{" + key + "}", value)
        return out

    return dict(
        zip(
            UTM_FIELDS,
            (
                fill(templates.source),
                fill(templates.medium),
                fill(templates.campaign),
                fill(templates.content),
            ),
            strict=True,
        )
    )


def base_url() -> str:
    return (settings.PUBLIC_BASE_URL or "").rstrip("/")


def short_url(code: str) -> str:
    return f"{base_url()}/l/{code}"


def new_code() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(CODE_LENGTH))


def rewrite(text: str, *, utm: dict[str, str]) -> Rewritten:
    """Every link of the text replaced by a new short link; the (code, target) pairs to
    store. Text without links comes back as it was, with no pairs."""
    spans = find_urls(text)
    if not spans:
        return Rewritten(text)
    out: list[str] = []
    links: list[tuple[str, str]] = []
    last = 0
    for start, end in spans:
        code = new_code()
        links.append((code, with_utm(text[start:end], utm)))
        out += [text[last:start], short_url(code)]
        last = end
    out.append(text[last:])
    return Rewritten("".join(out), links)


def as_sent(text: str) -> str:
    """The text as a channel that counts clicks sends it, for counting its length: each
    link as a short link of the fixed length (its code not yet drawn)."""
    spans = find_urls(text)
    if not spans:
        return text
    placeholder = short_url("x" * CODE_LENGTH)
    out, last = [], 0
    for start, end in spans:
        out += [text[last:start], placeholder]
        last = end
    out.append(text[last:])
    return "".join(out)
