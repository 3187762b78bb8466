"""Thin Celery tasks: load by id, call a service. All logic lives in publishing/services.py."""

from __future__ import annotations

from celery import shared_task

from publishing import services


@shared_task(name="publishing.publish_timeslot", soft_time_limit=30, time_limit=60)
def publish_timeslot(timeslot_id: int, token: str) -> str:
    return services.timeslot_publish(timeslot_id=timeslot_id, token=token).value


@shared_task(name="publishing.deliver", soft_time_limit=45, time_limit=75)
def deliver(delivery_id: int) -> str | None:
    return services.delivery_send(delivery_id=delivery_id)
