"""Threads (Meta): a person's Threads profile, through the Threads API's container flow.

An account is one Threads profile. Its `credentials` (encrypted) hold the long-lived token
(networks/threads/tokens.py); its `external_id` and `options["user_id"]` are the Threads user
id, `options["username"]` its name.

Publishing is two calls per post (developers.facebook.com/docs/threads/posts): create a
media container (`POST /{user-id}/threads`: media_type TEXT, IMAGE, or CAROUSEL with
`children` made as `is_carousel_item` IMAGE containers; `text`, `image_url`, `alt_text`,
`reply_to_id`), then publish it (`POST /{user-id}/threads_publish?creation_id=...`), which
answers the post's media id. A thread's later parts are containers with `reply_to_id` = the
previous part's media id (networks/thread.py resumes after the last part that went out); a
first comment is a reply to the first part.

At most once — what makes a repeat safe: a container is published at most once (its
`status` goes FINISHED → PUBLISHED; GET /{container-id}?fields=id,status,error_message). The
container's id is written to the delivery (networks.progress.remember, key "part<N>" or
"comment") *before* threads_publish is called, and the media id the moment it comes back.
A later attempt (after a timeout, a lost answer, a crash) finds the container kept and asks
its status instead of making a new one: PUBLISHED → the post exists, its media id is taken
from what was kept or found among the profile's own posts, and nothing is published again;
FINISHED → published now (it never was); IN_PROGRESS → try again later; EXPIRED (24 h
unpublished: never posted) → a new container. Creating a container posts nothing, so a lost
answer there is simply retried. Hence `idempotent = True`.

Images: Threads fetches each image from a public URL (our signed, expiring fetch URL made
absolute with PUBLIC_BASE_URL), JPEG or PNG, at most 8 MB; 2-20 images are a carousel.
Text: 500, counted as characters with an emoji as its UTF-8 bytes (Meta's rule).
The 250-posts-per-24-hours cap: read before a post is published
(GET /{user-id}/threads_publishing_limit); a profile at its cap is RateLimited (retried
later), never refused.
"""

from __future__ import annotations

import datetime as dt
import logging
import unicodedata
from urllib.parse import urljoin, urlsplit

from django.conf import settings
from django.utils import timezone

from accounts.models import SocialAccount
from networks import thread
from networks.base import ProviderError, RateLimited, Rejected, Transient, delivery_images
from networks.contract import Capabilities, LengthCounting, Published
from networks.progress import recall, remember
from networks.threads import api, tokens
from networks.threads import metrics as threads_metrics

log = logging.getLogger(__name__)

TEXT_LIMIT = 500
MAX_IMAGES = 20
IMAGE_TYPES = ("image/jpeg", "image/png")
IMAGE_MAX_BYTES = 8 * 1024 * 1024
# A profile at its cap is asked again after this (Meta's window is rolling: it does not
# say when the oldest post of the 24 hours leaves it).
CAP_RECHECK = dt.timedelta(hours=1)
# How many of the profile's latest posts are searched for a published container's post.
FIND_LIMIT = 25

IMAGES_NEED_PUBLIC_URL = (
    "Threads fetches a post's images from a public address: set PUBLIC_BASE_URL (e.g. "
    "https://queueloop.example.com) so Queue Loop can hand it their URLs."
)


def _is_emoji(char: str) -> bool:
    # Pictographs beyond the BMP, the BMP's symbols (☀, ✈...), and the joiners and
    # variation selectors that build emoji sequences.
    return ord(char) >= 0x10000 or unicodedata.category(char) == "So" or char in "\u200d\ufe0f"


def threads_length(text: str) -> int:
    return sum(len(c.encode("utf-8")) if _is_emoji(c) else 1 for c in text)


def image_url(image) -> str:
    url = image.fetch_url()
    if urlsplit(url).scheme in ("http", "https"):
        return url
    if not settings.PUBLIC_BASE_URL:
        raise Rejected(IMAGES_NEED_PUBLIC_URL)
    return urljoin(settings.PUBLIC_BASE_URL + "/", url.lstrip("/"))


