from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from channels.models import Channel
from publishing import services as publishing
from scheduling import services


class Command(BaseCommand):
    help = (
        "Run the watchdog now: re-enqueue lost or never-enqueued timeslots, mark too-old ones "
        "missed, recover stuck deliveries."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--overdue",
            action="store_true",
            help="Only re-enqueue overdue slots (past publish_at + WATCHDOG_GRACE).",
        )
        parser.add_argument("--channel", help="Only this channel (its slug).")

    def handle(self, *args, overdue: bool, channel: str | None, **options):
        target = None
        if channel:
            matches = list(Channel.objects.filter(slug=channel)[:2])
            if not matches:
                raise CommandError(f"No channel with slug {channel!r}")
            if len(matches) > 1:
                raise CommandError(f"Several workspaces have a channel {channel!r}; rename one")
            target = matches[0]
        now = timezone.now()
        if overdue:
            count = services.timeslots_requeue_overdue(now=now, channel=target)
            self.stdout.write(f"re-enqueued {count} overdue timeslot(s)")
            return
        result = services.watchdog_run(now=now, channel=target)
        recovered = publishing.deliveries_recover(now=now, channel=target)
        self.stdout.write(
            f"missed {result.missed}, re-enqueued {result.requeued} overdue, enqueued "
            f"{result.enqueued} never-enqueued, settled {recovered.settled} stuck, re-dispatched "
            f"{recovered.redispatched} "
            f"deliveries, {recovered.unconfirmed} unconfirmed"
        )
