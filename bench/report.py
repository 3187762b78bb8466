"""The run's table and its targets."""

from __future__ import annotations

import os
import platform
import socket

from bench.harness import ONE_WORKER, POOL

# --- Report ------------------------------------------------------------------------------


def machine() -> dict:
    import psutil

    return {
        "host": socket.gethostname(),
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
    }


def _fmt(x, digits=2):
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def render_table(results: dict) -> str:
    header = ["scenario", "setup", "n", "p50 s", "p95 s", "p99 s", "max s", "dup", "lost", "other"]
    rows = []
    if "planner" in results:
        p = results["planner"]
        one, two = p["one_process"], p["two_workers"]
        rows.append(
            [
                "1 planner",
                "planner_run, 1 process",
                f"{p['channels']} ch x 2",
                "",
                "",
                "",
                "",
                "",
                "",
                f"CPU {p['cpu_ms_per_slot']:.3f} ms/slot (of {one.get('all_cpu_ms_per_slot')}); "
                f"{one['per_second']:.0f} slots/s (median of {one.get('all_per_second')}; "
                f"{one['seconds']:.1f} s, broker {one['broker_seconds']:.1f} s, "
                f"{one.get('slots_per_message')} slots/message), "
                f"{one['queries']} queries, peak RSS {one['peak_rss_mb']:.0f} MB",
            ]
        )
        rows.append(
            [
                "1 planner",
                f"fan-out, 2 workers, {two['tasks']} chunks",
                f"{p['channels']} ch x 2",
                "",
                "",
                "",
                "",
                "",
                "",
                f"ratio {p['two_worker_ratio']:.2f}x the 1-process rate "
                f"(pairs: {two.get('all_speedups')}); "
                f"{two['per_second']:.0f} slots/s (median of {two.get('all_per_second')}), "
                f"CPU {two['cpu_ms_per_slot']:.3f} ms/slot",
            ]
        )
    for key, label in [
        ("hot_minute_1", "2 hot minute"),
        ("hot_minute_2", "2 hot minute"),
        ("raw_eta_1", "3 floor: raw ETA"),
        ("raw_eta_2", "3 floor: raw ETA"),
        ("celery_beat", "4 django-celery-beat"),
        ("poller", "5 minute poller"),
    ]:
        r = results.get(key)
        if not r:
            continue
        other = ""
        if "apply_async_per_second" in r:
            other = (
                f"worker CPU {r['worker_cpu_ms_per_item']} ms/task; "
                f"apply_async {r['apply_async_per_second']}/s"
            )
        if "create_seconds" in r:
            other = f"created M entries in {r['create_seconds']:.1f} s"
        if "plan_seconds" in r:
            other = (
                f"worker CPU {r['worker_cpu_ms_per_item']} ms/slot; planned+enqueued in "
                f"{r['plan_seconds']:.1f} s ({r.get('publish_messages')} messages); "
                f"DB sessions {r.get('db_sessions_per_slot')}/slot; {r['statuses']}"
            )
        rows.append(
            [
                label,
                r["setup"],
                str(r["items"]),
                _fmt(r["p50"]),
                _fmt(r["p95"]),
                _fmt(r["p99"]),
                _fmt(r["max"]),
                str(r["duplicates"]),
                str(r["lost"]),
                other,
            ]
        )
    if "worker_rss" in results:
        w = results["worker_rss"]
        rows.append(
            [
                "6 worker memory",
                f"1 worker x {POOL} {ONE_WORKER[1]}",
                f"{w['held']} ETA held",
                "",
                "",
                "",
                "",
                "",
                "",
                f"RSS {w['rss_mb']:.0f} MB (idle {w['rss_idle_mb']:.0f} MB, "
                f"{w['kb_per_task']:.1f} KB/task); "
                f"Producer.batch {w['batch_enqueue_per_second']}/s",
            ]
        )
    for key in ("hot_minute_1", "hot_minute_2"):
        mix = (results.get(key) or {}).get("networks_mix")
        if not mix:
            continue
        for name, n in mix["networks"].items():
            late = n.get("sent_at") or {}
            rows.append(
                [
                    f"2 mix: {name}",
                    f"{key[-1]} worker(s), {mix['channels']} mixed channels",
                    str(sum(n["deliveries"].values())),
                    _fmt(late.get("p50")),
                    _fmt(late.get("p95")),
                    _fmt(late.get("p99")),
                    _fmt(late.get("max")),
                    str(n["duplicates"]),
                    "",
                    f"sent_at - publish_at; {n['deliveries']}, {n['posts_on_fake']} on its fake",
                ]
            )
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(str(c).ljust(widths[i]) for i, c in enumerate(r)) + " |"  # noqa: E731
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), sep, *(line(r) for r in rows)])


def targets(results: dict) -> dict:
    """Every target whose scenarios ran (all of them in a full run; a subset with --only)."""
    t = {}
    p = results.get("planner")
    if p:
        rate = p["one_process"]["per_second"]
        t["planner_one_process_ge_1500_per_s"] = {"value": rate, "met": rate >= 1500}
        cpu = p["cpu_ms_per_slot"]
        t["planner_cpu_le_0.6_ms_per_slot"] = {"value": cpu, "met": cpu <= 0.6}
        sp = p["two_worker_ratio"]
        t["planner_two_workers_ge_1.6x"] = {"value": sp, "met": sp >= 1.6}
    for n in (1, 2):
        hot, raw = results.get(f"hot_minute_{n}"), results.get(f"raw_eta_{n}")
        mix = (hot or {}).get("networks_mix")
        if mix:
            # Every network's account in every mixed channel got its post, exactly once.
            t[f"networks_mix_each_sent_once_{n}w"] = {
                "value": {name: r["all_sent"] for name, r in mix["networks"].items()},
                "not_in_the_mix": mix["not_in_the_mix"],
                "met": all(r["all_sent"] for r in mix["networks"].values())
                and not mix["not_in_the_mix"],
            }
        if not (hot and raw):
            continue
        ratio = hot["p99"] / raw["p99"] if raw["p99"] else float("inf")
        # The first target (issue 5) and engine v2's (issue 9): at most the bare floor's p99.
        for bound in (2, 1):
            t[f"hot_p99_le_{bound}x_raw_eta_{n}w"] = {
                "value": round(ratio, 2),
                "hot_p99": hot["p99"],
                "raw_p99": raw["p99"],
                "met": ratio <= bound,
            }
        cpu_ms = hot.get("worker_cpu_ms_per_item")
        if cpu_ms is not None:
            t[f"hot_worker_cpu_le_5_ms_per_slot_{n}w"] = {"value": cpu_ms, "met": cpu_ms <= 5}
    beat, hot1 = results.get("celery_beat"), results.get("hot_minute_1")
    if beat and hot1:
        adv = beat["p99"] / hot1["p99"] if hot1["p99"] else float("inf")
        t["hot_p99_5x_lower_than_celery_beat"] = {"value": round(adv, 2), "met": adv >= 5}
    keys = ["hot_minute_1", "hot_minute_2", "raw_eta_1", "raw_eta_2", "celery_beat", "poller"]
    ran = [k for k in keys if k in results]
    if ran:
        dup = sum(results[k]["duplicates"] for k in ran)
        lost = sum(results[k]["lost"] for k in ran)
        t["zero_duplicates_zero_lost"] = {"duplicates": dup, "lost": lost, "met": dup == 0 == lost}
    if "worker_rss" in results:
        rss = results["worker_rss"]["rss_mb"]
        t["worker_rss_le_400mb"] = {
            "value": rss,
            "held": results["worker_rss"]["held"],
            "met": rss <= 400,
        }
    return t