def _check_images(images: list) -> None:
    if len(images) > MAX_IMAGES:
        raise Rejected(f"Threads takes at most {MAX_IMAGES} images in one post.")
    for image in images:
        if image.content_type not in IMAGE_TYPES:
            raise Rejected(
                f"Image {image.position + 1} is {image.content_type}: Threads takes JPEG and "
                "PNG images."
            )
        if image.size > IMAGE_MAX_BYTES:
            raise Rejected(f"Image {image.position + 1} is over Threads' 8 MB.")


def _user_id(account) -> str:
    user_id = (account.options or {}).get("user_id") or account.external_id
    if not user_id:
        raise Rejected("This Threads account has no user id stored: connect it again.")
    return str(user_id)


def publishing_quota(token: str, user_id: str) -> tuple[int, int] | None:
    """(posts in the last 24 h, the cap), or None when Threads does not say."""
    answer = api.graph(
        "GET",
        f"{user_id}/threads_publishing_limit",
        token=token,
        what="the publishing limit",
        fields="quota_usage,config",
    )
    rows = answer.get("data") if isinstance(answer.get("data"), list) else []
    if not rows or not isinstance(rows[0], dict):
        return None
    usage = rows[0].get("quota_usage")
    total = (rows[0].get("config") or {}).get("quota_total")
    if not isinstance(usage, int) or not isinstance(total, int):
        return None
    return usage, total


def read_quota(account, token: str, user_id: str) -> tuple[int, int] | None:
    """publishing_quota(), kept in the account's options (`publishing_quota`: usage, total,
    when read) for the accounts page's line."""
    quota = publishing_quota(token, user_id)
    if quota is not None:
        usage, total = quota
        read = {"usage": usage, "total": total, "at": timezone.now().isoformat()}
        account.options = {**(account.options or {}), "publishing_quota": read}
        SocialAccount.objects.filter(id=account.id).update(options=account.options)
    return quota


def quota_sentence(usage: int, total: int) -> str:
    return f"{usage} of {total} posts in the last 24 h"


def respect_cap(account, token: str, user_id: str) -> None:
    """RateLimited when the profile is at its 250 posts: nothing is published then. A
    quota that cannot be read does not stop the post (Meta enforces the cap itself, at
    threads_publish, and that answer is a RateLimited too)."""
    try:
        quota = read_quota(account, token, user_id)
    except (Transient, Rejected):
        return
    if quota is None:
        return
    usage, total = quota
    if usage >= total:
        reset_at = timezone.now() + CAP_RECHECK
        raise RateLimited(
            f"Threads' cap is reached: {quota_sentence(usage, total)}. Waiting for the 24-hour "
            f"window to free a place; trying again at {reset_at:%Y-%m-%d %H:%M} UTC.",
            reset_at=reset_at,
        )


