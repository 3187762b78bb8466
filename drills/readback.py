"""Drill 6: the worker SIGKILLed mid-call, and read-back resolves every `unconfirmed` delivery
by itself (publishing/read_back.py, DESIGN §4 "Read-back").

Every slot is due in the same second, each to an X account (the not-idempotent network: a
call cut off ends `unconfirmed`). The fake X makes each tweet first and answers a while
later, so when the drill SIGKILLs the worker (a quarter of the tweets made) many calls are
in flight: some reached X, some did not. Nobody repairs anything: the watchdog turns the
abandoned calls `unconfirmed` after SEND_TIMEOUT, read-back (beat) then lists each
account's timeline — found → `sent`, proven absent → sent again once — and the slots
settle. It must end with 0 unconfirmed, 0 created twice at X, 0 lost.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import Counter

from drills.harness import Ctx, build_world, check, delivery_counts, measure, rdate_schedules
from drills.infra import wait_until
from drills.steps import now, plan_now, recovery_timeout, slot_counts

STEPS = ("read_back_found", "read_back_resent", "read_back_absent", "read_back_undecidable")


def read_back_steps(ctx: Ctx) -> Counter:
    """How often each read-back step was logged by the workers (JSON log lines)."""
    seen: Counter = Counter()
    for path in ctx.run_dir.glob("worker-*.log"):
        for line in path.read_text(errors="replace").splitlines():
            if '"read_back_' not in line or not line.startswith("{"):
                continue
            try:
                event = json.loads(line).get("event")
            except ValueError:
                continue
            if event in STEPS:
                seen[event] += 1
    return seen


def s6_read_back(ctx: Ctx, result: dict) -> None:
    slots = 40 if ctx.quick else 200
    ctx.fakex.delay = 1.5  # the tweet is made at once, the answer comes 1.5 s later
    world = build_world(ctx, channels=slots, posts=1, webhook=False, x=True)
    worker = ctx.start_worker_and_beat("worker-1")
    t0 = now() + dt.timedelta(seconds=6 if ctx.quick else 8)
    rdate_schedules(world, [t0])
    created = plan_now()
    check(result, "planner created every slot", created == slots, str(created))

    wait_until(
        lambda: len(ctx.fakex.creates) >= slots // 4,
        timeout=120,
        interval=0.05,
        what="a quarter of the tweets made",
    )
    at_kill = (dict(delivery_counts()), slot_counts(), len(ctx.fakex.creates))
    worker.kill()
    result["fault"] = (
        f"SIGKILL worker + children mid-call: deliveries {at_kill[0]}, slots {at_kill[1]}, "
        f"{at_kill[2]} tweets made at X"
    )
    time.sleep(1)
    ctx.start_worker("worker-2")

    def resolved() -> bool:
        counts = delivery_counts()
        return not any(counts.get(s) for s in ("pending", "sending", "unconfirmed")) and not any(
            slot_counts().get(s) for s in ("scheduled", "publishing")
        )

    started = time.monotonic()
    wait = recovery_timeout(ctx) + 3 * float(ctx.settings["READ_BACK_FIRST_AFTER"]) + 60
    try:
        wait_until(resolved, timeout=wait, interval=1, what="every delivery resolved")
    except TimeoutError:
        ctx.notes.append(f"not resolved within {wait:.0f}s: {dict(delivery_counts())}")
    result["recovery_s"] = round(time.monotonic() - started, 1)
    result["measure"] = m = measure(ctx, due_before=t0)
    steps = read_back_steps(ctx)
    result["facts"] = {"read_back": dict(steps), "deliveries": m["deliveries"]}
    check(
        result,
        "0 unconfirmed: read-back resolved every delivery the kill left open",
        m["unconfirmed"] == 0,
        f"unconfirmed={m['unconfirmed']} {m['deliveries']}",
    )
    check(
        result,
        "every X delivery sent, each tweet created once",
        m["x"]["not_sent_or_unconfirmed"] == 0
        and m["x"]["created_twice"] == 0
        and m["published"] == slots,
        f"creates={m['x']['creates']} twice={m['x']['created_twice']} published={m['published']}",
    )
    check(
        result,
        "read-back did the resolving (found, or proven absent and sent again once)",
        steps["read_back_found"] + steps["read_back_resent"] > 0,
        str(dict(steps)),
    )
