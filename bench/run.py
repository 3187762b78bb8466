"""Queue Loop benchmarks: one run, one table, one final JSON line.

    python -m bench.run            # full: N=10,000 channels, M=2,000 hot slots
    python -m bench.run --quick    # the same six scenarios, smaller, under 3 minutes
    python -m bench.run profile-publish --m 500   # where a hot slot's CPU goes (pyinstrument)

Everything runs on this machine against real PostgreSQL and Redis, in the bench's own
database (dropped and recreated; BENCH_DATABASE_URL) and Redis db (BENCH_REDIS_URL), with
real `celery -A queueloop worker` processes and a local asyncio webhook receiver that
answers after 100 ms. See bench/README.md for what each scenario measures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

from bench import networks_mix
from bench.harness import (
    ONE_WORKER,
    POOL,
    RECEIVER_DELAY,
    TWO_WORKERS,
    UTC,
    Receiver,
    Workers,
    database_create,
    database_drop,
    log,
    redis_cleanup,
)
from bench.hot import (
    HotResult,
    poller_finish,
    poller_start,
    scenario_celery_beat,
    scenario_hot_minute,
    scenario_raw_eta,
    scenario_worker_rss,
)
from bench.planner import plan_once, profile_planner, scenario_planner
from bench.profiles import profile_publish
from bench.report import machine, render_table, targets


def run_all(args) -> None:
    quick = args.quick
    n = args.channels or (2_000 if quick else 10_000)
    m = args.hot or (200 if quick else 2_000)
    held = args.held or (5_000 if quick else 20_000)
    logdir = Path(tempfile.mkdtemp(prefix="ql-bench-logs-"))
    started = time.time()
    results: dict = {
        "mode": "quick" if quick else "full",
        "date": dt.datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "config": {
            "pool": POOL,
            "one_worker": f"1 x {ONE_WORKER[1]} threads",
            "two_workers": f"2 x {TWO_WORKERS[1]} threads",
            "receiver_delay_s": RECEIVER_DELAY,
        },
    }
    log(f"logs in {logdir}; database {_db_name()}; redis {os.environ['REDIS_URL']}")
    database_create()
    import django

    django.setup()
    from django.core.management import call_command

    receiver = None
    try:
        call_command("migrate", verbosity=0)
        receiver = Receiver(logdir)
        # Before any worker starts: the workers reach the fakes through the settings it exports.
        mix = None if args.no_mix else networks_mix.start()
        pool = Workers(logdir)
        scenarios = {
            "planner": lambda: scenario_planner(n, logdir, 1 if quick else 3),
            "hot_minute_1": lambda: scenario_hot_minute(m, ONE_WORKER, receiver, pool, quick, mix),
            "raw_eta_1": lambda: scenario_raw_eta(m, ONE_WORKER, receiver, pool, quick),
            "celery_beat": lambda: scenario_celery_beat(m, receiver, pool, logdir, quick),
            "hot_minute_2": lambda: scenario_hot_minute(m, TWO_WORKERS, receiver, pool, quick, mix),
            "raw_eta_2": lambda: scenario_raw_eta(m, TWO_WORKERS, receiver, pool, quick),
            "worker_rss": lambda: scenario_worker_rss(held, logdir),
        }
        # Rough durations, to fit scenarios into the minute poller's wait for its minute.
        estimate = {"planner": 25 if quick else 200, "worker_rss": 18 if quick else 100}

        def want(name: str) -> bool:
            return not args.only or name in args.only

        def run(name: str) -> None:
            if name == "worker_rss":
                pool.stop()  # a fresh worker of its own
            result = scenarios[name]()
            results[name] = result.as_dict() if isinstance(result, HotResult) else result

        done = set()
        try:
            if want("poller"):
                poller = poller_start(m, receiver, logdir)
                try:
                    for name in ("planner", "worker_rss"):
                        if want(name) and time.time() + estimate[name] + 5 < poller.fires_at:
                            log(f"(while the poller waits for its minute: {name})")
                            run(name)
                            done.add(name)
                finally:
                    results["poller"] = poller_finish(poller, receiver).as_dict()
            for name in scenarios:
                if want(name) and name not in done:
                    run(name)
        finally:
            pool.stop()
            if mix is not None:
                mix.stop()
    finally:
        if receiver:
            receiver.stop()
        try:
            redis_cleanup()
        finally:
            if not args.keep_db:
                database_drop()
    results["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["targets"] = targets(results)
    results["seconds"] = round(time.time() - started, 1)
    shutil.rmtree(os.environ["QUEUELOOP_VAR_DIR"], ignore_errors=True)
    print()
    mach = results["machine"]
    print(
        f"Queue Loop bench ({results['mode']}) {results['date']} on {mach['host']}: "
        f"{mach['cores']} cores, {mach['memory_gb']} GB, load {mach['load_avg_at_start']} -> "
        f"{mach['load_avg_at_end']}; receiver answers after {RECEIVER_DELAY * 1000:.0f} ms"
    )
    print(render_table(results))
    print()
    for name, target in results["targets"].items():
        print(f"  {'MET   ' if target['met'] else 'MISSED'} {name}: {target}")
    print(json.dumps(results, separators=(",", ":")))


def _db_name() -> str:
    return urlparse(os.environ["DATABASE_URL"]).path.lstrip("/")


def main() -> None:
    import bench.settings  # noqa: F401 - pins DATABASE_URL/REDIS_URL to the bench's own

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--channels", type=int, help="planner channels N")
    parser.add_argument("--hot", type=int, help="hot-minute slots M")
    parser.add_argument("--held", type=int, help="ETA tasks held for the memory figure")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument(
        "--no-mix",
        action="store_true",
        help="the hot second without its channels mixing every network (to compare)",
    )
    parser.add_argument(
        "--only", nargs="+", help="run only these scenarios (planner, hot_minute_1, ...)"
    )
    once = sub.add_parser("plan-once")
    once.add_argument("--now", required=True)
    once.add_argument("--until", required=True)
    once.add_argument("--profile", action="store_true")
    pplan = sub.add_parser("profile-planner")
    pplan.add_argument("--n", type=int, default=2000)
    pplan.add_argument("--no-profiler", action="store_true")
    prof = sub.add_parser("profile-publish")
    prof.add_argument("--m", type=int, default=300)
    prof.add_argument(
        "--reuse-connections",
        action="store_true",
        help="keep DB connections between tasks (as CELERY_DB_REUSE_MAX would)",
    )
    prof.add_argument(
        "--lanes",
        choices=["inline", "pool"],
        default="inline",
        help="delivery lanes in this thread (profilers see them; default) or in the app's pool",
    )
    prof.add_argument("--no-profiler", action="store_true")
    prof.add_argument("--cprofile", action="store_true", help="CPU-time profile (cProfile)")
    prof.add_argument("--cprofile-out", help="also write the cProfile stats to this file")
    prof.add_argument(
        "--mix", action="store_true", help="one channel in 100 also reaches every network"
    )
    args = parser.parse_args()
    if args.command == "plan-once":
        plan_once(args)
    elif args.command == "profile-planner":
        profile_planner(args)
    elif args.command == "profile-publish":
        profile_publish(args)
    else:
        run_all(args)


if __name__ == "__main__":
    main()
