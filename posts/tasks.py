"""Thin Celery tasks: take ids, call a service (posts/images.py)."""

from __future__ import annotations

from celery import shared_task

from posts import images


# Decoding is bounded by IMAGE_MAX_TOTAL_PIXELS; the limits stop a run that still takes too
# long, and the image then shows why it failed.
@shared_task(name="posts.process_image", soft_time_limit=120, time_limit=150)
def process_image(image_id: int) -> str | None:
    image = images.post_image_process(image_id=image_id)
    return image.status if image is not None else None


@shared_task(name="posts.requeue_stale_images", soft_time_limit=50, time_limit=58)
def requeue_stale_images() -> int:
    return images.images_requeue_stale()
