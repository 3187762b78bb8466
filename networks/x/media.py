"""X images: each image is uploaded (POST /2/media/upload, one request, base64 in JSON) and
its alt text attached (POST /2/media/metadata) before the tweet names the media ids.

X takes at most 4 images of at most 5 MB each (media category tweet_image); bigger ones are
shrunk with the same posts.media.fit_under as for Bluesky. The one-request upload takes no
GIF (an animated GIF needs the chunked INIT/APPEND/FINALIZE flow and the tweet_gif
category), so a GIF goes up as a still PNG of its first frame.

Uploads go through call_x, so they get the same token refresh and error classification as
the tweet. Media a failed attempt uploaded is never referenced, and X drops it after a day.
"""

from __future__ import annotations

import base64
import io

from PIL import Image

from networks.base import Rejected, Transient, delivery_images
from networks.media import fit_under, image_bytes

MAX_IMAGES = 4
MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_ALT_TEXT = 1000
UPLOAD_ROUTE = "/2/media/upload"
METADATA_ROUTE = "/2/media/metadata"


def _still_png(data: bytes) -> bytes:
    image = Image.open(io.BytesIO(data))
    image.seek(0)
    out = io.BytesIO()
    image.convert("RGBA").save(out, format="PNG", optimize=True)
    return out.getvalue()


def prepared(image) -> tuple[bytes, str]:
    """The image's bytes and type as X takes them: not a GIF, at most 5 MB."""
    data = image_bytes(image)
    content_type = image.content_type
    if content_type == "image/gif":
        data, content_type = _still_png(data), "image/png"
    return fit_under(data, content_type, max_bytes=MAX_IMAGE_BYTES)


def _media_id(response) -> str:
    payload = response.json()
    data = payload.get("data") if isinstance(payload, dict) else None
    media_id = data.get("id") if isinstance(data, dict) else None
    if not media_id:
        raise Rejected("X accepted an image upload but returned no media id.")
    return str(media_id)


def upload_image(account, image, *, call_x) -> str:
    """Upload one image (and its alt text); returns X's media id."""
    data, content_type = prepared(image)
    number = image.position + 1
    body = {
        "media": base64.b64encode(data).decode("ascii"),
        "media_category": "tweet_image",
        "media_type": content_type,
    }
    media_id = call_x(
        account,
        lambda client, user_auth: _media_id(
            client.request("POST", UPLOAD_ROUTE, json=body, user_auth=user_auth)
        ),
        what=f"image {number}",
    )
    alt_text = (image.alt_text or "").strip()
    if alt_text:
        metadata = {"id": media_id, "metadata": {"alt_text": {"text": alt_text[:MAX_ALT_TEXT]}}}
        call_x(
            account,
            lambda client, user_auth: client.request(
                "POST", METADATA_ROUTE, json=metadata, user_auth=user_auth
            ),
            what=f"the alt text of image {number}",
        )
    return media_id


def upload_images(account, images, *, call_x) -> list[str]:
    if len(images) > MAX_IMAGES:
        raise Rejected(
            f"X takes at most {MAX_IMAGES} images in a post; this one has {len(images)}."
        )
    return [upload_image(account, image, call_x=call_x) for image in images]


def upload_for(account, delivery, *, call_x) -> list[str]:
    """The media ids of the delivery's images, uploaded with their alt text."""
    images = delivery_images(delivery)
    if not images:
        return []
    try:
        return upload_images(account, images, call_x=call_x)
    except Transient as exc:
        # An upload that may have reached X posts nothing: the tweet was not sent yet, so
        # this delivery can be retried even though X has no idempotency key.
        raise Transient(f"{exc.message} No post was made.") from None
