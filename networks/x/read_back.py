"""X read-back: is an `unconfirmed` delivery's post on the account's timeline?

GET /2/users/:id/tweets (tweepy's get_users_tweets) with start_time = the claim minus a
margin, 100 a page, paged with next_token until X gives none: the listing then covers the
whole window. A tweet matches when its text is exactly the part's (X escapes &, < and >
and shortens links to t.co: both are undone from the tweet's entities), it carries as many
images as the part does, and — for a later part of a thread — it replies to the part
before. X has no key to match by, so text, images and time are the match.

What X cannot prove is Undecidable, with its reason: the timeline returns only the 3,200
most recent tweets, so a window that needs more pages than MAX_PAGES is not covered; a
rate limit, an error or refused credentials leave the question open too.
"""

from __future__ import annotations

import datetime as dt
import html

from networks.base import ProviderError, delivery_images
from networks.contract import FoundPost, NotFound, ReadBack, Undecidable

PAGE_SIZE = 100
# 3,200 tweets: all the timeline ever returns. A window with more is not covered.
MAX_PAGES = 32
TWEET_FIELDS = ["created_at", "attachments", "referenced_tweets", "entities"]


def plain_text(tweet: dict) -> str:
    """The text as it was posted: t.co links back to what was typed (a link X added for
    attached media, which was never typed, removed) and X's HTML escapes undone."""
    text = tweet.get("text", "")
    urls = ((tweet.get("entities") or {}).get("urls")) or []
    # From the end, so earlier offsets stay right; X's offsets count code points.
    for url in sorted(urls, key=lambda u: u.get("start", 0), reverse=True):
        short = url.get("url") or ""
        if not short:
            continue
        typed = "" if url.get("media_key") else (url.get("expanded_url") or short)
        text = text.replace(short, typed)
    return html.unescape(text).strip()


def _media_count(tweet: dict) -> int:
    return len(((tweet.get("attachments") or {}).get("media_keys")) or [])


def _replies_to(tweet: dict) -> str | None:
    for ref in tweet.get("referenced_tweets") or []:
        if ref.get("type") == "replied_to":
            return str(ref.get("id"))
    return None


def find_published(delivery, *, since: dt.datetime, call_x, tweet_url: str) -> ReadBack:
    account = delivery.account
    since = since.astimezone(dt.UTC)
    user_id = account.external_id or (account.credentials or {}).get("user_id")
    if not user_id:
        return Undecidable("The X account's user id is not stored: reconnect the account.")
    texts = [delivery.text, *(delivery.thread_parts or [])]
    sent = list(delivery.thread_sent or [])
    index = len(sent)
    if index >= len(texts):
        return Undecidable("Every part of this post is already recorded as sent.")
    wanted = texts[index].strip()
    try:
        images = len(delivery_images(delivery)) if index == 0 else 0
    except ProviderError as exc:
        return Undecidable(f"Could not count the post's images: {exc.message}")
    reply_to = sent[-1]["id"] if sent else None
    token = None
    for page in range(1, MAX_PAGES + 1):

        def listing(client, user_auth, token=token):
            return client.get_users_tweets(
                user_id,
                start_time=since.replace(microsecond=0),
                max_results=PAGE_SIZE,
                pagination_token=token,
                tweet_fields=TWEET_FIELDS,
                user_auth=user_auth,
            )

        try:
            response = call_x(account, listing, what="the account's timeline")
        except ProviderError as exc:
            return Undecidable(f"X's timeline could not be read: {exc.message}")
        for tweet in response.data or []:
            data = tweet.data if hasattr(tweet, "data") else tweet
            if (
                plain_text(data) == wanted
                and _media_count(data) == images
                and (reply_to is None or _replies_to(data) == reply_to)
            ):
                tweet_id = str(data["id"])
                url = tweet_url.format(handle=account.handle, id=tweet_id)
                return FoundPost(ref={"id": tweet_id, "url": url})
        token = (response.meta or {}).get("next_token")
        if not token:
            return NotFound(
                searched=f"{page} page(s) of X's timeline since {since:%Y-%m-%d %H:%M:%S} UTC"
            )
    return Undecidable(
        f"X's timeline since {since:%Y-%m-%d %H:%M} UTC is longer than the {PAGE_SIZE * MAX_PAGES}"
        " tweets X lists: the post cannot be proven absent. Check the account on X."
    )
