"""A post's images: add (checked and stripped by posts.media), alt text, remove, warnings.

Images need no provider, so they live here in `posts`, below the composer
(publishing.compose) that checks texts against the networks.
"""

from __future__ import annotations

import uuid

from django.core.exceptions import ValidationError
from django.db import transaction

from posts.models import Post, PostImage


def post_image_add(*, post: Post, data: bytes, filename: str, alt_text: str = "") -> PostImage:
    """Check an uploaded image (posts.media), store it without its metadata and attach it as
    the post's next image. Raises ValidationError with a message for the user."""
    from django.core.files.base import ContentFile

    from posts import media

    alt_text = alt_text.strip()
    if len(alt_text) > media.MAX_ALT_TEXT:
        raise ValidationError(f"Alt text may be at most {media.MAX_ALT_TEXT} characters.")
    try:
        prepared = media.prepare_upload(data, filename=filename)
    except media.ImageRefused as exc:
        raise ValidationError(str(exc)) from None
    with transaction.atomic():
        # Lock the post so two uploads at once cannot both take the fourth place.
        Post.objects.select_for_update().only("id").get(id=post.id)
        count = PostImage.objects.filter(post=post).count()
        if count >= media.MAX_IMAGES:
            raise ValidationError(f"A post has at most {media.MAX_IMAGES} images.")
        image = PostImage(
            post=post,
            position=count,
            alt_text=alt_text,
            content_type=prepared.content_type,
            width=prepared.width,
            height=prepared.height,
            size=len(prepared.data),
        )
        # A random name: the uploaded file name can say more than the user meant to share.
        image.file.save(
            f"{uuid.uuid4().hex}{prepared.extension}", ContentFile(prepared.data), save=False
        )
        image.save()
    return image


def post_image_set_alt(*, image: PostImage, alt_text: str) -> PostImage:
    from posts import media

    alt_text = alt_text.strip()
    if len(alt_text) > media.MAX_ALT_TEXT:
        raise ValidationError(f"Alt text may be at most {media.MAX_ALT_TEXT} characters.")
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
    """Delete the image and its file; the images after it move up one place."""
    with transaction.atomic():
        Post.objects.select_for_update().only("id").get(id=image.post_id)
        PostImage.objects.filter(id=image.id).delete()
        for position, later in enumerate(PostImage.objects.filter(post_id=image.post_id)):
            if later.position != position:
                PostImage.objects.filter(id=later.id).update(position=position)
        # The file goes after the row: a failed delete leaves an orphan file, never a row
        # pointing at nothing.
        transaction.on_commit(lambda: image.file.delete(save=False))
