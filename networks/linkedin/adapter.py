"""LinkedIn: a member's own posts, or an organization page's, through the Posts API.

A LinkedIn account is an author: the member who signed in (`urn:li:person:<id>`) or a page
they administer (`urn:li:organization:<id>`). Its `external_id` is that author urn; its
`options` hold `{"author", "kind" ("member" / "organization"), "name", "member"` (the urn
of the member whose sign-in it holds)}; its `credentials` the OAuth tokens
(networks/linkedin/tokens.py). Connecting: networks/linkedin/connect.py.

Publishing: `POST /rest/posts` with the pinned `LinkedIn-Version`
(networks/linkedin/api.py), `{"author", "commentary", "visibility": "PUBLIC",
"distribution": {"feedDistribution": "MAIN_FEED", ...}, "lifecycleState": "PUBLISHED"}`,
images as `content` (networks/linkedin/images.py). LinkedIn answers 201 with the post's urn
in the `x-restli-id` header; its address is https://www.linkedin.com/feed/update/<urn>/.
The text is at most 3,000 characters and goes as little text with its reserved characters
escaped (networks/linkedin/text.py).

No threads: a LinkedIn post has no replies of its own author's, so a post with thread parts
is refused before anything is sent (a first comment is the way to add to a post).

At most once: the Posts API has no idempotency key and a lost answer gives no urn to look
for, so a call that may have reached LinkedIn (a timeout, a broken connection, a 500 or 504)
is never repeated: the delivery ends `unconfirmed` and a person looks at the feed. A 429,
502 or 503 made no post and is retried. The same holds for the first comment
(`publish_comment`, the Comments API).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import quote

from networks import thread
from networks.base import AuthFailed, PlainTextProvider, Rejected, Transient
from networks.contract import Capabilities, LengthCounting, Published
from networks.linkedin import api, images, text, tokens
from networks.linkedin import metrics as linkedin_metrics

log = logging.getLogger(__name__)

T = TypeVar("T")

TEXT_LIMIT = 3000
COMMENT_LIMIT = 1250
POST_URL = "https://www.linkedin.com/feed/update/{urn}/"


# --- Calling with an account's tokens ---------------------------------------------------


def call_with(account, operation: Callable[[str], T], *, strict: bool = False) -> T:
    """operation(access_token) with the account's token: refreshed first when it expires
    soon (tokens.current; `strict` for the account check), and on a 401 refreshed once and
    retried once (a 401 made nothing). A 401 that survives, or one with no refresh token to
    try, is AuthFailed with LinkedIn's message."""
    credentials = tokens.current(account, strict=strict)
    try:
        return operation(credentials["access_token"])
    except api.Unauthorized as exc:
        if not credentials.get("refresh_token"):
            raise api.as_auth_failed(exc, refreshed=False) from None
    credentials = tokens.refresh_access_token(account, used=credentials)
    try:
        return operation(credentials["access_token"])
    except api.Unauthorized as exc:
        raise api.as_auth_failed(exc, refreshed=True) from None


def _json(response, *, what: str) -> dict:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise Transient(f"LinkedIn's answer to {what} could not be read.")
    return body


# The look-ups below raise api.Unauthorized on a 401: call_with refreshes and retries for
# a stored account; connecting turns it into a message.


def fetch_member(token: str) -> dict:
    """Who signed in (GET /v2/userinfo, OpenID Connect): {"urn", "id", "name"}."""
    body = _json(
        api.call("GET", api.v2_url("userinfo"), token=token, what="the profile", rest=False),
        what="the profile",
    )
    member_id = str(body.get("sub") or "")
    if not member_id:
        raise Rejected("LinkedIn did not say who signed in (no `sub` in userinfo).")
    name = str(
        body.get("name") or " ".join(str(body.get(k) or "") for k in ("given_name", "family_name"))
    ).strip()
    return {"urn": f"urn:li:person:{member_id}", "id": member_id, "name": name or member_id}


def organization_id(urn: str) -> str:
    return urn.rsplit(":", 1)[-1]


def fetch_organization(token: str, urn: str) -> dict:
    """GET /rest/organizations/{id}: {"urn", "name", "vanity_name"}."""
    what = "the page's details"
    body = _json(
        api.call(
            "GET", api.rest_url(f"organizations/{organization_id(urn)}"), token=token, what=what
        ),
        what=what,
    )
    name = str(body.get("localizedName") or body.get("vanityName") or urn)
    return {"urn": urn, "name": name, "vanity_name": str(body.get("vanityName") or "")}


def fetch_pages(token: str) -> list[dict]:
    """The pages the member administers, with their names."""
    return [fetch_organization(token, urn) for urn in administered(token)]


def administered(token: str) -> list[str]:
    """The urns of the organizations the member administers: GET /rest/organizationAcls
    ?q=roleAssignee&role=ADMINISTRATOR&state=APPROVED."""
    what = "the pages you administer"
    body = _json(
        api.call(
            "GET",
            api.rest_url("organizationAcls"),
            token=token,
            what=what,
            params={"q": "roleAssignee", "role": "ADMINISTRATOR", "state": "APPROVED"},
        ),
        what=what,
    )
    urns: list[str] = []
    for element in body.get("elements") or []:
        urn = element.get("organization") if isinstance(element, dict) else None
        if isinstance(urn, str) and urn.startswith("urn:li:organization:") and urn not in urns:
            urns.append(urn)
    return urns


# --- The network ------------------------------------------------------------------------