class ThreadsNetwork:
    name = "threads"
    label = "Threads"
    max_length = TEXT_LIMIT
    # A container is published at most once, and its id is kept before publishing (above).
    idempotent = True
    capabilities = Capabilities(
        threads=True,
        images=True,
        max_images=MAX_IMAGES,
        video=False,
        first_comment=True,
        idempotent=True,
        read_back=False,
        length_counting=LengthCounting.EMOJI_BYTES,
        alt_text=True,
        image_types=frozenset(IMAGE_TYPES),
    )

    def limit_for(self, account=None) -> int:
        return self.max_length

    def text_length(self, text: str) -> int:
        return threads_length(text)

    def validate(self, text: str, *, account=None) -> list[str]:
        if not text.strip():
            return ["The text is empty."]
        length = threads_length(text)
        if length > TEXT_LIMIT:
            return [
                f"Threads counts this text as {length} characters (an emoji counts as its "
                f"UTF-8 bytes); the limit is {TEXT_LIMIT}."
            ]
        return []

    # --- Publishing ---------------------------------------------------------------------

    def publish(self, delivery) -> Published:
        account = delivery.account
        errors = thread.validate_parts(self, delivery, account=account)
        if errors:
            raise Rejected(" ".join(errors))
        token = tokens.fresh_token(account)
        user_id = _user_id(account)

        def post_part(index: int, text: str, sent: list[dict]) -> dict:
            images = delivery_images(delivery) if index == 0 else []
            return self._publish_once(
                delivery,
                f"part{index}",
                token=token,
                user_id=user_id,
                what="the post" if index == 0 else f"part {index + 1}",
                text=text,
                images=images,
                reply_to=sent[-1]["id"] if sent else "",
            )

        published = thread.publish_parts(delivery, post_part)
        log.info(
            "Posted delivery %s to Threads account %s: %s",
            delivery.id,
            account.id,
            published.external_id,
        )
        return published

    def publish_comment(self, delivery, text: str, *, on: dict) -> dict:
        errors = self.validate(text)
        if errors:
            raise Rejected("First comment: " + " ".join(errors))
        account = delivery.account
        return self._publish_once(
            delivery,
            "comment",
            token=tokens.fresh_token(account),
            user_id=_user_id(account),
            what="the first comment",
            text=text,
            images=[],
            reply_to=str(on["id"]),
        )

    def _publish_once(
        self,
        delivery,
        key: str,
        *,
        token: str,
        user_id: str,
        what: str,
        text: str,
        images: list,
        reply_to: str,
    ) -> dict:
        """Publish one container at most once, resuming from what an earlier attempt kept
        under `key` in the delivery's network_state."""
        kept = recall(delivery, key) or {}
        if kept.get("media"):
            return {"id": kept["media"], "url": kept.get("url", ""), "container": kept["container"]}
        container = kept.get("container", "")
        if container:
            status = self._status(token, container, what=what)
            if status == "PUBLISHED":
                return self._found(delivery, key, token, user_id, container, text, reply_to, what)
            if status == "EXPIRED":
                container = ""  # never published within its 24 hours: a new one
        if not container:
            _check_images(images)
            children = self._children(delivery, key, token, user_id, what, images)
            container = self._create(
                token,
                user_id,
                what=what,
                text=text,
                images=images,
                children=children,
                reply_to=reply_to,
            )
            remember(delivery, **{key: {"container": container}})
            status = self._status(token, container, what=what) if images else "FINISHED"
        if status == "IN_PROGRESS":
            raise Transient(f"Threads is still preparing {what} (its images); trying again.")
        if status != "FINISHED":
            # Not a state the docs give a container that may be published: never guess.
            raise Transient(
                f"Threads gives {what}'s container the state {status or 'none'!r}; asking "
                "again later rather than publishing it.",
                maybe_sent=True,
            )
        if not reply_to:
            respect_cap(delivery.account, token, user_id)
        answer = api.graph(
            "POST",
            f"{user_id}/threads_publish",
            token=token,
            what=what,
            maybe_sent=True,
            creation_id=container,
        )
        media = str(answer.get("id") or "")
        if not media:
            raise Transient(
                f"Threads accepted {what} but named no post; the next attempt asks about the "
                "same container.",
                maybe_sent=True,
            )
        ref = {"id": media, "url": self._permalink(token, media), "container": container}
        remember(delivery, **{key: {"container": container, "media": media, "url": ref["url"]}})
        return ref

    def _children(self, delivery, key: str, token, user_id, what: str, images: list) -> list[str]:
        """A carousel's items (2 or more images), kept like the container so a retry while
        Threads prepares them does not make them again; [] for one image or none."""
        if len(images) < 2:
            return []
        children = (recall(delivery, key) or {}).get("children") or []
        states = [self._status(token, c, what=f"an image of {what}") for c in children]
        if not children or "EXPIRED" in states:
            children = [
                self._container(
                    token,
                    user_id,
                    what=f"image {n + 1} of {what}",
                    media_type="IMAGE",
                    is_carousel_item="true",
                    image_url=image_url(image),
                    alt_text=image.alt_text or None,
                )
                for n, image in enumerate(images)
            ]
            remember(delivery, **{key: {"children": children}})
            states = [self._status(token, c, what=f"an image of {what}") for c in children]
        if "IN_PROGRESS" in states:
            raise Transient(f"Threads is still preparing the images of {what}; trying again.")
        return children

    def _create(
        self,
        token: str,
        user_id: str,
        *,
        what: str,
        text: str,
        images: list,
        children: list[str],
        reply_to: str,
    ) -> str:
        common = {"text": text, "reply_to_id": reply_to or None}
        if not images:
            fields = {"media_type": "TEXT", **common}
        elif len(images) == 1:
            fields = {
                "media_type": "IMAGE",
                "image_url": image_url(images[0]),
                "alt_text": images[0].alt_text or None,
                **common,
            }
        else:
            fields = {"media_type": "CAROUSEL", "children": ",".join(children), **common}
        return self._container(token, user_id, what=what, **fields)

    def _container(self, token: str, user_id: str, *, what: str, **fields) -> str:
        answer = api.graph("POST", f"{user_id}/threads", token=token, what=what, **fields)
        container = str(answer.get("id") or "")
        if not container:
            raise Transient(f"Threads made no container for {what}; nothing was posted.")
        return container

    def _status(self, token: str, container: str, *, what: str) -> str:
        answer = api.graph(
            "GET",
            container,
            token=token,
            what=f"the state of {what}",
            fields="id,status,error_message",
        )
        status = str(answer.get("status") or "")
        if status == "ERROR":
            raise Rejected(
                f"Threads could not prepare {what}: {answer.get('error_message') or 'UNKNOWN'}."
            )
        return status

    def _permalink(self, token: str, media: str) -> str:
        try:
            answer = api.graph(
                "GET", media, token=token, what="the post's link", fields="permalink"
            )
        except ProviderError:
            return ""  # the post went out; its link is a nicety
        return str(answer.get("permalink") or "")

    def _found(self, delivery, key: str, token, user_id, container, text, reply_to, what) -> dict:
        """A container an earlier attempt published but whose answer was lost: its post,
        found among the profile's latest posts (replies among its replies) by its text."""
        edge = "replies" if reply_to else "threads"
        answer = api.graph(
            "GET",
            f"{user_id}/{edge}",
            token=token,
            what=f"the profile's latest {edge}",
            fields="id,permalink,text,timestamp",
            limit=FIND_LIMIT,
        )
        rows = answer.get("data") if isinstance(answer.get("data"), list) else []
        for row in rows:
            if isinstance(row, dict) and row.get("text") == text and row.get("id"):
                ref = {
                    "id": str(row["id"]),
                    "url": str(row.get("permalink") or ""),
                    "container": container,
                }
                remember(
                    delivery,
                    **{key: {"container": container, "media": ref["id"], "url": ref["url"]}},
                )
                return ref
        # Published (Threads says so) but not found yet: never publish it again; ask later.
        raise Transient(
            f"Threads published {what} (its container says PUBLISHED) but it is not among the "
            "profile's latest posts yet; nothing is published again.",
            maybe_sent=True,
        )

    # --- Metrics and the account -------------------------------------------------------------

    def metrics(self, account, external_ids: list[str]) -> dict:
        """Likes, replies, reposts, quotes and views from each post's insights, one call a
        post (networks/threads/metrics.py)."""
        return threads_metrics.read(external_ids, token=tokens.fresh_token(account))

    def check(self, account) -> str:
        token = tokens.fresh_token(account)
        user_id = _user_id(account)
        me = api.graph("GET", "me", token=token, what="the account check", fields="id,username")
        sentence = f"Signed in to Threads as @{me.get('username') or account.handle}"
        try:
            quota = read_quota(account, token, user_id)
        except (Transient, Rejected):
            quota = None
        if quota is not None:
            sentence += f"; {quota_sentence(*quota)}"
        return sentence + "."


network = ThreadsNetwork()
