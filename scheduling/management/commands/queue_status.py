from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count
from django.utils import timezone

from publishing.models import Delivery
from queueloop.celery import app as celery_app
from scheduling.models import PlannerState, Timeslot

MAX_HOURS = 366 * 24
OVERDUE_CAP = 10_000


def broker_reachable() -> tuple[bool, str]:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
        return True, "reachable"
    except Exception as exc:  # any transport error means "not reachable"
        return False, f"unreachable ({exc.__class__.__name__})"


class Command(BaseCommand):
    help = (
        "Show timeslot and delivery counts by status over the last --hours (and the planned "
        "window ahead), overdue slots, the next due one, the planner and broker."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")
        parser.add_argument(
            "--hours",
            type=int,
            default=24,
            help="Count the slots and deliveries of the last HOURS hours (default 24, "
            "at most 8784: a year). Never the whole history: that is a full-table scan.",
        )

    def handle(self, *args, json: bool = False, hours: int = 24, **options):
        if not 1 <= hours <= MAX_HOURS:
            raise CommandError(f"--hours must be from 1 to {MAX_HOURS}.")
        now = timezone.now()
        since = now - dt.timedelta(hours=hours)
        # Ranges of timeslot_recent_idx and delivery_recent_idx.
        by_status = dict(
            Timeslot.objects.filter(
                publish_at__gte=since, publish_at__lt=now + settings.PLANNER_HORIZON
            )
            .order_by()
            .values_list("status")
            .annotate(n=Count("id"))
            .values_list("status", "n")
        )
        deliveries = dict(
            Delivery.objects.filter(created_at__gte=since)
            .order_by()
            .values_list("status")
            .annotate(n=Count("id"))
            .values_list("status", "n")
        )
        overdue = (
            Timeslot.objects.filter(
                status=Timeslot.Status.SCHEDULED, publish_at__lt=now - settings.WATCHDOG_GRACE
            )
            .order_by()[:OVERDUE_CAP]
            .count()
        )
        next_due = (
            Timeslot.objects.filter(status=Timeslot.Status.SCHEDULED, publish_at__gte=now)
            .order_by("publish_at")
            .values_list("publish_at", flat=True)
            .first()
        )
        state = PlannerState.objects.filter(key="default").first()
        ok, broker = broker_reachable()
        report = {
            "hours": hours,
            "timeslots": {s: by_status.get(s, 0) for s in Timeslot.Status.values},
            "deliveries": {s: deliveries.get(s, 0) for s in Delivery.Status.values},
            "overdue": overdue,
            "next_due": next_due.isoformat() if next_due else None,
            "planner_last_run": state.last_run_at.isoformat()
            if state and state.last_run_at
            else None,
            "planned_until": state.planned_until.isoformat()
            if state and state.planned_until
            else None,
            "broker": broker,
        }
        if json:
            import json as json_module

            self.stdout.write(json_module.dumps(report))
            return
        self.stdout.write(f"Timeslots by status (last {hours} h and the planned window):")
        for status, n in report["timeslots"].items():
            self.stdout.write(f"  {status:<11} {n}")
        self.stdout.write(f"Deliveries by status (created in the last {hours} h):")
        for status, n in report["deliveries"].items():
            self.stdout.write(f"  {status:<11} {n}")
        self.stdout.write(f"Overdue (scheduled past their time + grace): {overdue}")
        self.stdout.write(f"Next due: {report['next_due'] or '-'}")
        self.stdout.write(f"Planner last run: {report['planner_last_run'] or 'never'}")
        self.stdout.write(f"Planned until: {report['planned_until'] or '-'}")
        self.stdout.write(f"Broker: {broker}")
        if not ok:
            raise CommandError("The broker is unreachable: publish messages cannot be sent.")
