"""Facebook Pages: a Page posts through the Graph API with its Page token.

A Facebook account is one Page. Its `credentials` (encrypted) hold `{"page_token",
"user_token", "user_token_expires_at"}` (the long-lived user token gets the Page token again:
networks/meta/tokens.py); its `options` hold `{"page_id", "page_name"}`; its `external_id` is
the Page id. Connecting: networks/meta/connect.py (one Facebook Login flow with Instagram).

Publishing (developers.facebook.com/docs/pages-api/posts):
- text (and the first link in it, which Facebook previews): `POST /{page-id}/feed`
  {message, link};
- one image: `POST /{page-id}/photos` (the file as `source`, the text as `caption`, its alt
  text as `alt_text_custom`), which makes the post;
- several: each `POST /{page-id}/photos` with `published=false` (nothing shows), then
  `POST /{page-id}/feed` {message, attached_media[n]={"media_fbid": id}}.
The Page's own limit is 63,206 characters. Facebook has no threads here: a post with later
parts is refused with that sentence (capabilities.threads is False). A first comment is
`POST /{post-id}/comments`.

At most once: the Graph API takes no idempotency key, and a lost answer leaves no id to read
back: a call that may have reached Facebook (a timeout, a connection broken mid-request, a
5xx) is never repeated — the delivery ends `unconfirmed`; look at the Page. Unpublished
photo uploads before the post are retried freely: they show nothing.
"""

from __future__ import annotations

import logging
import re

from networks.base import AuthFailed, PlainTextProvider, Rejected, delivery_images
from networks.contract import Capabilities, Counts, LengthCounting, PostMetrics, Published
from networks.media import fit_under, image_bytes
from networks.meta import graph, tokens
from networks.meta import metrics as meta_metrics

log = logging.getLogger(__name__)

LABEL = "Facebook"
TEXT_LIMIT = 63_206
MAX_IMAGES = 10
# Page photos: at most 10 MB per file (JPEG, PNG, GIF...).
PHOTO_MAX_BYTES = 10 * 1024 * 1024
FIRST_LINK = re.compile(r"https?://[^\s<>\"]+")
# A post's counts: the edges' summaries only (limit(0): no reactor or comment is listed).
# `shares` is absent from a post nobody shared.
METRICS_FIELDS = (
    "reactions.limit(0).summary(total_count),comments.limit(0).summary(total_count),shares"
)


def _summary_total(edge) -> int:
    summary = edge.get("summary") if isinstance(edge, dict) else None
    return int(summary.get("total_count") or 0) if isinstance(summary, dict) else 0


def post_counts(entry: dict) -> Counts:
    shares = entry.get("shares")
    return Counts(
        likes=_summary_total(entry.get("reactions")),
        reposts=int(shares.get("count") or 0) if isinstance(shares, dict) else 0,
        replies=_summary_total(entry.get("comments")),
    )


def _keys(account) -> tuple[str, str]:
    token = tokens.page_token(account, label=LABEL)
    page_id = (account.options or {}).get("page_id") or account.external_id
    if not page_id:
        raise AuthFailed("No Page is stored for this Facebook account: connect it.")
    return token, str(page_id)


def post_url(post_id: str) -> str:
    """`{page}_{post}` → its address on facebook.com (a photo's id as a photo link)."""
    if "_" in post_id:
        page, post = post_id.split("_", 1)
        return f"https://www.facebook.com/{page}/posts/{post}"
    return f"https://www.facebook.com/{post_id}"


def _source(image) -> tuple[str, bytes, str]:
    data = image_bytes(image)
    data, content_type = fit_under(data, image.content_type, max_bytes=PHOTO_MAX_BYTES)
    extension = content_type.rsplit("/", 1)[-1].replace("jpeg", "jpg")
    return (f"image{image.position + 1}.{extension}", data, content_type)


