"""Mastodon read-back: is an `unconfirmed` delivery's status on the account?

GET /api/v1/accounts/:id/statuses with min_id = the claim minus a margin (Mastodon's ids
are snowflakes: the time in milliseconds shifted 16 bits, which Mastodon.py makes from a
datetime), 40 a page, paged forward (the next min_id is the newest id of the page) until a
page comes back empty: the listing then covers the whole window.

Matching the text: a status's `content` is the HTML Mastodon rendered from the text we
sent (escaped, paragraphs and line breaks, links and mentions wrapped in anchors, a
link's hidden prefix and tail in spans). `rendered_text` reads it back to plain text. That
is exact for most texts, but not for all (a remote mention @bob@other.social renders as
@bob). So a status whose rendering matches only loosely (mentions reduced, whitespace
collapsed) and has the part's images is asked for its source (GET
/api/v1/statuses/:id/source: the text as it was posted, for the account's own statuses),
which is compared exactly. A later part of a thread must also reply to the part before.
"""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser

from networks.base import AuthFailed, ProviderError, delivery_images
from networks.contract import FoundPost, NotFound, ReadBack, Undecidable

PAGE_SIZE = 40
MAX_PAGES = 25
_MENTION = re.compile(r"(@[\w.-]+)@[\w.-]+\w")
_SPACE = re.compile(r"\s+")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.paragraphs = 0

    def handle_starttag(self, tag, attrs):
        if tag == "br":
            self.parts.append("\n")
        elif tag == "p":
            if self.paragraphs:
                self.parts.append("\n\n")
            self.paragraphs += 1

    def handle_data(self, data):
        self.parts.append(data)


def rendered_text(content: str) -> str:
    """The plain text of a status's HTML content (what a person typed, for most texts)."""
    parser = _Text()
    parser.feed(content or "")
    parser.close()
    return "".join(parser.parts).strip()


def _loose(text: str) -> str:
    return _SPACE.sub(" ", _MENTION.sub(r"\1", text)).strip()


def _exact(text: str) -> str:
    return text.replace("\r\n", "\n").strip()


class _SourceUnreadable(Exception):
    pass


def _source_text(api, status, call) -> str:
    try:
        source = call(api, lambda: api.status_source(status["id"]), what="the status's source")
    except AuthFailed as exc:
        raise _SourceUnreadable(exc.message) from None
    return _exact(source.get("text", ""))


def find_published(
    delivery, *, since: dt.datetime, api, anonymous, instance: str, call, private: bool
) -> ReadBack:
    """`api` is the account's client, `anonymous` one without a token: a token connected
    before read-back (scopes without read:statuses) is refused the listing, which then
    reads the public and unlisted statuses anonymously — enough to prove a public post
    absent, not a private one (`private`: the account posts with visibility private)."""
    account = delivery.account
    since = since.astimezone(dt.UTC)
    account_id = (account.external_id or "").split("@", 1)[0]
    host = instance.split("://", 1)[-1]
    texts = [delivery.text, *(delivery.thread_parts or [])]
    sent = list(delivery.thread_sent or [])
    index = len(sent)
    if index >= len(texts):
        return Undecidable("Every part of this post is already recorded as sent.")
    wanted = _exact(texts[index])
    try:
        images = len(delivery_images(delivery)) if index == 0 else 0
    except ProviderError as exc:
        return Undecidable(f"Could not count the post's images: {exc.message}")
    reply_to = sent[-1]["id"] if sent else None
    try:
        if not account_id:
            account_id = str(call(api, api.account_verify_credentials, what="the account")["id"])
        after = since
        lister = api
        for page in range(1, MAX_PAGES + 1):

            def listing(after=after, lister=lister):
                return lister.account_statuses(account_id, min_id=after, limit=PAGE_SIZE)

            try:
                statuses = call(lister, listing, what="the account's statuses")
            except AuthFailed:
                if lister is anonymous or private:
                    raise
                lister = anonymous  # the token lacks read:statuses: public ones will do
                statuses = call(
                    lister, lambda: listing(lister=anonymous), what="the account's statuses"
                )
            if not statuses:
                return NotFound(
                    searched=f"{page - 1} page(s) of {host}'s statuses of the account since "
                    f"{since:%Y-%m-%d %H:%M:%S} UTC"
                )
            for status in statuses:
                if len(status.get("media_attachments") or []) != images:
                    continue
                if reply_to is not None and str(status.get("in_reply_to_id")) != reply_to:
                    continue
                rendered = rendered_text(status.get("content", ""))
                if rendered == wanted or (
                    _loose(rendered) == _loose(wanted) and _source_text(api, status, call) == wanted
                ):
                    return FoundPost(
                        ref={"id": str(status["id"]), "url": str(status.get("url") or "")}
                    )
            after = max(statuses, key=lambda s: int(s["id"]))["id"]
    except _SourceUnreadable as exc:
        return Undecidable(
            f"A status on {host} looks like this post but its source could not be read to "
            f"compare it exactly ({exc}). Reconnect the account to grant read:statuses, or "
            "check the account."
        )
    except AuthFailed:
        return Undecidable(
            f"{host} refused to list the account's statuses: the token lacks read:statuses "
            "(and the post is not public). Reconnect the account, or check it."
        )
    except ProviderError as exc:
        return Undecidable(f"{host}'s statuses could not be read: {exc.message}")
    return Undecidable(
        f"The account posted more than {PAGE_SIZE * MAX_PAGES} statuses on {host} since "
        f"{since:%Y-%m-%d %H:%M} UTC: the post cannot be proven absent. Check the account."
    )
