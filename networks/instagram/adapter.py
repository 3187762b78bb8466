"""Instagram professional accounts through the Graph API (Instagram API with Facebook Login).

An Instagram account is a business or creator account linked to a Facebook Page. Its
`credentials` (encrypted) hold the Page's token and the long-lived user token that renews it
(networks/meta/tokens.py); its `options` hold `{"ig_user_id", "username", "page_id",
"page_name"}`; its `external_id` is the Instagram user id.

Publishing is in containers (developers.facebook.com/docs/instagram-platform/
content-publishing):
1. one image: `POST /{ig-user-id}/media` {image_url, caption, alt_text}; a carousel (2-10):
   one such container per image with `is_carousel_item=true`, then `POST /{ig-user-id}/media`
   {media_type=CAROUSEL, children, caption};
2. `GET /{container-id}?fields=status_code`: FINISHED (ready), IN_PROGRESS (Instagram is
   still fetching: try again shortly), PUBLISHED (it went out), ERROR / EXPIRED;
3. `POST /{ig-user-id}/media_publish` {creation_id}.
Instagram fetches each image from its URL, so the URL must be public: the stored file's
signed fetch URL (posts.signed_media) made absolute with PUBLIC_BASE_URL. Instagram takes
JPEG images only. Captions: at most 2,200 characters and 30 hashtags. A post without an
image cannot go (capabilities.requires_image). An account may publish 100 posts in 24
hours: `GET /{ig-user-id}/content_publishing_limit` is read before a new container, and a
full quota waits (RateLimited), it is not a refusal.

At most once: every container id is kept in the delivery's network_state
(networks.progress.remember) the moment it exists, before the next call, and a container
is published at most once. A retry — after a lost answer, a timeout, a worker that died —
reads the kept container's status_code: PUBLISHED means the post is out (read back, never
posted again), FINISHED means it was not and it is published now. So a repeat is safe:
capabilities.idempotent is True. A first comment (`POST /{ig-media-id}/comments`) has no
container: a retry first reads the post's comments for ours before posting it.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from urllib.parse import urljoin, urlsplit

from django.conf import settings
from django.utils import timezone

from networks.base import (
    AuthFailed,
    PlainTextProvider,
    RateLimited,
    Rejected,
    Transient,
    delivery_images,
)
from networks.contract import Capabilities, Counts, LengthCounting, PostMetrics, Published
from networks.meta import graph, tokens
from networks.meta import metrics as meta_metrics
from networks.progress import recall, remember

log = logging.getLogger(__name__)

LABEL = "Instagram"
CAPTION_LIMIT = 2200
MAX_HASHTAGS = 30
MAX_IMAGES = 10
# When the 24-hour quota is full: the window moves (the oldest post leaves it at a time the
# API does not say), so the limit is read again this often, within MISSED_AFTER.
QUOTA_WAIT = dt.timedelta(minutes=5)
HASHTAG = re.compile(r"(?<![\w#])#\w+")
NEEDS_IMAGE = (
    "Instagram needs an image: every Instagram post has one, and this post has none. "
    "Add an image, or publish it to a channel without Instagram."
)
NEEDS_PUBLIC_URL = (
    "Instagram fetches images from this site, which has no public address: set "
    "PUBLIC_BASE_URL (e.g. https://queueloop.example.com)."
)


def media_counts(entry: dict) -> Counts:
    """like_count is left out when the owner hid the post's likes; Instagram shows no
    reshare count: reposts None."""
    return Counts(
        likes=int(entry.get("like_count") or 0),
        reposts=None,
        replies=int(entry.get("comments_count") or 0),
    )


def _keys(account) -> tuple[str, str]:
    token = tokens.page_token(account, label=LABEL)
    ig_user = (account.options or {}).get("ig_user_id") or account.external_id
    if not ig_user:
        raise AuthFailed("No Instagram account id is stored for this account: connect it.")
    return token, str(ig_user)


def image_url(image) -> str:
    """The public URL Instagram fetches the image from (signed, it expires:
    MEDIA_FETCH_URL_MAX_AGE)."""
    url = image.fetch_url()
    if urlsplit(url).scheme in ("http", "https"):
        return url
    if not settings.PUBLIC_BASE_URL:
        raise Rejected(NEEDS_PUBLIC_URL)
    return urljoin(settings.PUBLIC_BASE_URL + "/", url.lstrip("/"))


class InstagramNetwork(PlainTextProvider):
    name = "instagram"
    label = LABEL
    max_length = CAPTION_LIMIT
    # The container kept in network_state makes a repeat publish the same one.
    idempotent = True
    capabilities = Capabilities(
        threads=False,
        images=True,
        max_images=MAX_IMAGES,
        video=False,
        first_comment=True,
        idempotent=True,
        read_back=False,
        length_counting=LengthCounting.CHARACTERS,
        alt_text=True,
        requires_image=True,
        image_types=frozenset({"image/jpeg"}),
    )

    def validate(self, text: str, *, account=None) -> list[str]:
        errors = super().validate(text, account=account)
        if errors:
            return [
                e.replace(f"{LABEL} takes at most", f"{LABEL} captions take at most").replace(
                    "this text has", "this caption has"
                )
                for e in errors
            ]
        hashtags = len(HASHTAG.findall(text))
        if hashtags > MAX_HASHTAGS:
            return [
                f"Instagram takes at most {MAX_HASHTAGS} hashtags in a caption; this one has "
                f"{hashtags}."
            ]
        return []

    def _call(self, method: str, path: str, **kwargs) -> dict:
        return graph.call(method, path, network=LABEL, **kwargs)

    # --- publishing -------------------------------------------------------------------

    def publish(self, delivery) -> Published:
        account = delivery.account
        errors = self.validate(delivery.text, account=account)
        if delivery.thread_parts:
            errors.append(
                "Instagram has no threads: Queue Loop posts one caption there. Put the "
                "thread's parts in one text."
            )
        if errors:
            raise Rejected(" ".join(errors))
        token, ig_user = _keys(account)
        if media_id := recall(delivery, "ig_media_id"):
            # An earlier attempt published it and kept the id: nothing to do again.
            return Published(external_id=media_id, url=recall(delivery, "ig_url", ""))
        container = recall(delivery, "ig_container")
        if not container:
            container = self._make_container(delivery, token, ig_user)
        state = self._call(
            "GET",
            container,
            token=token,
            what="the container's status",
            params={"fields": "id,status_code,status"},
        )
        code = state.get("status_code")
        if code == "PUBLISHED":
            # It went out on an earlier attempt whose answer was lost: read it back.
            media_id, url = self._find_published(token, ig_user, delivery.text, container)
        elif code == "FINISHED":
            answer = self._call(
                "POST",
                f"{ig_user}/media_publish",
                token=token,
                what="the post",
                params={"creation_id": container},
                publishes=True,
            )
            media_id = str(answer.get("id") or "")
            if not media_id:
                raise Transient("Instagram published the container but named no media id.")
            url = self._permalink(token, media_id)
        elif code == "IN_PROGRESS":
            raise Transient("Instagram is still fetching the images; trying again shortly.")
        else:
            raise Rejected(
                f"Instagram could not use the post's images (container {code or 'unknown'}: "
                f"{state.get('status') or 'no detail'}). Check that they are JPEG images "
                "Instagram can fetch from PUBLIC_BASE_URL."
            )
        remember(delivery, ig_media_id=media_id, ig_url=url)
        log.info(
            "Posted delivery %s to Instagram account %s: %s", delivery.id, account.id, media_id
        )
        return Published(external_id=media_id, url=url)

    def _quota_check(self, token: str, ig_user: str) -> None:
        answer = self._call(
            "GET",
            f"{ig_user}/content_publishing_limit",
            token=token,
            what="the publishing limit",
            params={"fields": "quota_usage,config"},
        )
        data = (answer.get("data") or [{}])[0]
        usage = data.get("quota_usage") or 0
        total = (data.get("config") or {}).get("quota_total") or 0
        if total and usage >= total:
            reset_at = timezone.now() + QUOTA_WAIT
            raise RateLimited(
                f"Instagram's limit of {total} posts in 24 hours is used up ({usage} "
                f"published); trying again at {reset_at:%Y-%m-%d %H:%M} UTC.",
                reset_at=reset_at,
            )

    def _make_container(self, delivery, token: str, ig_user: str) -> str:
        images = delivery_images(delivery)
        if not images:
            raise Rejected(NEEDS_IMAGE)
        if len(images) > MAX_IMAGES:
            raise Rejected(f"Instagram takes at most {MAX_IMAGES} images in one post.")
        for image in images:
            if image.content_type not in self.capabilities.image_types:
                raise Rejected(
                    f"Image {image.position + 1} is {image.content_type.split('/')[-1].upper()}: "
                    "Instagram publishes JPEG images only."
                )
        urls = [image_url(image) for image in images]
        self._quota_check(token, ig_user)
        caption = delivery.text
        if len(images) == 1:
            answer = self._call(
                "POST",
                f"{ig_user}/media",
                token=token,
                what="the image container",
                params={
                    "image_url": urls[0],
                    "caption": caption,
                    "alt_text": images[0].alt_text or None,
                },
            )
        else:
            children = list(recall(delivery, "ig_children", []))
            for n in range(len(children), len(images)):
                child = self._call(
                    "POST",
                    f"{ig_user}/media",
                    token=token,
                    what=f"image {n + 1}'s container",
                    params={
                        "image_url": urls[n],
                        "is_carousel_item": "true",
                        "alt_text": images[n].alt_text or None,
                    },
                )
                children.append(self._container_id(child))
                remember(delivery, ig_children=children)
            answer = self._call(
                "POST",
                f"{ig_user}/media",
                token=token,
                what="the carousel container",
                params={
                    "media_type": "CAROUSEL",
                    "children": ",".join(children),
                    "caption": caption,
                },
            )
        container = self._container_id(answer)
        # Kept before anything else is asked: a retry publishes this one, never a second.
        remember(delivery, ig_container=container)
        return container

    @staticmethod
    def _container_id(answer: dict) -> str:
        container = str(answer.get("id") or "")
        if not container:
            raise Transient("Instagram made a container but named no id; trying again.")
        return container

    def _permalink(self, token: str, media_id: str) -> str:
        try:
            media = self._call(
                "GET",
                media_id,
                token=token,
                what="the post's address",
                params={"fields": "permalink"},
            )
        except (Transient, RateLimited):
            return ""  # the post is out; its address is a nicety
        return str(media.get("permalink") or "")

    def _find_published(
        self, token: str, ig_user: str, caption: str, container: str
    ) -> tuple[str, str]:
        """The post a PUBLISHED container became: the account's recent post with our caption
        (the container names no media id); the container's id when none matches."""
        recent = self._call(
            "GET",
            f"{ig_user}/media",
            token=token,
            what="the account's recent posts",
            params={"fields": "id,caption,permalink", "limit": 25},
        )
        for media in recent.get("data") or []:
            if media.get("caption") == caption:
                return str(media["id"]), str(media.get("permalink") or "")
        return container, ""

    # --- the first comment ------------------------------------------------------------

    def publish_comment(self, delivery, text: str, *, on: dict) -> dict:
        """`POST /{ig-media-id}/comments`. Comments have no container, so before posting
        again after an attempt whose answer was lost, the post's comments are read for ours."""
        errors = self.validate(text, account=delivery.account)
        if errors:
            raise Rejected("The first comment: " + " ".join(errors))
        token, _ = _keys(delivery.account)
        if kept := recall(delivery, "ig_comment"):
            return kept
        if recall(delivery, "ig_comment_tried"):
            comments = self._call(
                "GET",
                f"{on['id']}/comments",
                token=token,
                what="the post's comments",
                params={"fields": "id,text", "limit": 50},
            )
            for comment in comments.get("data") or []:
                if comment.get("text") == text:
                    ref = {"id": str(comment["id"]), "url": on.get("url", "")}
                    remember(delivery, ig_comment=ref)
                    return ref
        remember(delivery, ig_comment_tried=True)
        answer = self._call(
            "POST",
            f"{on['id']}/comments",
            token=token,
            what="the first comment",
            params={"message": text},
            publishes=True,
        )
        comment_id = str(answer.get("id") or "")
        if not comment_id:
            raise Transient("Instagram accepted the comment but named no id.", maybe_sent=True)
        ref = {"id": comment_id, "url": on.get("url", "")}
        remember(delivery, ig_comment=ref)
        return ref

    # --- metrics ----------------------------------------------------------------------

    def metrics(self, account, external_ids: list[str]) -> dict[str, PostMetrics]:
        """like_count and comments_count, 50 posts a call (`GET /?ids=...`,
        networks/meta/metrics.py)."""
        token, ig_user = _keys(account)
        return meta_metrics.read(
            external_ids,
            token=token,
            fields="like_count,comments_count",
            counts=media_counts,
            network=LABEL,
            owner_posts=f"{ig_user}/media",
        )

    def check(self, account) -> str:
        token, ig_user = _keys(account)
        me = self._call(
            "GET", ig_user, token=token, what="the account check", params={"fields": "id,username"}
        )
        page_id = (account.options or {}).get("page_id", "")
        about_tokens = tokens.check_tokens(account, page_id=page_id, label=LABEL)
        name = me.get("username") or account.handle
        return " ".join(filter(None, [f"Posting to Instagram as @{name}.", about_tokens]))


network = InstagramNetwork()
