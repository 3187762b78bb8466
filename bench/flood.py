"""How long the flood inputs of issue 23's probe take to be refused (scheduling/spacing.py,
scheduling/rules.py), through the real web form and API views, and what a legacy dense
MONTHLY schedule costs the planner now that rules are expanded from the window.

    python -m bench.flood        # prints one line per case, then a JSON line

It uses a throwaway database (the test settings: PostgreSQL on 127.0.0.1 when it answers,
created and dropped here) and the production bound (12 slots an hour, 60 s apart). Figures,
not a test: the tests assert the refusals and their messages (tests/channels/test_rate_limits.py).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import sys
import time


def _setup():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    os.environ["QUEUELOOP_TEST_RUN_ID"] = f"flood{os.getpid()}"
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    return connection


def _timed(fn, repeat: int = 3) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main() -> int:
    connection = _setup()
    try:
        return _run()
    finally:
        connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)


def _run() -> int:
    import time_machine
    from django.test import Client
    from django.urls import reverse
    from rest_framework.test import APIClient

    from accounts.models import ApiToken, Membership
    from scheduling import services
    from scheduling.models import Schedule
    from tests.factories import ChannelFactory, MembershipFactory, ScheduleFactory, rule

    now = dt.datetime(2026, 6, 1, 10, 0, tzinfo=dt.UTC)
    member = MembershipFactory(role=Membership.Role.EDITOR)
    channel = ChannelFactory(workspace=member.workspace)
    web = Client()
    web.force_login(member.user)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {ApiToken.objects.create(user=member.user).key}")

    first = dt.datetime(2026, 6, 1, 10, 20)  # noqa: DTZ001 - RDATE wall time
    rdates = "\n".join(
        f"RDATE:{first + dt.timedelta(seconds=i):%Y%m%dT%H%M%S}" for i in range(100_000)
    )
    minutely = "\n".join(f"RRULE:FREQ=MINUTELY;BYSECOND={s}" for s in range(60))
    days = ",".join(map(str, range(1, 32)))
    hours = ",".join(map(str, range(24)))
    dense = [
        f"RRULE:FREQ=MONTHLY;BYMONTHDAY={days};BYHOUR={hours};BYMINUTE="
        + ",".join(map(str, minutes))
        for minutes in (range(60), range(0, 60, 2), range(1, 60, 3), range(0, 60, 4))
    ]
    cases = {
        "web form, 100,000 RDATE lines (2.2 MB)": lambda: web.post(
            reverse("schedule_create", args=[channel.id]),
            {"name": "flood", "frequency": "advanced", "advanced": rdates, "is_active": "on"},
        ),
        "API, 60 MINUTELY rules BYSECOND=0..59": lambda: api.post(
            "/api/v1/schedules/",
            {"channel": channel.id, "name": "flood", "rule": minutely},
            format="json",
        ),
    }
    for i, text in enumerate(dense):
        cases[f"API, dense MONTHLY rule {i + 1} of 4"] = lambda text=text: api.post(
            "/api/v1/schedules/",
            {"channel": channel.id, "name": "dense", "rule": text},
            format="json",
        )
    figures = {}
    with time_machine.travel(now, tick=False):
        for name, call in cases.items():
            seconds, response = _timed(call)
            assert response.status_code == 400, (name, response.status_code)
            assert not Schedule.objects.exists()
            figures[name] = round(seconds, 4)
            print(f"{name:45s} {response.status_code}  {seconds * 1000:8.1f} ms", flush=True)
        # Four dense MONTHLY schedules saved before the bound (straight to the table): the
        # planner's dry run expands them from the window and enforces the bound.
        for text in dense:
            ScheduleFactory(channel=channel, recurrence=rule(text))
        seconds, result = _timed(lambda: services.planner_run(dry_run=True))
        figures["planner dry run, 4 legacy dense MONTHLY schedules"] = round(seconds, 4)
        print(
            f"{'planner dry run, 4 legacy dense MONTHLY':45s} "
            f"{len(result.would_create)} slots, {result.skipped} skipped  "
            f"{seconds * 1000:8.1f} ms",
            flush=True,
        )
    print(json.dumps({"flood_seconds": figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
