"""Drill 7: the emergency stop pressed while a worker is claiming a batch (issue 28, item 2).

500 slots (quick: 100) fall due in the next 30 s (quick: 10 s), each to a webhook account.
The drill holds the channels' row locks, so the first batch claims its slots (one UPDATE,
not yet committed) and then waits inside its transaction; the owner's stop
(`scheduling.stops.publishing_stop`, what the web page and the API call) is pressed then,
in another connection, and waits for the batch's rows. The drill lets go: the batch commits
its claim first (so its slots are "claimed before the stop"), then the stop commits and
states its cutoff, read from the database's clock on this machine.

Checks, from the receiver's own arrival times (time.time() on the same machine clock):
no webhook arrives after the stated cutoff (the stop waits for the calls already under way,
publishing/stopping/services.py, and no other call begins); every other slot ends canceled
with the stop's reason; after resume nothing of the stopped window arrives (no catch-up),
and the watchdog revives nothing.
"""

from __future__ import annotations

import datetime as dt
import threading
import time

from drills.harness import Ctx, build_world, check, db_retry, measure, rdate_schedules
from drills.infra import wait_until
from drills.kills import lock_waiters
from drills.steps import SECOND, now, plan_now, seconds, watchdog_period


def _press_stop(workspace, out: dict) -> None:
    from django.db import connection

    from publishing.stopping.services import publishing_stop

    try:
        out["stop"] = publishing_stop(workspace=workspace, label="drill owner")
    except Exception as exc:  # reported as the drill's error below
        out["error"] = repr(exc)
    finally:
        connection.close()


def s7_stop_mid_claim(ctx: Ctx, result: dict) -> None:
    import psycopg2

    from accounts.models import Workspace
    from publishing.models import Delivery
    from scheduling import stops
    from scheduling.models import Timeslot
    from scheduling.reasons import Reason

    channels, per, gap = (20, 5, 2) if ctx.quick else (100, 5, 6)
    world = build_world(ctx, channels=channels, posts=per, x=False)
    workspace = Workspace.objects.get(channels__id=world.channels[0].id)
    ctx.start_worker_and_beat("worker-1")
    t0 = now() + dt.timedelta(seconds=6)
    times = [t0 + gap * k * SECOND for k in range(per)]
    rdate_schedules(world, times)
    plan_now()

    lock = psycopg2.connect(ctx.pg.url(ctx.db))
    with lock.cursor() as cur:
        cur.execute("SELECT id FROM channels_channel FOR UPDATE")
    wait_until(
        lambda: lock_waiters(ctx, '%FROM "channels_channel"%') >= 1,
        timeout=60,
        what="a batch inside its claim",
    )
    pressed: dict = {}
    presser = threading.Thread(target=_press_stop, args=(workspace, pressed))
    presser.start()
    try:
        wait_until(
            lambda: lock_waiters(ctx, '%FROM "scheduling_timeslot"%FOR UPDATE%') >= 1,
            timeout=30,
            what="the stop waiting for the batch's rows",
        )
    except TimeoutError:
        ctx.notes.append("the stop did not wait for the batch's rows")
    lock.rollback()
    lock.close()
    presser.join(60)
    if "stop" not in pressed:
        raise RuntimeError(f"the stop failed: {pressed.get('error')}")
    stop = pressed["stop"]
    cutoff = stop.cutoff_at.timestamp()
    claimed = set(stop.claimed_before)
    result["fault"] = (
        f"emergency stop of {channels * per} slots due within {gap * (per - 1) + 6} s, pressed "
        "while a batch had claimed its slots and waited inside its transaction"
    )
    result["cutoff"] = stop.cutoff_at.isoformat()

    # The stopped window passes; the watchdog runs a few times over it.
    quiet = seconds(ctx, "WATCHDOG_GRACE") + 3 * watchdog_period(ctx) + 5
    wait_until(lambda: now() > times[-1], timeout=120, what="the window's end")
    time.sleep(quiet)  # nothing to poll for: the drill is measuring that nothing happens
    resumed_at = time.time()
    stops.publishing_resume(workspace=workspace, label="drill owner")
    time.sleep(quiet)
    wait_until(
        lambda: (
            not db_retry(
                lambda: Timeslot.objects.filter(status__in=["scheduled", "publishing"]).exists()
            )
        ),
        timeout=120,
        what="the claimed slots to settle",
    )

    arrivals = list(ctx.webhook.requests)
    after = [r for r in arrivals if r.arrived > cutoff]
    after_unlisted = [r for r in after if r.payload["timeslot_id"] not in claimed]
    after_resume = [r for r in arrivals if r.arrived > resumed_at]
    slots = db_retry(lambda: list(Timeslot.objects.values("id", "status", "reason_code")))
    not_claimed = [s for s in slots if s["id"] not in claimed]
    deliveries = db_retry(
        lambda: list(Delivery.objects.values("id", "timeslot_id", "status", "last_error"))
    )
    # The batch's deliveries no worker had taken when the stop committed: stopped with it.
    held = [
        d for d in deliveries if d["status"] == "failed" and d["last_error"].startswith("Not sent:")
    ]
    sent = [d for d in deliveries if d["status"] == "sent"]
    keys = {r.key for r in arrivals}
    result["measure"] = measure(ctx, due_before=times[-1])
    result["stop"] = {
        "cutoff": result["cutoff"],
        "claimed_before": len(claimed),
        "deliveries_held_by_the_stop": len(held),
        "rotated": stop.rotated,
        "arrivals": len(arrivals),
        "arrivals_after_cutoff_listed": len(after) - len(after_unlisted),
        "arrivals_after_cutoff_unlisted": len(after_unlisted),
        "arrivals_after_resume": len(after_resume),
        "latest_arrival_minus_cutoff_s": (
            round(max(r.arrived for r in arrivals) - cutoff, 3) if arrivals else None
        ),
    }
    check(
        result,
        "the stop was pressed while a batch was mid-claim (its deliveries held by the stop, "
        "or listed as under way)",
        len(held) + len(claimed) > 0,
        f"held: {len(held)} delivery(ies); under way, listed: {len(claimed)} slot(s)",
    )
    check(
        result,
        "every delivery ends sent (a call under way at the stop) or held with the stop's "
        "reason, and each sent one was received once",
        len(sent) + len(held) == len(deliveries)
        and keys == {str(d["id"]) for d in sent}
        and all(d["timeslot_id"] in claimed for d in sent),
        f"sent={len(sent)} held={len(held)} of {len(deliveries)}; keys received={len(keys)}",
    )
    check(
        result,
        "the receiver records no arrival after the stated cutoff (the stop waited for the "
        "calls under way; nothing else began)",
        not after,
        f"after the cutoff: {len(after)} arrival(s), {len(after_unlisted)} of unlisted slots",
    )
    check(
        result,
        "every slot not claimed before the stop ends canceled with the stop's reason",
        all(s["status"] == "canceled" and s["reason_code"] == Reason.STOPPED for s in not_claimed),
        f"{len(not_claimed)} slot(s)",
    )
    check(
        result,
        "resume publishes nothing from the stopped window (no catch-up)",
        not after_resume,
        f"arrivals after resume: {len(after_resume)}",
    )
