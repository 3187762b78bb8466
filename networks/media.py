"""Making an image fit a network's byte limit (Bluesky: 1,000,000 bytes; X: 5 MB; a
Mastodon instance's image_size_limit). The networks shrink the post's stored image just
before uploading it; posts.media re-exports this for the upload checks."""

from __future__ import annotations

import io

from PIL import Image


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
