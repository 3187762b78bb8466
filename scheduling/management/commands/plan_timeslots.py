from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from scheduling import services


class Command(BaseCommand):
    help = "Plan the timeslots of every active schedule up to the horizon and enqueue them."

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="Print what would be created; write nothing."
        )
        parser.add_argument(
            "--until",
            help="Plan up to this ISO 8601 time with an offset (default: now + PLANNER_HORIZON).",
        )

    def handle(self, *args, dry_run: bool, until: str | None, **options):
        now = timezone.now()
        end = None
        if until:
            try:
                end = dt.datetime.fromisoformat(until)
            except ValueError:
                raise CommandError(f"--until {until!r} is not an ISO 8601 date-time") from None
            if timezone.is_naive(end):
                raise CommandError("--until needs a UTC offset, e.g. 2026-12-01T09:00:00+00:00")
            if end <= now:
                raise CommandError("--until must be in the future")
            if end - now > dt.timedelta(days=31):
                raise CommandError("--until may be at most 31 days ahead")
        if dry_run:
            result = services.planner_run(now=now, until=end, dry_run=True)
        else:
            result = services.plan_upcoming(now=now, until=end)
        if dry_run:
            for label, when in result.would_create:
                self.stdout.write(f"would create {label} at {when.isoformat()}")
            self.stdout.write(
                f"dry run: {len(result.would_create)} timeslot(s) would be created for "
                f"[{result.start.isoformat()}, {result.end.isoformat()}); nothing written"
            )
            return
        self.stdout.write(
            f"planned [{result.start.isoformat()}, {result.end.isoformat()}): "
            f"{result.created} created, {result.enqueued} enqueued"
        )