class FacebookNetwork(PlainTextProvider):
    name = "facebook"
    label = LABEL
    max_length = TEXT_LIMIT
    # No idempotency key: a call that may have reached Facebook ends `unconfirmed`.
    idempotent = False
    capabilities = Capabilities(
        threads=False,
        images=True,
        max_images=MAX_IMAGES,
        video=False,
        first_comment=True,
        idempotent=False,
        read_back=False,
        length_counting=LengthCounting.CHARACTERS,
        alt_text=True,
    )

    def _call(self, method: str, path: str, **kwargs) -> dict:
        return graph.call(method, path, network=LABEL, **kwargs)

    def publish(self, delivery) -> Published:
        account = delivery.account
        errors = self.validate(delivery.text, account=account)
        if delivery.thread_parts:
            errors.append(
                "Facebook Pages have no threads: Queue Loop posts one text there. Put the "
                "thread's parts in one text, or publish this post to a channel without Facebook."
            )
        if errors:
            raise Rejected(" ".join(errors))
        token, page_id = _keys(account)
        images = delivery_images(delivery)
        if len(images) > MAX_IMAGES:
            raise Rejected(f"Facebook takes at most {MAX_IMAGES} images in one post.")
        text = delivery.text
        if len(images) == 1:
            image = images[0]
            answer = self._call(
                "POST",
                f"{page_id}/photos",
                token=token,
                what="the post",
                params={"caption": text, "alt_text_custom": image.alt_text or None},
                files={"source": _source(image)},
                publishes=True,
            )
            post_id = str(answer.get("post_id") or answer.get("id") or "")
        else:
            params: dict = {"message": text}
            for n, image in enumerate(images):
                # Unpublished: nothing shows until the post below names it, so a retry of
                # this step is harmless.
                photo = self._call(
                    "POST",
                    f"{page_id}/photos",
                    token=token,
                    what=f"image {n + 1}",
                    params={"published": "false", "alt_text_custom": image.alt_text or None},
                    files={"source": _source(image)},
                )
                params[f"attached_media[{n}]"] = f'{{"media_fbid":"{photo["id"]}"}}'
            if not images and (link := FIRST_LINK.search(text)):
                params["link"] = link.group(0).rstrip(".,;:!?)")
            answer = self._call(
                "POST",
                f"{page_id}/feed",
                token=token,
                what="the post",
                params=params,
                publishes=True,
            )
            post_id = str(answer.get("id") or "")
        if not post_id:
            raise Rejected("Facebook accepted the post but named no post id.")
        log.info("Posted delivery %s to Facebook account %s: %s", delivery.id, account.id, post_id)
        return Published(external_id=post_id, url=post_url(post_id))

    def publish_comment(self, delivery, text: str, *, on: dict) -> dict:
        """`POST /{post-id}/comments` as the Page. Not idempotent either: a lost answer
        may have made the comment (the caller ends it `unconfirmed`)."""
        errors = self.validate(text, account=delivery.account)
        if errors:
            raise Rejected("The first comment: " + " ".join(errors))
        token, _ = _keys(delivery.account)
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
            raise Rejected("Facebook accepted the comment but named no comment id.")
        return {"id": comment_id, "url": f"https://www.facebook.com/{comment_id}"}

    def metrics(self, account, external_ids: list[str]) -> dict[str, PostMetrics]:
        """Reactions, comments and shares, 50 posts a call (`GET /?ids=...`,
        networks/meta/metrics.py); the Page token reads them (pages_read_engagement)."""
        token, page_id = _keys(account)
        return meta_metrics.read(
            external_ids,
            token=token,
            fields=METRICS_FIELDS,
            counts=post_counts,
            network=LABEL,
            owner_posts=f"{page_id}/posts",
        )

    def check(self, account) -> str:
        token, page_id = _keys(account)
        page = self._call(
            "GET", page_id, token=token, what="the Page check", params={"fields": "id,name"}
        )
        about_tokens = tokens.check_tokens(account, page_id=page_id, label=LABEL)
        name = page.get("name") or page_id
        return " ".join(filter(None, [f"Posting to the Facebook Page “{name}”.", about_tokens]))


network = FacebookNetwork()
