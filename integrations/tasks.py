"""Thin Celery tasks: take ids, call integrations.sending."""

from __future__ import annotations

from celery import shared_task

from integrations import sending


@shared_task(name="integrations.fan_out_events", soft_time_limit=60, time_limit=90)
def fan_out_events(event_ids: list[int]) -> int:
    return len(sending.events_fan_out(event_ids=event_ids))


# Below LEASE (5 min): a live chunk never looks abandoned to the sweep.
@shared_task(name="integrations.send_deliveries", soft_time_limit=90, time_limit=120)
def send_deliveries(delivery_ids: list[int]) -> dict:
    statuses = sending.deliveries_send(delivery_ids=delivery_ids)
    counts: dict[str, int] = {}
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    return counts


@shared_task(name="integrations.sweep_events", soft_time_limit=50, time_limit=58)
def sweep_events() -> dict:
    return sending.events_sweep()
