"""Images attached to posts: what is accepted, what is stored, how it shrinks for a network.

An upload is opened with Pillow, never trusted by its name or its declared type: it must be
a JPEG, PNG, GIF or WebP whose name matches what it really is, at most MAX_UPLOAD_BYTES and
MAX_PIXELS (a small file can decode to gigabytes: the pixel count is checked from the
header, before decoding). What is stored is re-encoded from the pixels, so EXIF (GPS
position, camera serial), XMP and comments are gone; the EXIF orientation is applied first,
so a phone photo stays upright.

fit_under() makes an image fit a network's byte limit (Bluesky: 1,000,000 bytes per image)
by re-encoding as JPEG at falling quality, then scaling down: an image is never dropped.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

MAX_UPLOAD_BYTES = 15 * 1024 * 1024
MAX_PIXELS = 40_000_000
MAX_IMAGES = 4
MAX_ALT_TEXT = 1500
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}
EXTENSIONS = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".gif": "GIF",
    ".webp": "WEBP",
}
PREFERRED_EXTENSION = {"JPEG": ".jpg", "PNG": ".png", "GIF": ".gif", "WEBP": ".webp"}


class ImageRefused(ValueError):
    """The upload is not an image we take; the message is for the user."""


@dataclass(frozen=True)
class PreparedImage:
    data: bytes
    content_type: str
    extension: str
    width: int
    height: int


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"


def check_size(size: int, *, filename: str) -> None:
    """Refuse by size alone (views call it before reading the upload into memory)."""
    if not size:
        raise ImageRefused(f"{filename} is empty (0 bytes).")
    if size > MAX_UPLOAD_BYTES:
        raise ImageRefused(
            f"{filename} is {_megabytes(size)}; images may be at most "
            f"{_megabytes(MAX_UPLOAD_BYTES)}."
        )


def prepare_upload(data: bytes, *, filename: str) -> PreparedImage:
    """Check an upload and return what to store (re-encoded, without metadata)."""
    check_size(len(data), filename=filename)
    extension = os.path.splitext(filename)[1].lower()
    named_as = EXTENSIONS.get(extension)
    if named_as is None:
        raise ImageRefused(f"{filename}: use a JPEG, PNG, GIF or WebP image.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            real = image.format
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ImageRefused(
                    f"{filename} is {width} x {height} pixels; at most "
                    f"{MAX_PIXELS // 1_000_000} megapixels."
                )
            image.load()
    except ImageRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRefused(
            f"{filename} has too many pixels; at most {MAX_PIXELS // 1_000_000} megapixels."
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ImageRefused(f"{filename} is not an image (or it is damaged).") from None
    if real not in FORMATS:
        raise ImageRefused(f"{filename} is a {real} image; use JPEG, PNG, GIF or WebP.")
    if real != named_as:
        raise ImageRefused(
            f"{filename} is a {real} image but its name ends in {extension}: rename it to "
            f"{PREFERRED_EXTENSION[real]} (or export it as {named_as})."
        )
    data, width, height = _without_metadata(image, real)
    return PreparedImage(
        data=data,
        content_type=FORMATS[real],
        extension=PREFERRED_EXTENSION[real],
        width=width,
        height=height,
    )


def _without_metadata(image: Image.Image, fmt: str) -> tuple[bytes, int, int]:
    out = io.BytesIO()
    if fmt == "GIF" or getattr(image, "is_animated", False):
        # Frames are written again as they are; GIF has no EXIF block, and an animated WebP
        # is written frame by frame without its metadata.
        if fmt == "GIF":
            image.save(out, format="GIF", save_all=True)
        else:
            image.save(out, format="WEBP", save_all=True, quality=90)
        return out.getvalue(), image.width, image.height
    upright = ImageOps.exif_transpose(image)
    if fmt == "JPEG":
        upright = upright.convert("RGB") if upright.mode not in ("RGB", "L") else upright
        upright.save(out, format="JPEG", quality=90, optimize=True)
    elif fmt == "PNG":
        upright.save(out, format="PNG", optimize=True)
    else:
        upright.save(out, format="WEBP", quality=90)
    return out.getvalue(), upright.width, upright.height


def fit_under(data: bytes, content_type: str, *, max_bytes: int) -> tuple[bytes, str]:
    """(data, content_type) at most max_bytes: as it is when it fits, else a JPEG at falling
    quality, then smaller. Transparency is flattened onto white."""
    if len(data) <= max_bytes:
        return data, content_type
    image = Image.open(io.BytesIO(data))
    image.seek(0)
    if image.mode in ("RGBA", "LA", "P"):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.split()[-1])
        image = flat
    else:
        image = image.convert("RGB")
    scale = 1.0
    while True:
        size = (max(1, int(image.width * scale)), max(1, int(image.height * scale)))
        candidate = image if scale == 1.0 else image.resize(size, Image.Resampling.LANCZOS)
        for quality in (85, 75, 65):
            out = io.BytesIO()
            candidate.save(out, format="JPEG", quality=quality, optimize=True)
            if out.tell() <= max_bytes:
                return out.getvalue(), "image/jpeg"
        scale *= 0.75
