"""`manage.py legacy_tasks`: may the first engine's tasks be removed yet?

Exit status 0: no message with a first-engine task name is on the broker (upgrading to the
release that removes them is safe); 1: some are (keep this release running until they have
run, and check again); 2: the broker could not be read in full, so no answer.
publishing/legacy_tasks.py says how the broker is read without taking anything off it, and
when the tasks go.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from publishing.legacy_tasks import LEGACY_TASK_NAMES, broker_legacy_messages


class Command(BaseCommand):
    help = (
        "Tell whether any message of the first engine's tasks (publishing.publish_timeslot, "
        "publishing.deliver) is still on the broker, waiting or held by a worker. Reads only. "
        "Exits 0 if none, 1 if some, 2 if the broker could not be read."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--queue",
            action="append",
            dest="queues",
            metavar="NAME",
            help="A queue to read (repeatable); default: every queue the Celery "
            "configuration declares.",
        )

    def handle(self, *args, queues: list[str] | None = None, **options):
        try:
            scan = broker_legacy_messages(queues=queues)
        except Exception as exc:  # any transport error: we cannot tell
            raise CommandError(
                f"Could not read the broker ({exc.__class__.__name__}: {exc}).", returncode=2
            ) from exc
        self.stdout.write(
            f"Read {scan.messages_read} message(s): queue(s) {', '.join(scan.queues)} and the "
            "messages workers hold unacknowledged."
        )
        for task in LEGACY_TASK_NAMES:
            found = [m for m in scan.found if m.task == task]
            places: dict[str, int] = {}
            for m in found:
                places[m.place] = places.get(m.place, 0) + 1
            line = f"  {task}: {len(found)}"
            if places:
                line += " (" + ", ".join(f"{n} {place}" for place, n in places.items()) + ")"
            etas = sorted(m.eta for m in found if m.eta)
            if etas:
                line += f", latest eta {etas[-1]}"
            self.stdout.write(line)
        if scan.found:
            raise CommandError(
                f"{len(scan.found)} message(s) of the first engine are still on the broker: keep "
                "this release (it still runs them) and check again after they have run.",
                returncode=1,
            )
        if scan.unreadable:
            raise CommandError(
                f"{scan.unreadable} message(s) could not be read as Celery messages: cannot "
                "tell whether the first engine's tasks may be removed.",
                returncode=2,
            )
        self.stdout.write("None: the release that removes these tasks can be deployed.")
