"""A post's images: add (header checked here, re-encoded by a worker), alt text, remove,
warnings, and whether a post's images are ready to be scheduled.

Adding only reads the upload's header (posts.media.inspect_upload): an image that would
cost too much to decode is refused in the request, before any pixel is decoded. The
re-encoding (metadata removed) runs in the `posts.process_image` task, sent after commit;
until it ends the image is `processing`, and a post with an image that is not `ready`
cannot be queued, pinned or shared (post_check_images_ready).

Images need no provider, so they live here in `posts`, below the composer
(editor.services) that checks texts against the networks.
"""

from __future__ import annotations

import datetime as dt
import logging
import posixpath
import uuid
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from ground.http_transport import curl
from posts import media, review
from posts.models import Post, PostImage
from queueloop.celery import send_many

log = logging.getLogger(__name__)

PROCESS_TASK = "posts.process_image"
# A run that started this many times and never finished (the worker was killed: out of
# memory, a hard time limit) is not tried again.
MAX_ATTEMPTS = 2
# An image still `processing` this long after it was queued lost its message (broker down
# at commit, a worker gone): the sweep sends it again. Above the task's hard time limit.
REQUEUE_AFTER = dt.timedelta(minutes=5)


def _check_alt(alt_text: str) -> str:
    alt_text = alt_text.strip()
    if len(alt_text) > media.MAX_ALT_TEXT:
        raise ValidationError(f"Alt text may be at most {media.MAX_ALT_TEXT} characters.")
    return alt_text


def _send(image_ids: list[int]) -> None:
    """Queue the processing of these images (call it after commit). Sent by name: the task
    module calls these services. A broker that is down leaves them to the sweep."""
    try:
        send_many(PROCESS_TASK, [((i,), None) for i in image_ids], what="image")
    except Exception:
        log.warning("images %s: processing not queued, left for the sweep", image_ids)


def post_image_add(*, post: Post, data: bytes, filename: str, alt_text: str = "") -> PostImage:
    """Check an uploaded image from its header (posts.media), keep it and attach it as the
    post's next image, `processing` until a worker has re-encoded it. Raises
    ValidationError with a message for the user."""
    alt_text = _check_alt(alt_text)
    try:
        inspected = media.inspect_upload(data, filename=filename)
    except media.ImageRefused as exc:
        raise ValidationError(str(exc)) from None
    with transaction.atomic():
        # Lock the post so two uploads at once cannot both take the fourth place.
        locked = Post.objects.select_for_update().only("id", "needs_approval").get(id=post.id)
        count = PostImage.objects.filter(post=post).count()
        if count >= media.MAX_IMAGES:
            raise ValidationError(f"A post has at most {media.MAX_IMAGES} images.")
        image = PostImage(
            post=post,
            position=count,
            alt_text=alt_text,
            upload_name=filename[:255],
            content_type=inspected.content_type,
            width=inspected.width,
            height=inspected.height,
            size=0,
            status=PostImage.Status.PROCESSING,
            queued_at=timezone.now(),
        )
        # A random name: the uploaded file name can say more than the user meant to share.
        # No image extension: it is never served as an image.
        image.original.save(f"{uuid.uuid4().hex}.upload", ContentFile(data), save=False)
        image.save()
        review.post_edited(post=locked)  # an approved post's images changed: review again
        transaction.on_commit(lambda: _send([image.id]))
    return image


def _fail(image: PostImage, *, code: PostImage.Failure, reason: str) -> None:
    changed = PostImage.objects.filter(id=image.id, status=PostImage.Status.PROCESSING).update(
        status=PostImage.Status.FAILED, failure_code=code, failure_reason=reason
    )
    if changed:
        image.status, image.failure_code, image.failure_reason = (
            PostImage.Status.FAILED,
            code,
            reason,
        )


def post_image_process(*, image_id: int) -> PostImage | None:
    """Re-encode a `processing` image without its metadata (posts.media.reencode) and make
    it `ready`, or `failed` with the reason. A no-op for an image already done or removed,
    so a message delivered twice changes nothing."""
    with transaction.atomic():
        image = PostImage.objects.select_for_update().filter(id=image_id).first()
        if image is None or image.status != PostImage.Status.PROCESSING:
            return image
        if image.attempts >= MAX_ATTEMPTS:
            _fail(
                image,
                code=PostImage.Failure.WORKER_LOST,
                reason=f"{image.upload_name or 'The image'} could not be processed: the "
                "worker stopped while processing it. Export it smaller and upload it again.",
            )
            return image
        # Counted before decoding, in its own commit: a run that kills the worker counts.
        PostImage.objects.filter(id=image.id).update(attempts=F("attempts") + 1)
    name = image.upload_name
    try:
        with image.original.open("rb") as handle:
            data = handle.read()
        prepared = media.reencode(data, filename=name)
    except media.ImageRefused as exc:
        _fail(image, code=PostImage.Failure.REFUSED, reason=str(exc))
        return image
    except Exception:  # the time limit included: the image shows why, the log the rest
        log.exception("image %s: processing failed", image.id)
        _fail(
            image,
            code=PostImage.Failure.ERROR,
            reason=f"{name} could not be processed (an unexpected error). Upload it again, "
            "or export it again first.",
        )
        return image
    stored_name = f"{uuid.uuid4().hex}{prepared.extension}"
    image.file.save(stored_name, ContentFile(prepared.data), save=False)
    original = image.original.name
    with transaction.atomic():
        done = PostImage.objects.filter(id=image.id, status=PostImage.Status.PROCESSING).update(
            file=image.file.name,
            original="",
            status=PostImage.Status.READY,
            content_type=prepared.content_type,
            width=prepared.width,
            height=prepared.height,
            size=len(prepared.data),
            failure_code="",
            failure_reason="",
        )
        if not done:  # removed (or done by another run) meanwhile: our file is nobody's
            image.file.delete(save=False)
            return PostImage.objects.filter(id=image.id).first()
        storage = image.original.storage
        transaction.on_commit(lambda: storage.delete(original))
    image.refresh_from_db()
    return image


