"""Workspace media behind signed URLs that expire.

A post's image is served at MEDIA_URL only with a signature over its storage name and an
expiry instant: `/media/posts/2026/12/<random>.png?e=<unix seconds>&s=<signature>`
(django.core.signing.Signer, keyed by SECRET_KEY, so SECRET_KEY_FALLBACKS rotate it).
Pages are rendered for members only, and the storage's url() signs, so `image.file.url` in
a template is a fresh signed URL for whoever may see the page; a URL copied out of it, or
kept by a member who was removed, dies at its expiry. Nobody can make one for another file.

Two lifetimes: MEDIA_URL_MAX_AGE for pages (a page shows its images at once), and the longer
MEDIA_FETCH_URL_MAX_AGE for URLs handed to someone who fetches later, such as a webhook
receiver (fetch_url()).

Why an explicit expiry rather than TimestampSigner's signing time: the expiry is rounded up
to a tenth of the lifetime, so pages rendered within that tenth share one URL per image and
the browser's cache keeps working; a URL lives at most 1.1 x its lifetime.
"""

from __future__ import annotations

import time
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.core.files.storage import FileSystemStorage

SALT = "queueloop.posts.signed_media"
EXPIRES_PARAM = "e"
SIGNATURE_PARAM = "s"


def _signer() -> signing.Signer:
    return signing.Signer(salt=SALT)


def _value(name: str, expires: int) -> str:
    return f"{name}|{expires}"


def expiry(max_age: int) -> int:
    """now + max_age, rounded up to a tenth of max_age (unix seconds)."""
    step = max(1, max_age // 10)
    return -(-(int(time.time()) + max_age) // step) * step


def signature(name: str, expires: int) -> str:
    signed = _signer().sign(_value(name, expires))
    return signed.rsplit(_signer().sep, 1)[1]


def query(name: str, *, max_age: int) -> str:
    expires = expiry(max_age)
    return urlencode({EXPIRES_PARAM: expires, SIGNATURE_PARAM: signature(name, expires)})


def seconds_left(name: str, expires: str, sig: str) -> int | None:
    """How long a URL for `name` with these parameters stays valid; None when its signature
    is wrong (a tampered name or expiry, or no signature) or it has expired."""
    if not expires.isascii() or not expires.isdigit() or len(expires) > 12 or not sig:
        return None
    try:
        _signer().unsign(f"{_value(name, int(expires))}{_signer().sep}{sig}")
    except signing.BadSignature:
        return None
    left = int(expires) - int(time.time())
    return left if left > 0 else None


class SignedFileSystemStorage(FileSystemStorage):
    """Django's file storage whose URLs are signed and expire (the view checks them)."""

    def url(self, name, *, max_age: int | None = None):
        plain = super().url(name)
        return f"{plain}?{query(name, max_age=max_age or settings.MEDIA_URL_MAX_AGE)}"


def fetch_url(file) -> str:
    """The file's URL for a receiver that fetches it later (a webhook), signed for
    MEDIA_FETCH_URL_MAX_AGE. Another storage (a bucket) gives its own URL."""
    storage = file.storage
    if isinstance(storage, SignedFileSystemStorage):
        return storage.url(file.name, max_age=settings.MEDIA_FETCH_URL_MAX_AGE)
    return file.url
