from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.models import Workspace
from publishing.stop_answer import GUARANTEE, in_flight
from publishing.stopping import services as stop_services
from scheduling import stops


class Command(BaseCommand):
    help = (
        "Emergency stop: stop all publishing of the instance (or of one workspace) and print "
        "the cutoff instant after which nothing publishes; --resume re-plans from now."
    )

    def add_arguments(self, parser):
        parser.add_argument("--workspace", help="Only this workspace (its slug).")
        parser.add_argument("--resume", action="store_true", help="Resume instead of stopping.")
        parser.add_argument("--by", default="an operator", help="Who, for the slots' reasons.")

    def handle(self, *args, workspace: str | None, resume: bool, by: str, **options):
        ws = None
        if workspace:
            ws = Workspace.objects.filter(slug=workspace).first()
            if ws is None:
                raise CommandError(f"No workspace with the slug {workspace!r}.")
        scope = f"workspace {ws.slug}" if ws else "every workspace"
        label = f"{by} (manage.py)"
        try:
            if resume:
                done = stops.publishing_resume(workspace=ws, label=label)
                self.stdout.write(
                    f"Resumed {scope}: {done.revived} slot(s) ahead scheduled again, "
                    f"{len(done.resumed_channels)} channel(s) resumed; nothing that fell in "
                    "the stop is published late."
                )
                return
            stop = stop_services.publishing_stop(workspace=ws, label=label)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(f"Stopped {scope}. Cutoff: {stop.cutoff_at.isoformat()}")
        self.stdout.write(f"{stop.rotated} scheduled slot(s) canceled with a new token.")
        flying = in_flight(stop)
        self.stdout.write(
            f"Claimed before the stop: {len(stop.claimed_before)} slot(s), "
            f"{len(flying)} delivery(ies) still in flight:"
        )
        for d in flying:
            self.stdout.write(f"  delivery {d.delivery_id} (slot {d.timeslot_id}) {d.account}")
        self.stdout.write(GUARANTEE)
