"""Page sizes and speeds at scale: the web pages that predict posts (issue 23 item 1's
"10,000 queued posts and 300 schedules", issue 24 items 1-2).

    python -m bench.pages            # 10,000 queued posts in one channel, 300 schedules
    python -m bench.pages --quick    # 1,000 posts, 30 schedules: the same pages, smaller
    python -m bench.pages --posts 20000 --schedules 600 --runs 20
    python -m bench.pages --agency --quick   # issue 24's shape, smaller: 150 channels in
                                             # 10 zones, 300 schedules, 3,000 posts

Seeds its own database (`queueloop_bench_pages`, dropped and recreated; BENCH_DATABASE_URL
overrides it) deterministically — same rows, same ids, same texts on every run — then asks
each page with Django's test client as a logged-in owner: one warm-up request, then
`--runs` timed ones. Prints queries, p50/p95 and bytes per page, and one JSON line.
It needs no worker, no Redis traffic and no `make bench` run; `make bench` does not run it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sys
import time

os.environ.setdefault(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/queueloop_bench_pages"
)

from bench.harness import database_create, database_drop, log, percentile

ZONES = [
    "UTC",
    "Europe/Berlin",
    "Europe/London",
    "America/New_York",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "Australia/Sydney",
    "Africa/Lagos",
]
CHANNELS = 30
TARGET_SECONDS = 1.0  # issue 23: each page under a second at this size
TARGET_BYTES = 300_000  # issue 24: a page's HTML stays under ~300 KB


def seed(
    *, posts: int, schedules: int, history: int, channels: int = CHANNELS, others: int = 20
) -> dict:
    """One workspace: `channels` channels in ten zones, the first with `posts` queued posts
    (a third with a variation, a tenth published before), the others with `others` each;
    `schedules` weekday schedules spread over the channels; `history` finished slots of
    the big channel with a delivery each; the planner's window planned."""
    import recurrence
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from accounts.models import Membership, SocialAccount, Workspace
    from channels.models import Channel, QueueEntry
    from posts.models import Post, Variation
    from publishing.models import Delivery
    from scheduling import services
    from scheduling.models import Schedule, Timeslot

    rng = random.Random(23)
    now = dt.datetime.now(dt.UTC)
    with transaction.atomic():
        user = get_user_model().objects.create_user("bench")
        ws = Workspace.objects.create(name="Agency", slug="agency")
        Membership.objects.create(workspace=ws, user=user, role=Membership.Role.OWNER)
        account = SocialAccount.objects.create(
            workspace=ws, provider="sandbox", handle="bench", external_id="bench"
        )
        count = channels
        channels = Channel.objects.bulk_create(
            Channel(workspace=ws, name=f"Channel {i:03d}", slug=f"c{i:03d}", timezone=ZONES[i % 10])
            for i in range(count)
        )
        for channel in channels:
            channel.accounts.add(account)
        sizes = [posts] + [others] * (count - 1)
        made = Post.objects.bulk_create(
            Post(workspace=ws, author=user, text=f"Post {n} of channel {c}: " + "lorem " * 20)
            for c, size in enumerate(sizes)
            for n in range(size)
        )
        Variation.objects.bulk_create(
            Variation(post=p, text=f"{p.text} (second wording)", position=1) for p in made[::3]
        )
        entries, it = [], iter(made)
        for channel, size in zip(channels, sizes, strict=True):
            for n in range(size):
                post = next(it)
                last = now - dt.timedelta(hours=rng.randint(1, 2000)) if n % 10 == 0 else None
                entries.append(
                    QueueEntry(
                        channel=channel,
                        post=post,
                        position=n,
                        times_published=1 if last else 0,
                        last_published_at=last,
                    )
                )
        QueueEntry.objects.bulk_create(entries, batch_size=5000)
        made_schedules = Schedule.objects.bulk_create(
            Schedule(
                channel=channels[i % count],
                name=f"Weekdays {i}",
                recurrence=recurrence.deserialize(
                    f"RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;BYHOUR={(i * 7) % 24};"
                    f"BYMINUTE={(i * 13) % 60}"
                ),
                starts_on=dt.date(2020, 1, 6),
            )
            for i in range(schedules)
        )
        big = channels[0]
        slots = Timeslot.objects.bulk_create(
            Timeslot(
                channel=big,
                schedule=made_schedules[0],
                planned_for=now - dt.timedelta(hours=n + 1),
                publish_at=now - dt.timedelta(hours=n + 1),
                status=Timeslot.Status.PUBLISHED,
                published_post=made[n % posts],
                published_at=now - dt.timedelta(hours=n + 1),
            )
            for n in range(history)
        )
        Delivery.objects.bulk_create(
            Delivery(
                timeslot=s,
                account=account,
                post=s.published_post,
                text=s.published_post.text,
                status=Delivery.Status.SENT,
            )
            for s in slots
        )
    services.planner_run()
    return {"user": user, "big": big}


