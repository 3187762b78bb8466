"""Thin Celery tasks: bulk.imports and bulk.feeds do the work."""

from __future__ import annotations

from celery import shared_task

from bulk import feeds, imports


@shared_task(name="bulk.import_chunk", soft_time_limit=300, time_limit=330)
def import_chunk(job_id: int, first_line: int, last_line: int) -> dict:
    result = imports.import_chunk_run(job_id=job_id, first_line=first_line, last_line=last_line)
    if result is None:
        return {"job": job_id, "gone": True}
    return {"job": job_id, **vars(result)}


@shared_task(name="bulk.poll_feeds", soft_time_limit=50, time_limit=58)
def poll_feeds() -> dict:
    """Beat: one bulk.poll_feed task per feed that is due."""
    return {"sent": feeds.feeds_poll_due()}


@shared_task(name="bulk.poll_feed", soft_time_limit=60, time_limit=70)
def poll_feed(feed_id: int) -> dict:
    result = feeds.feed_poll(feed_id=feed_id)
    return {"feed": feed_id, **vars(result)} if result else {"feed": feed_id, "gone": True}
