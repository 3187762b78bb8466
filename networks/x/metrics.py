"""X metrics: GET /2/tweets?ids=...&tweet.fields=public_metrics, up to 100 ids a call.

A tweet X no longer has comes back in the answer's `errors` with the type
`.../resource-not-found` and its id as `resource_id`: recorded as Deleted. Other errors
(a protected author, a suspended account) leave the id unread: asked again later.
"""

from __future__ import annotations

from networks.contract import Counts, Deleted, PostMetrics

# "A comma separated list of Post IDs. Up to 100 are allowed in a single request."
IDS_PER_CALL = 100
NOT_FOUND = "https://api.twitter.com/2/problems/resource-not-found"


def _counts(public: dict) -> Counts:
    return Counts(
        likes=int(public.get("like_count") or 0),
        reposts=int(public.get("retweet_count") or 0),
        replies=int(public.get("reply_count") or 0),
        quotes=int(public.get("quote_count") or 0),
        impressions=(
            int(public["impression_count"]) if public.get("impression_count") is not None else None
        ),
    )


def metrics(account, external_ids: list[str], *, call_x) -> dict[str, PostMetrics]:
    found: dict[str, PostMetrics] = {}
    for start in range(0, len(external_ids), IDS_PER_CALL):
        chunk = external_ids[start : start + IDS_PER_CALL]

        def lookup(client, user_auth, chunk=chunk):
            return client.get_tweets(chunk, tweet_fields=["public_metrics"], user_auth=user_auth)

        # RateLimited and the other errors propagate: the collector delays the account.
        response = call_x(account, lookup, what="the posts' metrics")
        for tweet in response.data or []:
            data = tweet.data if hasattr(tweet, "data") else tweet
            found[str(data["id"])] = _counts(data.get("public_metrics") or {})
        for error in response.errors or []:
            if error.get("type") == NOT_FOUND and error.get("resource_id"):
                found[str(error["resource_id"])] = Deleted(error.get("detail") or "not found")
    return found
