"""LinkedIn metrics: the Social Metadata API's batch get, 50 post urns a call.

`GET /rest/socialMetadata?ids=List(<urn>,<urn>)` (each urn percent-encoded inside the
Rest.li 2.0 list) answers `{"results": {urn: {"reactionSummaries": {"LIKE": {"reactionType",
"count"}, "PRAISE": {...}}, "commentSummary": {"count", "topLevelCount"}, "commentsState",
"entity"}}, "statuses": {urn: 200}, "errors": {urn: {"status": 404, "message"}}}`.

- likes: every reaction type summed (LinkedIn's "likes" are reactions: LIKE, PRAISE, EMPATHY,
  INTEREST, APPRECIATION, ENTERTAINMENT); replies: commentSummary.count (replies included);
- reposts: None. Social metadata has no reshare count; organizationalEntityShareStatistics
  has one for a page's posts, but it needs rw_organization_admin, a write permission on the
  whole page that Queue Loop does not ask for to read one number.
- a urn in `errors` with status 404 (or 410) is Deleted; another error leaves it unread.

Reading the counts needs r_organization_social for a page's posts (asked when a page is
connected) and r_member_social for a member's, which LinkedIn grants to approved apps only:
without it LinkedIn answers 403, and the collector counts a failure (the message says why).
"""

from __future__ import annotations

from urllib.parse import quote

from networks.base import AuthFailed, Rejected, Transient
from networks.contract import Counts, Deleted, PostMetrics
from networks.linkedin import api

URNS_PER_CALL = 50
GONE = frozenset({404, 410})
WHAT = "the posts' counts"


def metadata_url(urns: list[str]) -> str:
    # Built by hand: Rest.li 2.0 wants List(...) and its commas bare, each urn encoded.
    listed = ",".join(quote(urn, safe="") for urn in urns)
    return f"{api.rest_url('socialMetadata')}?ids=List({listed})"


def _counts(entry: dict) -> Counts:
    reactions = entry.get("reactionSummaries")
    likes = 0
    for summary in (reactions or {}).values() if isinstance(reactions, dict) else ():
        if isinstance(summary, dict):
            likes += int(summary.get("count") or 0)
    comments = entry.get("commentSummary")
    replies = int(comments.get("count") or 0) if isinstance(comments, dict) else 0
    return Counts(likes=likes, reposts=None, replies=replies)


def _status(value) -> int:
    if isinstance(value, dict):
        value = value.get("status")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def read(account, external_ids: list[str], *, call_with) -> dict[str, PostMetrics]:
    urns = [i for i in external_ids if i.startswith("urn:li:")]
    found: dict[str, PostMetrics] = {}
    for start in range(0, len(urns), URNS_PER_CALL):
        chunk = urns[start : start + URNS_PER_CALL]
        url = metadata_url(chunk)
        try:
            response = call_with(
                account, lambda token, url=url: api.call("GET", url, token=token, what=WHAT)
            )
        except AuthFailed as exc:
            if getattr(exc, "status", None) != 403:
                raise  # a token refused even after a refresh: reconnecting is the fix
            kind = (account.options or {}).get("kind")
            needs = "r_organization_social" if kind == "organization" else "r_member_social"
            raise Rejected(
                f"LinkedIn does not show these posts' reactions and comments to Queue Loop "
                f"({needs} is needed): {exc.message}"
            ) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise Transient("LinkedIn's answer to the posts' counts could not be read.")
        results = body.get("results") if isinstance(body.get("results"), dict) else {}
        errors = body.get("errors") if isinstance(body.get("errors"), dict) else {}
        statuses = body.get("statuses") if isinstance(body.get("statuses"), dict) else {}
        for urn in chunk:
            entry = results.get(urn)
            if isinstance(entry, dict):
                found[urn] = _counts(entry)
            elif _status(errors.get(urn)) in GONE or _status(statuses.get(urn)) in GONE:
                said = (
                    errors.get(urn, {}).get("message") if isinstance(errors.get(urn), dict) else ""
                )
                found[urn] = Deleted(f"LinkedIn answered 404 for it{f': {said}' if said else ''}")
    return found