def _author(account) -> str:
    author = (account.options or {}).get("author") or account.external_id
    if not author:
        raise AuthFailed("No LinkedIn author is stored for this account: connect it.")
    return author


def post_url(urn: str) -> str:
    return POST_URL.format(urn=urn)


def comment_url(post_urn: str, comment_urn: str) -> str:
    return f"{post_url(post_urn)}?commentUrn={quote(comment_urn, safe='')}"


class LinkedInNetwork(PlainTextProvider):
    name = "linkedin"
    label = "LinkedIn"
    max_length = TEXT_LIMIT
    # The Posts and Comments APIs take no idempotency key: a lost answer ends `unconfirmed`.
    idempotent = False
    capabilities = Capabilities(
        threads=False,
        images=True,
        max_images=images.MAX_IMAGES,
        video=False,
        first_comment=True,
        idempotent=False,
        read_back=False,
        length_counting=LengthCounting.CHARACTERS,
    )

    def publish(self, delivery) -> Published:
        account = delivery.account
        errors = thread.validate_parts(self, delivery, account=account)
        if errors:
            raise Rejected(" ".join(errors))
        if delivery.thread_parts:
            raise Rejected(
                f"LinkedIn has no threads: this post has {len(delivery.thread_parts) + 1} "
                "parts. Post it as one text (or put the rest in a first comment)."
            )
        author = _author(account)

        def post_part(index: int, part: str, sent: list[dict]) -> dict:
            content = images.content_for(lambda fn: call_with(account, fn), delivery, owner=author)
            body = {
                "author": author,
                "commentary": text.escape(part),
                "visibility": "PUBLIC",
                "distribution": {
                    "feedDistribution": "MAIN_FEED",
                    "targetEntities": [],
                    "thirdPartyDistributionChannels": [],
                },
                "lifecycleState": "PUBLISHED",
                "isReshareDisabledByAuthor": False,
            }
            if content:
                body["content"] = content
            response = call_with(
                account,
                lambda token: api.call(
                    "POST",
                    api.rest_url("posts"),
                    token=token,
                    what="the post",
                    makes=True,
                    json=body,
                ),
            )
            urn = api.id_of(response)
            if not urn:
                raise Transient(
                    "LinkedIn accepted the post but its answer names no post.", maybe_sent=True
                )
            return {"id": urn, "url": post_url(urn)}

        published = thread.publish_parts(delivery, post_part)
        log.info(
            "Posted delivery %s to LinkedIn account %s: %s",
            delivery.id,
            account.id,
            published.external_id,
        )
        return published

    def publish_comment(self, delivery, text: str, *, on: dict) -> dict:
        """The Comments API: POST /rest/socialActions/{post urn}/comments with
        {"actor", "object", "message": {"text"}}; the comment's urn comes back as
        x-restli-id (or the body's `$URN` / `id`). Not idempotent, like the post."""
        account = delivery.account
        if not text.strip():
            raise Rejected("The first comment is empty.")
        if len(text) > COMMENT_LIMIT:
            raise Rejected(
                f"The first comment: LinkedIn takes at most {COMMENT_LIMIT} characters in a "
                f"comment; this one has {len(text)}."
            )
        post_urn = str(on.get("id") or "")
        if not post_urn.startswith("urn:li:"):
            raise Rejected("The post to comment on has no LinkedIn urn.")
        body = {"actor": _author(account), "object": post_urn, "message": {"text": text}}
        response = call_with(
            account,
            lambda token: api.call(
                "POST",
                api.rest_url(f"socialActions/{quote(post_urn, safe='')}/comments"),
                token=token,
                what="the first comment",
                makes=True,
                json=body,
            ),
        )
        comment = response.headers.get("x-restli-id", "")
        if not comment:
            try:
                answer = response.json()
            except ValueError:
                answer = {}
            if isinstance(answer, dict):
                comment = str(answer.get("$URN") or answer.get("id") or "")
        if not comment:
            raise Transient(
                "LinkedIn accepted the comment but its answer names no comment.", maybe_sent=True
            )
        return {"id": comment, "url": comment_url(post_urn, comment)}

    def metrics(self, account, external_ids: list[str]) -> dict:
        """Reactions and comments from the Social Metadata API, 50 urns a call
        (networks/linkedin/metrics.py)."""
        return linkedin_metrics.read(account, external_ids, call_with=call_with)

    def check(self, account) -> str:
        options = account.options or {}
        author = _author(account)
        if options.get("kind") == "organization":

            def look_up(token: str) -> tuple[dict, list[str]]:
                return fetch_organization(token, author), administered(token)

            page, pages = call_with(account, look_up, strict=True)
            if author not in pages:
                raise AuthFailed(
                    f"The member who connected the page {page['name']} is no longer one of its "
                    "administrators on LinkedIn: reconnect it as an administrator."
                )
            said = f"Posting to LinkedIn as the page {page['name']} ({author})"
        else:
            member = call_with(account, fetch_member, strict=True)
            if member["urn"] != author:
                raise Rejected(
                    f"These credentials belong to {member['name']} ({member['urn']}), not to "
                    f"this account ({author}): reconnect it."
                )
            said = f"Signed in to LinkedIn as {member['name']} ({author})"
        credentials = account.credentials or {}
        until = tokens.expiry_text(credentials)
        if until and not credentials.get("refresh_token"):
            return f"{said}; the access token expires on {until}: reconnect before then."
        return f"{said}."


network = LinkedInNetwork()
