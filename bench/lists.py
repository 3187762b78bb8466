"""Lists and operations endpoints at agency size, with a year of history (issue 24 items
3-4): the API's timeslot and delivery lists (first page and last page), /metrics,
/healthz, the accounts page, the posts list and post search.

    python -m bench.lists            # 150 channels, 30,000 posts, 300,000 slots,
                                     # 800,000 deliveries
    python -m bench.lists --quick    # 3,000 posts, 30,000 slots, 80,000 deliveries
    python -m bench.lists --slots 600000 --runs 20 --keep

Seeds its own database (`queueloop_bench_lists`; BENCH_DATABASE_URL overrides it): the
agency shape of `bench.pages --agency` (its `seed`, reused), then 300 accounts (two per
channel, beside the shared one) and a year of finished slots, spread over the channels,
with 2-3 deliveries each (97 % sent, 2 % failed, 0.1 % unconfirmed), written with
INSERT ... SELECT generate_series (deterministic: the same rows on every run). Then each
endpoint with Django's test client: one warm-up, `--runs` timed requests. Prints queries,
p50/p95 and bytes per endpoint, the EXPLAIN ANALYZE plan of each endpoint's slowest
query, and one JSON line. Works on older code too (a page-number API: its last page by
`?page=`), which is how the "before" figures of bench/README.md were taken.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time

os.environ.setdefault(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/queueloop_bench_lists"
)

from bench.harness import database_create, database_drop, log, percentile

TARGET_SECONDS = 0.3  # issue 24: every list p95 <= 300 ms warm
OPS_TARGET_SECONDS = 0.1  # issue 24: /metrics and /healthz < 100 ms
METRICS_TOKEN = "bench-lists-metrics-token"  # noqa: S105 (the bench's own database)
YEAR_SECONDS = 365 * 24 * 3600


def seed_history(*, slots: int) -> dict:
    """Two own accounts per channel (300 for 150 channels) and `slots` finished slots over
    the past year, each with deliveries to its channel's accounts: one SQL statement each."""
    from django.db import connection, transaction

    from accounts.models import SocialAccount
    from channels.models import Channel

    channels = list(Channel.objects.order_by("id"))
    ws = channels[0].workspace
    with transaction.atomic():
        accounts = SocialAccount.objects.bulk_create(
            SocialAccount(
                workspace=ws, provider="sandbox", handle=f"acct{i:03d}", external_id=f"a{i}"
            )
            for i in range(2 * len(channels))
        )
        Through = Channel.accounts.through
        Through.objects.bulk_create(
            Through(channel_id=c.id, socialaccount_id=a.id)
            for n, c in enumerate(channels)
            for a in accounts[2 * n : 2 * n + 2]
        )
    step = YEAR_SECONDS / slots
    with connection.cursor() as cur:
        cur.execute("SELECT now()")
        (now,) = cur.fetchone()
        # Channel k (0-based, by id) and its first schedule and first queued post.
        cur.execute(
            """
            CREATE TEMP TABLE bench_channel AS
            SELECT row_number() OVER (ORDER BY c.id) - 1 AS k, c.id AS channel_id,
                   (SELECT min(s.id) FROM scheduling_schedule s WHERE s.channel_id = c.id)
                     AS schedule_id,
                   (SELECT min(q.post_id) FROM channels_queueentry q WHERE q.channel_id = c.id)
                     AS post_id
            FROM channels_channel c
            """
        )
        cur.execute("SELECT count(*) FROM bench_channel")
        (n_channels,) = cur.fetchone()
        cur.execute(
            """
            INSERT INTO scheduling_timeslot
              (channel_id, schedule_id, post_id, publish_at, planned_for, token, status,
               published_post_id, published_text, enqueued_at, entry_use, published_at,
               detached, reason, reason_code, created_at, updated_at, wall_clock, wall_zone)
            SELECT b.channel_id, b.schedule_id, NULL, t.at, t.at, gen_random_uuid(),
                   CASE WHEN g %% 50 = 0 THEN 'partial' ELSE 'published' END,
                   b.post_id, 'history', t.at - interval '1 hour', NULL, t.at,
                   false, '', '', t.at - interval '1 hour', t.at, '', ''
            FROM generate_series(1, %s) g
            CROSS JOIN LATERAL (SELECT %s::timestamptz
                                       - make_interval(secs => g * %s) AS at) t
            JOIN bench_channel b ON b.k = g %% %s
            """,
            [slots, now - dt.timedelta(hours=2), step, n_channels],
        )
        # Deliveries: every account of the slot's channel; 97 % sent, the rest failed,
        # unconfirmed (0.1 %) or partly sent, in a fixed pattern by id.
        cur.execute(
            """
            INSERT INTO publishing_delivery
              (timeslot_id, account_id, post_id, text, thread_parts, thread_sent, status,
               external_id, url, attempts, last_error, next_attempt_at, dispatched_at,
               claimed_at, sending_started_at, sent_at, created_at, network_state)
            SELECT t.id, ca.socialaccount_id, t.published_post_id, 'history', '[]', '[]',
                   s.status, '', '', 1,
                   CASE WHEN s.status = 'sent' THEN '' ELSE 'The network said no.' END,
                   NULL, t.publish_at, t.publish_at, t.publish_at,
                   CASE WHEN s.status = 'sent'
                        THEN t.publish_at + interval '1.2 seconds' END,
                   t.publish_at + interval '0.1 seconds', '{}'
            FROM scheduling_timeslot t
            JOIN channels_channel_accounts ca ON ca.channel_id = t.channel_id
            CROSS JOIN LATERAL (SELECT CASE
                WHEN (t.id + ca.socialaccount_id) %% 1000 = 7 THEN 'unconfirmed'
                WHEN (t.id + ca.socialaccount_id) %% 50 = 3 THEN 'failed'
                WHEN (t.id + ca.socialaccount_id) %% 200 = 11 THEN 'partial'
                ELSE 'sent' END AS status) s
            WHERE t.published_text = 'history'
              AND (ca.socialaccount_id <> %s OR t.id %% 3 <> 0)
            """,
            [SocialAccount.objects.filter(handle="bench").values_list("id", flat=True)[0]],
        )
        cur.execute("ANALYZE")
        cur.execute("SELECT count(*) FROM scheduling_timeslot")
        (n_slots,) = cur.fetchone()
        cur.execute("SELECT count(*) FROM publishing_delivery")
        (n_deliveries,) = cur.fetchone()
    return {"accounts": len(accounts) + 1, "timeslots": n_slots, "deliveries": n_deliveries}


