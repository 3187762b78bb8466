"""A post's images through LinkedIn's Images API.

For each image: `POST /rest/images?action=initializeUpload` with
`{"initializeUploadRequest": {"owner": <author urn>}}` answers `{"value": {"uploadUrl",
"image": "urn:li:image:..."}}`; the bytes are PUT to the uploadUrl; the post then names the
image urn (`content.media` for one, `content.multiImage.images` for 2 to 20), each with its
alt text. LinkedIn takes JPEG, PNG and GIF (at most 250 frames) under 36,152,320 pixels:
anything else is sent as a still of its first frame, scaled down when larger.

Uploading makes nothing anyone sees, so it is retried freely; the urns are kept on the
delivery (networks/progress.py) as soon as they exist, so a retry of the post reuses them.
"""

from __future__ import annotations

import io
from urllib.parse import urlsplit

from django.conf import settings
from PIL import Image

from networks import progress
from networks.base import Transient, delivery_images
from networks.linkedin import api
from networks.media import image_bytes

MAX_IMAGES = 20  # a multiImage post: 2 to 20
MAX_PIXELS = 36_152_320
MAX_GIF_FRAMES = 250
TYPES = ("image/jpeg", "image/png", "image/gif")
ALT_TEXT_LIMIT = 4086
STATE_KEY = "linkedin_images"


def upload_bytes(image) -> tuple[bytes, str]:
    """The image as LinkedIn takes it: (bytes, content type)."""
    data = image_bytes(image)
    content_type = image.content_type
    pixels = image.width * image.height
    frames = 1
    if content_type == "image/gif":
        frames = getattr(Image.open(io.BytesIO(data)), "n_frames", 1)
    if content_type in TYPES and pixels <= MAX_PIXELS and frames <= MAX_GIF_FRAMES:
        return data, content_type
    picture = Image.open(io.BytesIO(data))
    picture.seek(0)
    picture = picture.convert("RGBA")
    if picture.width * picture.height > MAX_PIXELS:
        scale = (MAX_PIXELS / (picture.width * picture.height)) ** 0.5 * 0.99
        size = (max(1, int(picture.width * scale)), max(1, int(picture.height * scale)))
        picture = picture.resize(size, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    picture.save(out, format="PNG", optimize=True)
    return out.getvalue(), "image/png"


def _send_token(upload_url: str) -> bool:
    """The bearer token goes with the bytes only to LinkedIn's own hosts (or the API's)."""
    host = (urlsplit(upload_url).hostname or "").lower()
    api_host = (urlsplit(settings.LINKEDIN_API_BASE).hostname or "").lower()
    return host == api_host or host == "linkedin.com" or host.endswith(".linkedin.com")


def upload_one(token: str, *, owner: str, image, number: int) -> str:
    """Initialize, PUT the bytes; the image's urn."""
    what = f"image {number}'s upload"
    response = api.call(
        "POST",
        api.rest_url("images"),
        token=token,
        what=what,
        params={"action": "initializeUpload"},
        json={"initializeUploadRequest": {"owner": owner}},
    )
    try:
        value = response.json().get("value") or {}
        upload_url, urn = str(value["uploadUrl"]), str(value["image"])
    except (ValueError, AttributeError, KeyError, TypeError):
        raise Transient(f"LinkedIn's answer to {what} names no upload URL.") from None
    data, content_type = upload_bytes(image)
    api.call(
        "PUT",
        upload_url,
        token=token if _send_token(upload_url) else "",
        what=what,
        rest=False,
        data=data,
        headers={"Content-Type": content_type},
    )
    return urn


def content_for(call_with_token, delivery, *, owner: str) -> dict | None:
    """The post's `content` for the delivery's images (None when it has none), uploading
    those not uploaded by an earlier attempt. `call_with_token(fn)` runs fn(token) with the
    account's current token (refreshing as needed)."""
    images = delivery_images(delivery)[:MAX_IMAGES]
    if not images:
        return None
    urns = list(progress.recall(delivery, STATE_KEY) or [])
    if len(urns) != len(images):
        urns = []
        for number, image in enumerate(images, start=1):
            urns.append(
                call_with_token(
                    lambda token, image=image, number=number: upload_one(
                        token, owner=owner, image=image, number=number
                    )
                )
            )
        progress.remember(delivery, **{STATE_KEY: urns})
    entries = [
        {"id": urn, "altText": (image.alt_text or "")[:ALT_TEXT_LIMIT]}
        for urn, image in zip(urns, images, strict=True)
    ]
    if len(entries) == 1:
        return {"media": entries[0]}
    return {"multiImage": {"images": entries}}