def images_requeue_stale(*, now: dt.datetime | None = None) -> int:
    """Send again the images still `processing` long after they were queued (their message
    was lost); returns how many. The database is the truth, the broker only a hint."""
    now = now or timezone.now()
    ids = list(
        PostImage.objects.filter(
            status=PostImage.Status.PROCESSING, queued_at__lt=now - REQUEUE_AFTER
        ).values_list("id", flat=True)[:500]
    )
    if ids:
        PostImage.objects.filter(id__in=ids).update(queued_at=now)
        transaction.on_commit(lambda: _send(ids))
    return len(ids)


def post_check_images_ready(*, post: Post) -> None:
    """Refuse (ValidationError) to schedule a post while an image is not ready: still
    processing, or failed. Queueing, pinning and sharing call it."""
    errors = []
    for image in PostImage.objects.filter(post_id=post.id).exclude(status=PostImage.Status.READY):
        number = image.position + 1
        if image.status == PostImage.Status.PROCESSING:
            errors.append(
                f"Image {number} is still being processed: schedule the post once it is "
                "ready (its Images page shows when)."
            )
        else:
            errors.append(
                f"Image {number} could not be processed ({image.failure_reason}): remove it "
                "or upload it again before scheduling the post."
            )
    if errors:
        raise ValidationError(errors)


def post_image_set_alt(*, image: PostImage, alt_text: str) -> PostImage:
    alt_text = _check_alt(alt_text)
    PostImage.objects.filter(id=image.id).update(alt_text=alt_text)
    image.alt_text = alt_text
    return image


def image_warnings(*, post: Post) -> list[str]:
    """What the user should fix but may publish anyway: images without alt text."""
    missing = [i.position + 1 for i in post.images.all() if not i.alt_text.strip()]
    if not missing:
        return []
    which = ", ".join(str(n) for n in missing)
    return [
        f"Image {which} has no alt text: people using screen readers will not know what it shows."
    ]


def post_image_remove(*, image: PostImage) -> None:
    """Delete the image and its files; the images after it move up one place."""
    with transaction.atomic():
        locked = Post.objects.select_for_update().only("id", "needs_approval").get(id=image.post_id)
        PostImage.objects.filter(id=image.id).delete()
        review.post_edited(post=locked)
        for position, later in enumerate(PostImage.objects.filter(post_id=image.post_id)):
            if later.position != position:
                PostImage.objects.filter(id=later.id).update(position=position)
        # The files go after the row: a failed delete leaves an orphan file, never a row
        # pointing at nothing.
        files = [f for f in (image.file, image.original) if f]
        transaction.on_commit(lambda: [f.delete(save=False) for f in files])


# --- By URL (the API's `url`) ----------------------------------------------------------------
FETCH_TIMEOUT = 20.0  # seconds for the whole download
_EXTENSION_OF = {media.FORMATS[f]: ext for f, ext in media.PREFERRED_EXTENSION.items()}


def _name_from(url: str, content_type: str) -> str:
    """The file name the checks read: the URL's own when it names an image, else one made
    from the answer's Content-Type (media.inspect_upload compares it with the real format)."""
    name = posixpath.basename(urlsplit(url).path)[:200]
    if posixpath.splitext(name)[1].lower() in media.EXTENSIONS:
        return name
    extension = _EXTENSION_OF.get(content_type.split(";")[0].strip().lower(), "")
    return f"{posixpath.splitext(name)[0] or 'image'}{extension}"


def post_image_fetch(*, post: Post, url: str, alt_text: str = "") -> PostImage:
    """Download an image from `url` under the webhooks' address rules (DESIGN invariant 6:
    resolved once, no private or loopback address unless the operator allowed the host, no
    redirect followed), at most media.MAX_UPLOAD_BYTES, then add it as an upload
    (post_image_add: the same checks). Raises ValidationError with a message for the user."""
    url = url.strip()
    try:
        URLValidator(schemes=["http", "https"])(url)
        if len(url) > 500:
            raise ValidationError("too long")
    except ValidationError:
        raise ValidationError(
            "Give the image as an http(s) URL of at most 500 characters."
        ) from None
    _check_alt(alt_text)
    try:
        fetched = curl.get(
            url, headers={"Accept": "image/*"}, timeout=FETCH_TIMEOUT,
            max_bytes=media.MAX_UPLOAD_BYTES,
        )  # fmt: skip
    except curl.BlockedDestination as exc:
        raise ValidationError(str(exc)) from None
    except curl.TooLarge:
        raise ValidationError(
            f"The image at that URL is larger than {media.MAX_UPLOAD_BYTES // (1024 * 1024)} MB "
            "(or took too long to download)."
        ) from None
    except OSError as exc:
        raise ValidationError(f"The image could not be downloaded: {exc}") from None
    if fetched.status != 200:
        raise ValidationError(
            f"The image URL answered HTTP {fetched.status}, not 200 with an image "
            "(redirects are not followed: give the final URL)."
        )
    name = _name_from(url, fetched.headers.get("Content-Type", ""))
    try:
        media.check_size(len(fetched.body), filename=name)
    except media.ImageRefused as exc:
        raise ValidationError(str(exc)) from None
    return post_image_add(post=post, data=fetched.body, filename=name, alt_text=alt_text)