def explain(sql: str) -> list[str]:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING ON) " + sql)
        return [row[0] for row in cur.fetchall()]


def indexed_query_plans(user) -> dict[str, list[str]]:
    """The reads the new indexes serve that no endpoint's slowest query shows: the
    accounts page's failing-account subqueries and the problem list."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from accounts.models import Workspace
    from publishing import problems

    ws = Workspace.objects.get(memberships__user=user)
    now = timezone.now()
    plans = {}
    for name, call in (
        (
            "failing accounts (accounts page)",
            lambda: problems.failing_accounts(workspace=ws, since=now - dt.timedelta(days=1)),
        ),
        ("problem deliveries", lambda: problems.problem_deliveries(workspace=ws, now=now)),
    ):
        with CaptureQueriesContext(connection) as ctx:
            call()
        plans[name] = explain(ctx.captured_queries[0]["sql"])
    return plans


def measure(client, url: str, runs: int, **headers) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    response = client.get(url, secure=True, **headers)  # warm
    assert response.status_code == 200, (url, response.status_code, response.content[:300])
    times = []
    for _ in range(runs):
        with CaptureQueriesContext(connection) as ctx:
            started = time.perf_counter()
            response = client.get(url, secure=True, **headers)
            times.append(time.perf_counter() - started)
    slowest = max(ctx.captured_queries, key=lambda q: float(q["time"]), default=None)
    return {
        "queries": len(ctx.captured_queries),
        "p50": round(percentile(times, 50), 4),
        "p95": round(percentile(times, 95), 4),
        "bytes": len(response.content),
        "sql_ms": round(sum(float(q["time"]) for q in ctx.captured_queries) * 1000, 1),
        "slowest_sql": slowest["sql"] if slowest else "",
    }


def last_page_url(client, url: str, model, key: str, descending: bool, size: int = 50) -> str:
    """The list's last page: by cursor (the row before the last `size` ones), or by page
    number on a page-number API (older code)."""
    body = client.get(url, secure=True).json()
    if "count" in body:  # page-number pagination (before)
        return f"{url}?page={max(1, -(-body['count'] // size))}"
    from ground.pagination import KeysetPagination

    order = (key, "id") if descending else (f"-{key}", "-id")
    row = model.objects.order_by(*order)[size : size + 1].get()
    cursor = KeysetPagination.encode(backwards=False, value=getattr(row, key), row_id=row.id)
    return f"{url}?cursor={cursor}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--slots", type=int, help="finished slots of history")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--plans", action="store_true", help="print the full plans")
    args = parser.parse_args(argv)
    others = 20 if args.quick else 200
    slots = args.slots or (30_000 if args.quick else 300_000)

    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    import django

    os.environ["DJANGO_SETTINGS_MODULE"] = "queueloop.settings"
    os.environ["DATABASE_URL"] = os.environ["BENCH_DATABASE_URL"]
    os.environ["REDIS_URL"] = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-used-anywhere-else-0123456789")
    os.environ.setdefault("FIELD_ENCRYPTION_KEY", "pAqN2lVbX3M0f3kq2Kq8c0oWc2Cq2b2cS9oVh2Vx1aQ=")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["METRICS_TOKEN"] = METRICS_TOKEN
    os.environ["DEBUG"] = "0"

    database_create()
    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.urls import reverse

    from bench.pages import seed
    from publishing.models import Delivery
    from scheduling.models import Timeslot

    if "testserver" not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    settings.METRICS_TOKEN = METRICS_TOKEN
    setup_test_environment()
    try:
        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        seeded = seed(posts=others, schedules=300, history=0, channels=150, others=others)
        history = seed_history(slots=slots)
        log(f"seeded {history} in {time.perf_counter() - started:.1f} s")
        client = Client()
        client.force_login(seeded["user"])
        api_d, api_t = "/api/v1/deliveries/", "/api/v1/timeslots/"
        endpoints = {
            "API deliveries, first page": api_d,
            "API deliveries, last page": last_page_url(
                client, api_d, Delivery, "created_at", descending=True
            ),
            "API timeslots, first page": api_t,
            "API timeslots, last page": last_page_url(
                client, api_t, Timeslot, "publish_at", descending=False
            ),
            "/metrics": "/metrics",
            "/healthz": "/healthz?checks=database,planner,overdue",
            "accounts page": reverse("account_list"),
            "posts list": reverse("post_list"),
            "posts search": reverse("post_list") + "?q=second+wording",
            "posts search, one match": reverse("post_list") + "?q=Post+12+of+channel+45%3A",
        }
        results, plans = {}, {}
        print(
            f"\n{'endpoint':28} {'queries':>7} {'p50 s':>7} {'p95 s':>7} {'SQL ms':>7} {'bytes':>9}"
        )
        for name, url in endpoints.items():
            headers = {"HTTP_AUTHORIZATION": f"Bearer {METRICS_TOKEN}"} if "metrics" in url else {}
            r = measure(client, url, args.runs, **headers)
            target = OPS_TARGET_SECONDS if name.startswith("/") else TARGET_SECONDS
            r["ok"] = r["p95"] <= target
            sql = r.pop("slowest_sql")
            plans[name] = explain(sql) if sql.lstrip().upper().startswith("SELECT") else []
            results[name] = r
            print(
                f"{name:28} {r['queries']:>7} {r['p50']:>7.3f} {r['p95']:>7.3f} "
                f"{r['sql_ms']:>7.1f} {r['bytes']:>9,}{'' if r['ok'] else '  <-- over'}"
            )
        plans.update(indexed_query_plans(seeded["user"]))
        print("\nEXPLAIN ANALYZE of each endpoint's slowest query and of the indexed reads:")
        for name, plan in plans.items():
            print(f"\n## {name}")
            shown = (
                plan
                if args.plans
                else [
                    line
                    for line in plan
                    if "Scan" in line or "Execution" in line or "Limit" in line
                ]
            )
            for line in shown:
                print(f"   {line}")
        ok = all(r["ok"] for r in results.values())
        print(
            json.dumps(
                {
                    "bench": "lists",
                    "data": history,
                    "runs": args.runs,
                    "endpoints": results,
                    "plans": plans,
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
