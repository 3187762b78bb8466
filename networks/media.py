"""Reading a post's stored image, and making it fit a network's byte limit (Bluesky:
1,000,000 bytes; X: 5 MB; a Mastodon instance's image_size_limit). The networks shrink the
post's stored image just before uploading it; posts.media re-exports `fit_under` for the
upload checks."""

from __future__ import annotations

import io

from PIL import Image


def image_bytes(image) -> bytes:
    """The stored image's bytes, read through a file handle of its own.

    The lanes of one chunk run in threads, and the deliveries of one post share its image
    rows (publishing.delivery.load_images), so several networks read the same image at
    once. Opening and closing the row's one FieldFile from two threads races: one lane's
    close lands between another's open and seek ("I/O operation on closed file"), and that
    delivery fails. The storage hands each reader its own file."""
    with image.file.storage.open(image.file.name, "rb") as handle:
        return handle.read()


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