def measure(client, url: str, runs: int) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    response = client.get(url, secure=True)  # warm: caches, templates, connections
    assert response.status_code == 200, (url, response.status_code)
    times = []
    for _ in range(runs):
        with CaptureQueriesContext(connection) as ctx:
            started = time.perf_counter()
            response = client.get(url, secure=True)
            times.append(time.perf_counter() - started)
    return {
        "queries": len(ctx.captured_queries),
        "p50": round(percentile(times, 50), 3),
        "p95": round(percentile(times, 95), 3),
        "bytes": len(response.content),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--posts", type=int)
    parser.add_argument("--schedules", type=int)
    parser.add_argument("--history", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--agency",
        action="store_true",
        help="issue 24's shape: 150 channels, 300 schedules, 30,000 posts (3,000 with --quick)",
    )
    args = parser.parse_args(argv)
    if args.agency:
        channels = 150
        others = 20 if args.quick else 200
        posts = args.posts or others
        schedules = args.schedules or 300
    else:
        channels, others = CHANNELS, 20
        posts = args.posts or (1_000 if args.quick else 10_000)
        schedules = args.schedules or (30 if args.quick else 300)

    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    import django

    # The app's own settings (production-like: DEBUG off) on the bench's database; not
    # bench.settings, which adds django-celery-beat for the peer scenario only.
    os.environ["DJANGO_SETTINGS_MODULE"] = "queueloop.settings"
    os.environ["DATABASE_URL"] = os.environ["BENCH_DATABASE_URL"]
    os.environ["REDIS_URL"] = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-used-anywhere-else-0123456789")
    os.environ.setdefault("FIELD_ENCRYPTION_KEY", "pAqN2lVbX3M0f3kq2Kq8c0oWc2Cq2b2cS9oVh2Vx1aQ=")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["DEBUG"] = "0"

    database_create()
    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.urls import reverse

    if "testserver" not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    setup_test_environment()
    try:
        call_command("migrate", verbosity=0)
        log(
            f"seeding {channels} channels, {posts + others * (channels - 1):,} queued posts, "
            f"{schedules} schedules"
        )
        started = time.perf_counter()
        seeded = seed(
            posts=posts,
            schedules=schedules,
            history=args.history,
            channels=channels,
            others=others,
        )
        log(f"seeded in {time.perf_counter() - started:.1f} s")
        client = Client()
        client.force_login(seeded["user"])
        big = seeded["big"]
        today = dt.datetime.now(dt.UTC).date().isoformat()
        calendar = reverse("calendar")
        pages = {
            "dashboard": reverse("dashboard"),
            "calendar week": f"{calendar}?view=week&start={today}&tz=UTC",
            "calendar month": f"{calendar}?view=month&start={today}&tz=UTC",
            "calendar day": f"{calendar}?view=day&start={today}&tz=UTC",
            "channels list": reverse("channel_list"),
            "channel page": reverse("channel_detail", args=[big.id]),
            "channel page, queue p.100": reverse("channel_detail", args=[big.id])
            + "?queue_page=100",
        }
        results = {}
        print(f"\n{'page':28} {'queries':>7} {'p50 s':>7} {'p95 s':>7} {'bytes':>9}")
        for name, url in pages.items():
            r = measure(client, url, args.runs)
            results[name] = r
            flag = "" if r["p95"] < TARGET_SECONDS and r["bytes"] < TARGET_BYTES else "  <-- over"
            print(
                f"{name:28} {r['queries']:>7} {r['p50']:>7.3f} {r['p95']:>7.3f} "
                f"{r['bytes']:>9,}{flag}"
            )
        ok = all(r["p95"] < TARGET_SECONDS and r["bytes"] < TARGET_BYTES for r in results.values())
        print(
            json.dumps(
                {
                    "bench": "pages",
                    "channels": channels,
                    "posts": posts + others * (channels - 1),
                    "schedules": schedules,
                    "runs": args.runs,
                    "pages": results,
                    "ok": ok,
                }
            )
        )
        return 0 if ok else 1
    finally:
        if not args.keep:
            database_drop()


if __name__ == "__main__":
    sys.exit(main())
