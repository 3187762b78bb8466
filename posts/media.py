"""Images attached to posts: what is accepted, what is stored, how it shrinks for a network.

An upload is checked in two steps, so a web request never decodes a pixel:

- inspect_upload() (the web request) opens it with Pillow, which reads only the header: it
  must be a JPEG, PNG, GIF or WebP whose name matches what it really is, at most
  MAX_UPLOAD_BYTES, IMAGE_MAX_PIXELS per frame, IMAGE_MAX_FRAMES frames and
  IMAGE_MAX_TOTAL_PIXELS over all frames. A small file can decode to gigabytes (one GIF of
  2.5 MB held 1,000 frames of 1000 x 1000), so every limit is checked before decoding. A
  GIF's frames are counted by skipping over their compressed data, never decoding it.
- reencode() (a worker, posts.process_image) decodes and writes the image again from its
  pixels, so EXIF (GPS position, camera serial), XMP and comments (JPEG COM, GIF comment
  extensions, PNG text) are gone; the EXIF orientation is applied first, so a phone photo
  stays upright. An animation stays one of its own format (GIF, APNG, WebP), so the stored
  bytes always are the format the name and content type say.

fit_under() (networks.media, re-exported here) makes an image fit a network's byte limit
(Bluesky: 1,000,000 bytes per image) by re-encoding as JPEG at falling quality, then scaling
down: an image is never dropped.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass

from django.conf import settings
from PIL import Image, ImageOps, UnidentifiedImageError

from networks.media import fit_under  # noqa: F401 (re-exported)

MAX_UPLOAD_BYTES = 15 * 1024 * 1024
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
# What a re-encoded still keeps of the decoder's `info`: how it looks, nothing about who
# made it (a JPEG writer copies info["comment"] into a COM segment unless it is gone).
_KEPT_INFO = ("icc_profile", "transparency")

# Pillow's own guard (a documented module setting, Pillow's default is 89 megapixels): it
# also covers what our header check cannot see, a GIF frame larger than the canvas its
# header declares, which Pillow grows the canvas for while seeking (worker side only).
Image.MAX_IMAGE_PIXELS = settings.IMAGE_MAX_PIXELS


class ImageRefused(ValueError):
    """The upload is not an image we take; the message is for the user."""


@dataclass(frozen=True)
class Inspected:
    """What the header says (nothing decoded)."""

    format: str
    width: int
    height: int
    frames: int

    @property
    def content_type(self) -> str:
        return FORMATS[self.format]


@dataclass(frozen=True)
class PreparedImage:
    data: bytes
    content_type: str
    extension: str
    width: int
    height: int


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"


def _megapixels(pixels: int) -> str:
    if pixels < 1_000_000:
        return f"{pixels:,} pixels"
    return f"{pixels / 1_000_000:,.0f} megapixels"


def check_size(size: int, *, filename: str) -> None:
    """Refuse by size alone (views call it before reading the upload into memory)."""
    if not size:
        raise ImageRefused(f"{filename} is empty (0 bytes).")
    if size > MAX_UPLOAD_BYTES:
        raise ImageRefused(
            f"{filename} is {_megabytes(size)}; images may be at most "
            f"{_megabytes(MAX_UPLOAD_BYTES)}."
        )


def _check_frame(filename: str, width: int, height: int) -> None:
    if width * height > settings.IMAGE_MAX_PIXELS:
        raise ImageRefused(
            f"{filename} is {width} x {height} pixels; at most "
            f"{_megapixels(settings.IMAGE_MAX_PIXELS)}."
        )


def _check_frames(filename: str, width: int, height: int, frames: int) -> None:
    if frames > settings.IMAGE_MAX_FRAMES:
        raise ImageRefused(
            f"{filename} has {frames:,} frames; an animation may have at most "
            f"{settings.IMAGE_MAX_FRAMES:,}."
        )
    if frames * width * height > settings.IMAGE_MAX_TOTAL_PIXELS:
        raise ImageRefused(
            f"{filename} has {frames:,} frames of {width} x {height} pixels "
            f"({_megapixels(frames * width * height)} in all); an animation may have at most "
            f"{_megapixels(settings.IMAGE_MAX_TOTAL_PIXELS)} over all its frames."
        )


def inspect_upload(data: bytes, *, filename: str) -> Inspected:
    """Check an upload from its header alone (no pixel is decoded: cheap in a web request).
    Raises ImageRefused with the reason."""
    check_size(len(data), filename=filename)
    extension = os.path.splitext(filename)[1].lower()
    named_as = EXTENSIONS.get(extension)
    if named_as is None:
        raise ImageRefused(f"{filename}: use a JPEG, PNG, GIF or WebP image.")
    try:
        image = Image.open(io.BytesIO(data))  # reads the header only
        real = image.format
        if real not in FORMATS:
            raise ImageRefused(f"{filename} is a {real} image; use JPEG, PNG, GIF or WebP.")
        width, height = image.size
        _check_frame(filename, width, height)
        # GIF: walks the frame headers, skipping their compressed pixels; APNG and WebP: a
        # count in the header.
        frames = getattr(image, "n_frames", 1)
    except ImageRefused:
        raise
    except Image.DecompressionBombError:
        raise ImageRefused(
            f"{filename} has too many pixels; at most {_megapixels(settings.IMAGE_MAX_PIXELS)}."
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        raise ImageRefused(f"{filename} is not an image (or it is damaged).") from None
    if real != named_as:
        raise ImageRefused(
            f"{filename} is a {real} image but its name ends in {extension}: rename it to "
            f"{PREFERRED_EXTENSION[real]} (or export it as {named_as})."
        )
    _check_frames(filename, width, height, frames)
    return Inspected(format=real, width=width, height=height, frames=frames)


def reencode(data: bytes, *, filename: str) -> PreparedImage:
    """Decode and write the image again without its metadata (a worker's job: this costs
    what decoding every frame costs). Checks the limits again first: the header check ran
    in another process, maybe under other settings. Raises ImageRefused with the reason."""
    inspected = inspect_upload(data, filename=filename)
    try:
        image = Image.open(io.BytesIO(data))
        if inspected.frames > 1:
            out, width, height = _reencode_animation(image, inspected, filename)
        else:
            image.load()
            out, width, height = _reencode_still(image, inspected.format)
    except ImageRefused:
        raise
    except Image.DecompressionBombError:
        raise ImageRefused(
            f"{filename} has a frame larger than {_megapixels(settings.IMAGE_MAX_PIXELS)}."
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError):
        raise ImageRefused(f"{filename} is damaged: it could not be read to the end.") from None
    return PreparedImage(
        data=out,
        content_type=inspected.content_type,
        extension=PREFERRED_EXTENSION[inspected.format],
        width=width,
        height=height,
    )


def _reencode_animation(
    image: Image.Image, inspected: Inspected, filename: str
) -> tuple[bytes, int, int]:
    # First every frame is decoded once, one at a time, its size checked before its pixels
    # are read: a GIF frame may be larger than the canvas its header declared (Pillow then
    # grows the canvas while seeking), which would make frames x pixels more than the header
    # check allowed. Only then does the writer get the whole sequence.
    for index in range(inspected.frames):
        image.seek(index)
        if image.size != (inspected.width, inspected.height):
            raise ImageRefused(
                f"{filename} has a frame larger than the size its header declares "
                f"({inspected.width} x {inspected.height}); export it again."
            )
        image.load()
    image.seek(0)
    out = io.BytesIO()
    if inspected.format == "GIF":
        # The writer copies the first frame's comment into the file unless told otherwise.
        image.save(out, format="GIF", save_all=True, comment=b"")
    elif inspected.format == "PNG":
        # An animated PNG stays an animated PNG (the PNG writer adds no text or EXIF chunk
        # it is not given).
        image.save(out, format="PNG", save_all=True)
    else:
        image.save(out, format="WEBP", save_all=True, quality=90)
    return out.getvalue(), inspected.width, inspected.height


def _reencode_still(image: Image.Image, fmt: str) -> tuple[bytes, int, int]:
    out = io.BytesIO()
    upright = ImageOps.exif_transpose(image)  # a copy: its info is ours to clear
    for key in list(upright.info):
        if key not in _KEPT_INFO:
            del upright.info[key]
    if fmt == "JPEG":
        upright = upright.convert("RGB") if upright.mode not in ("RGB", "L") else upright
        upright.save(out, format="JPEG", quality=90, optimize=True)
    elif fmt == "PNG":
        upright.save(out, format="PNG", optimize=True)
    elif fmt == "GIF":
        upright.save(out, format="GIF", comment=b"")
    else:
        upright.save(out, format="WEBP", quality=90)
    return out.getvalue(), upright.width, upright.height
