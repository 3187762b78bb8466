"""RSS and Atom feeds that fill a channel's queue: each new item becomes a post
(its title and link) at the end of the queue.

The feed URL is user input, so it obeys the webhooks' address rules (ground.http_transport.curl):
checked when it is saved, and again by curl.get at every poll, after DNS resolution,
with no redirect followed, the body capped at FEED_MAX_BYTES and the whole fetch at
FEED_TIMEOUT seconds. feedparser only ever parses bytes we fetched: given a URL it would
fetch it itself, past every guard (and given bytes it first tries them as a file name).

An item is known by its guid, else its link (FeedItem, unique per feed): the insert of
that key and the post are one transaction, so a poll that runs twice adds nothing twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
from dataclasses import dataclass

import feedparser
from celery.exceptions import SoftTimeLimitExceeded
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from bulk.models import ChannelFeed, FeedItem
from channels.models import Channel
from editor import services as compose
from ground.http_transport import curl
from queueloop.celery import send_many

log = logging.getLogger(__name__)

POLL_TASK = "bulk.poll_feed"
POLL_INTERVAL = dt.timedelta(minutes=15)
FEED_MAX_BYTES = 2 * 1024 * 1024
FEED_TIMEOUT = 15.0
# New items queued per poll at most (the newest): a feed first added with 200 old items
# must not flood the queue.
MAX_NEW_ITEMS = 20
# Title lengths tried, longest first, until the networks of the channel accept the text.
TITLE_LENGTHS = (None, 200, 120, 60)
SKIPPED = f"Not queued: more than {MAX_NEW_ITEMS} new items at once (older ones are skipped)."
UNSTORABLE = (
    "Not queued: the item contains a character that cannot be stored "
    "(a NUL, U+0000, or a lone surrogate)."
)
BROKEN_ITEM = "Not queued: this item could not be read (an internal error, logged)."
BROKEN_FEED = "The feed could not be read (an internal error, logged)."
TOO_SLOW = "Reading the feed took too long."
# PostgreSQL stores no NUL in a text column, and UTF-8 has no lone surrogate; feedparser
# passes both on (from "&#0;", "&#xD800;" or a raw byte). A key keeps a visible stand-in,
# so the item is still known on the next poll.
NUL, STAND_IN = "\x00", "\ufffd"
ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9"
USER_AGENT = "QueueLoop feed reader"


def feed_add(*, channel: Channel, url: str) -> ChannelFeed:
    """Attach a feed to a channel (ValidationError: bad, duplicate or forbidden URL).
    Nothing is contacted here: the address rules only resolve the name."""
    url = url.strip()
    try:
        URLValidator(schemes=["http", "https"])(url)
        if len(url) > 500:
            raise ValidationError("")
    except ValidationError:
        raise ValidationError(
            "Enter an http:// or https:// URL of at most 500 characters."
        ) from None
    try:
        curl.check_url(url)
    except curl.BlockedDestination as exc:
        raise ValidationError(str(exc)) from None
    if ChannelFeed.objects.filter(channel=channel, url=url).exists():
        raise ValidationError("This channel already follows this feed.")
    feed = ChannelFeed.objects.create(channel=channel, url=url)
    transaction.on_commit(lambda: _send_polls([feed.pk]))
    return feed


def feed_remove(*, feed: ChannelFeed) -> None:
    """Stop following the feed; the posts it added stay in the queue."""
    feed.delete()


def feed_poll_later(*, feed: ChannelFeed) -> None:
    """Read the feed now, on a worker ("Check now")."""
    transaction.on_commit(lambda: _send_polls([feed.pk]))


def _send_polls(feed_ids: list[int]) -> None:
    try:
        send_many(POLL_TASK, [((feed_id,), None) for feed_id in feed_ids], what="feed")
    except Exception:
        # The next beat run sends them again: last_polled_at did not move.
        log.exception("broker refused %d feed poll message(s)", len(feed_ids))


def feeds_poll_due(*, now: dt.datetime | None = None) -> int:
    """Send a poll for each active feed not polled for POLL_INTERVAL."""
    now = now or timezone.now()
    ids = list(
        ChannelFeed.objects.filter(is_active=True, channel__is_paused=False)
        .filter(Q(last_polled_at__isnull=True) | Q(last_polled_at__lte=now - POLL_INTERVAL))
        .values_list("id", flat=True)
    )
    if ids:
        _send_polls(ids)
    return len(ids)


@dataclass
class PollResult:
    added: int = 0
    refused: int = 0
    skipped: int = 0
    not_modified: bool = False
    error: str = ""


def _fetch(feed: ChannelFeed) -> curl.Fetched:
    headers = {"Accept": ACCEPT, "User-Agent": USER_AGENT}
    if feed.etag:
        headers["If-None-Match"] = feed.etag
    if feed.modified:
        headers["If-Modified-Since"] = feed.modified
    return curl.get(feed.url, headers=headers, timeout=FEED_TIMEOUT, max_bytes=FEED_MAX_BYTES)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _storable(text: str) -> str:
    return text.replace(NUL, STAND_IN).encode("utf-8", "replace").decode()


def _item_key(entry) -> str:
    return _storable((entry.get("id") or entry.get("link") or "").strip())


def _unstorable(entry) -> bool:
    values = [entry.get(name) or "" for name in ("id", "link", "title")]
    return any(_storable(v) != v for v in values)


def _texts(entry) -> list[str]:
    title = " ".join((entry.get("title") or "").split())
    link = (entry.get("link") or "").strip()
    texts = []
    for length in TITLE_LENGTHS:
        short = title if length is None or len(title) <= length else title[: length - 1] + "…"
        texts.append("\n".join(part for part in (short, link) if part))
    return list(dict.fromkeys(texts))


def _add_item(feed: ChannelFeed, entry, key: str, result: PollResult) -> None:
    channel = feed.channel
    texts = [t for t in _texts(entry) if t]
    text = next((t for t in texts if not compose.text_errors(text=t, channels=[channel])), None)
    key_hash = _hash(key)
    try:
        with transaction.atomic():
            # The key first: a concurrent poll of the same feed waits on it, then fails.
            item = FeedItem.objects.create(feed=feed, key_hash=key_hash, key=key)
            if _unstorable(entry):
                item.error = UNSTORABLE
                item.save(update_fields=["error"])
                result.refused += 1
                return
            if text is None:
                problems = compose.text_errors(text=texts[0] if texts else "", channels=[channel])
                item.error = " ".join(problems)
                item.save(update_fields=["error"])
                result.refused += 1
                return
            item.post = compose.post_create(
                workspace=channel.workspace, text=text, channels=[channel]
            )
            item.save(update_fields=["post"])
            result.added += 1
    except IntegrityError:
        pass  # another poll took it


def _add_or_refuse(feed: ChannelFeed, entry, key: str, result: PollResult) -> None:
    """One item; whatever breaks in it is its own refusal, never the whole poll's: an
    exception here would leave the feed unrecorded and retried at every beat run."""
    try:
        _add_item(feed, entry, key, result)
    except SoftTimeLimitExceeded:
        raise
    except Exception:
        log.exception("feed %s: item %r could not be added", feed.pk, key[:200])
        result.refused += 1
        try:
            FeedItem.objects.bulk_create(
                [FeedItem(feed=feed, key_hash=_hash(key), key=key, error=BROKEN_ITEM)],
                ignore_conflicts=True,
            )
        except Exception:
            log.exception("feed %s: the refused item could not be recorded", feed.pk)


def _record(feed: ChannelFeed, **fields) -> None:
    ChannelFeed.objects.filter(pk=feed.pk).update(**fields)


def _header(fetched: curl.Fetched, name: str, limit: int) -> str:
    return (fetched.headers.get(name) or "").replace(NUL, "")[:limit]


def feed_poll(*, feed_id: int, now: dt.datetime | None = None) -> PollResult | None:
    """Fetch the feed and queue its new items; errors are stored on the feed, not raised."""
    now = now or timezone.now()
    feed = ChannelFeed.objects.select_related("channel__workspace").filter(pk=feed_id).first()
    if feed is None or not feed.is_active:
        return None
    result = PollResult()
    try:
        fetched = _fetch(feed)
    except curl.BlockedDestination as exc:
        result.error = str(exc)
    except curl.TooLarge as exc:
        result.error = str(exc)
    except OSError as exc:  # curl.TransportError, or the socket's own
        result.error = f"The feed could not be fetched ({exc.__class__.__name__})."
    else:
        if fetched.status == 304:
            result.not_modified = True
        elif fetched.status != 200:
            result.error = f"The feed answered HTTP {fetched.status}."
        else:
            try:
                _read(feed, fetched, result)
            except SoftTimeLimitExceeded:
                result.error = TOO_SLOW
            except Exception:
                # Recorded below like any other failure: the poll is not due again until
                # POLL_INTERVAL, and the feeds page says that something went wrong.
                log.exception("feed %s could not be read", feed.pk)
                result.error = BROKEN_FEED
    fields = {"last_polled_at": now, "last_error": result.error}
    if not result.error and not result.not_modified:
        fields["etag"] = _header(fetched, "ETag", 300)
        fields["modified"] = _header(fetched, "Last-Modified", 100)
    _record(feed, **fields)
    return result


def _read(feed: ChannelFeed, fetched: curl.Fetched, result: PollResult) -> None:
    # A stream, never a URL or bytes (see the module docstring).
    parsed = feedparser.parse(
        io.BytesIO(fetched.body),
        response_headers={"content-type": fetched.headers.get("Content-Type", "")},
    )
    if parsed.bozo and not parsed.entries:
        result.error = "This is not an RSS or Atom feed."
        return
    entries = [(e, _item_key(e)) for e in parsed.entries]
    entries = [(e, k) for e, k in entries if k]
    hashes = {_hash(k): k for _, k in entries}
    known = set(
        FeedItem.objects.filter(feed=feed, key_hash__in=list(hashes)).values_list(
            "key_hash", flat=True
        )
    )
    new = [(e, k) for e, k in entries if _hash(k) not in known]
    new = list({k: (e, k) for e, k in new}.values())  # a key twice in one document
    # Feeds list the newest first: keep the newest, queue them oldest first. The older
    # rest is recorded as seen, so it does not come in on the next polls either.
    skipped = [
        FeedItem(feed=feed, key_hash=_hash(k), key=k, error=SKIPPED) for _, k in new[MAX_NEW_ITEMS:]
    ]
    FeedItem.objects.bulk_create(skipped, ignore_conflicts=True)
    result.skipped = len(skipped)
    for entry, key in reversed(new[:MAX_NEW_ITEMS]):
        _add_or_refuse(feed, entry, key, result)
