"""How long the flood inputs of issue 23's probe take to be refused (scheduling/spacing.py,
scheduling/rules.py), through the real web form and API views, and what a legacy dense
MONTHLY schedule costs the planner now that rules are expanded from the window.

    python -m bench.flood        # prints one line per case, then a JSON line

It uses the app's own settings on a throwaway database beside the bench's (BENCH_DATABASE_URL,
default PostgreSQL on 127.0.0.1; created and dropped here, like Django's test database) and
the production bound (12 slots an hour, 60 s apart). Figures, not a test: the tests assert
the refusals and their messages (tests/channels/test_rate_limits.py). Like the rest of the
bench, it imports nothing from tests/.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import sys
import time


def _setup():
    # The app's own settings (production-like: DEBUG off) on the bench's servers, as
    # bench/pages.py runs them.
    os.environ["DJANGO_SETTINGS_MODULE"] = "queueloop.settings"
    os.environ["DATABASE_URL"] = os.environ.get(
        "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/queueloop_bench"
    )
    os.environ["REDIS_URL"] = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-used-anywhere-else-0123456789")
    os.environ.setdefault("FIELD_ENCRYPTION_KEY", "pAqN2lVbX3M0f3kq2Kq8c0oWc2Cq2b2cS9oVh2Vx1aQ=")
    # The test client's host and plain HTTP: a 400 must be the refusal itself, not a
    # disallowed host, and no answer a redirect to HTTPS.
    os.environ["ALLOWED_HOSTS"] = "testserver"
    os.environ["SECURE_SSL_REDIRECT"] = "false"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["DEBUG"] = "0"
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()
    # A name of its own, so that runs side by side never drop each other's database.
    connection.settings_dict["TEST"]["NAME"] = f"test_queueloop_flood{os.getpid()}"
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
    import recurrence
    import time_machine
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import reverse
    from rest_framework.test import APIClient

    from accounts.models import ApiToken, Membership, SocialAccount, Workspace
    from channels.models import Channel
    from scheduling import services
    from scheduling.models import Schedule

    now = dt.datetime(2026, 6, 1, 10, 0, tzinfo=dt.UTC)
    workspace = Workspace.objects.create(name="Flood", slug="flood")
    member = Membership.objects.create(
        workspace=workspace,
        user=get_user_model().objects.create_user("flood-editor"),
        role=Membership.Role.EDITOR,
    )
    channel = Channel.objects.create(workspace=workspace, name="#flood", slug="flood")
    # One account, as a channel that can publish has.
    channel.accounts.add(
        SocialAccount.objects.create(workspace=workspace, provider="sandbox", handle="flood")
    )
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
            Schedule.objects.create(
                channel=channel,
                name="dense",
                recurrence=recurrence.deserialize(text),
                starts_on=dt.date(2020, 1, 6),
            )
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
