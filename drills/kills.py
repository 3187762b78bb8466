"""Drills 1, 1b and 1c: the worker SIGKILLed while slots are due, between a delivery's result
and settling its slot, and in the middle of a batch claim."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter

from drills.harness import (
    Ctx,
    build_world,
    check,
    db_retry,
    delivery_counts,
    measure,
    rdate_schedules,
    wait_settled,
)
from drills.infra import wait_until
from drills.steps import (
    SECOND,
    now,
    plan_now,
    publish_checks,
    recovery_timeout,
    seconds,
    slot_counts,
    wait_sent_fraction,
    watchdog_period,
)

# --- 1. SIGKILL the worker while slots are due ------------------------------------------


def s1_worker_killed(ctx: Ctx, result: dict) -> None:
    channels, per = (12, 5) if ctx.quick else (100, 5)
    ctx.webhook.delay = 0.02
    ctx.fakex.delay = 0.05
    world = build_world(ctx, channels=channels, posts=per)
    worker = ctx.start_worker_and_beat("worker-1")
    t0 = now() + dt.timedelta(seconds=5 if ctx.quick else 8)
    # Each channel's 5 slots 4 s apart: at the kill some are publishing, some still wait
    # for their time in the worker's memory (ETA messages, unacknowledged in Redis).
    times = [t0 + (2 if ctx.quick else 4) * k * SECOND for k in range(per)]
    rdate_schedules(world, times)
    created = plan_now()
    check(result, "planner created every slot", created == channels * per, str(created))

    total = channels * per * 2
    at_kill = wait_sent_fraction(0.1, total, timeout=120)
    slots_at_kill = slot_counts()
    worker.kill()
    result["fault"] = (
        f"SIGKILL worker + children with slots {slots_at_kill} and deliveries {dict(at_kill)}"
    )
    time.sleep(1)
    ctx.start_worker("worker-2")
    result["recovery_s"] = round(wait_settled(ctx, times[-1], timeout=recovery_timeout(ctx)), 1)
    result["measure"] = measure(ctx, due_before=times[-1])
    publish_checks(result)


# --- 1b. The worker dies between a delivery's result and settling its slot ---------------


def lock_waiters(ctx: Ctx, like: str) -> int:
    """Statements (`LIKE` pattern) of the drill's database waiting for a row lock."""
    import psycopg2

    conn = psycopg2.connect(ctx.pg.url(ctx.db))
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                "AND wait_event_type = 'Lock' AND query LIKE %s",
                [ctx.db, like],
            )
            return cur.fetchone()[0]
    finally:
        conn.close()


def blocked_on_lock(ctx: Ctx) -> int:
    """Settles waiting for the slot rows the drill holds. The table name quoted (the ORM's
    UPDATE) or not (settling's all-sent UPDATE, written out)."""
    return lock_waiters(ctx, "UPDATE %scheduling_timeslot%")


def s1b_killed_before_settle(ctx: Ctx, result: dict) -> None:
    """A real SIGKILL at an exact point: after `delivery_send` recorded 'sent' (committed)
    and before `timeslot_settle` updated the slot. The drill holds a row lock on the slots
    so the worker's settle UPDATE waits, then kills the worker while it waits."""
    import threading

    import psycopg2

    from publishing.models import Delivery

    slots = 2  # = the worker's concurrency: both deliveries are in flight together
    world = build_world(ctx, channels=slots, posts=2, x=False)
    worker = ctx.start_worker_and_beat("worker-1")
    ctx.webhook.hang = threading.Event()  # the receiver holds both calls open
    t0 = now() + dt.timedelta(seconds=6)
    rdate_schedules(world, [t0])
    plan_now()
    wait_until(
        lambda: delivery_counts().get("sending", 0) == slots, timeout=60, what="both in flight"
    )
    lock = psycopg2.connect(ctx.pg.url(ctx.db))
    with lock.cursor() as cur:
        cur.execute("SELECT id FROM scheduling_timeslot FOR UPDATE")
    ctx.webhook.hang.set()  # the calls succeed; each delivery is recorded 'sent'...
    wait_until(lambda: delivery_counts().get("sent", 0) == slots, timeout=60, what="recorded sent")
    # ...and each worker process now waits for the slot's row lock in timeslot_settle.
    try:
        wait_until(
            lambda: blocked_on_lock(ctx) >= slots, timeout=15, what="settles waiting on the lock"
        )
    except TimeoutError:
        ctx.notes.append(f"only {blocked_on_lock(ctx)} settle(s) were waiting at the kill")
    worker.kill()
    # PostgreSQL notices the dead client (client_connection_check_interval) and aborts its
    # waiting UPDATE; only then is the lock released (else the orphan UPDATE would finish).
    try:
        wait_until(lambda: blocked_on_lock(ctx) == 0, timeout=10, what="orphans aborted")
    except TimeoutError:
        ctx.notes.append("PostgreSQL did not abort the killed worker's statements")
    lock.rollback()
    lock.close()
    result["fault"] = (
        "SIGKILL of the worker after its deliveries were recorded 'sent' and before their "
        "slots were settled (the drill held the slots' row lock at that moment)"
    )
    ctx.start_worker("worker-2")
    wait = seconds(ctx, "WATCHDOG_GRACE") + 3 * watchdog_period(ctx) + 10
    result["recovery_s"] = round(wait_settled(ctx, t0, timeout=wait), 1)
    result["measure"] = measure(ctx, due_before=t0)
    states = db_retry(lambda: Counter(Delivery.objects.values_list("status", flat=True)))
    check(
        result,
        "every slot settled although its deliveries had all finished",
        result["measure"]["lost"] == 0,
        f"deliveries {dict(states)}",
    )


# --- 1c. The worker dies in the middle of a batch claim --------------------------------------


def blocked_claims(ctx: Ctx) -> int:
    """Publish batches waiting for a channel lock: claimed in their transaction, not done."""
    return lock_waiters(ctx, '%FROM "channels_channel"%')


def s1c_killed_mid_claim(ctx: Ctx, result: dict) -> None:
    """A real SIGKILL inside a publish batch's transaction: after its one UPDATE claimed the
    slots ('publishing', not committed) and while it waits for the channels' row locks,
    which the drill holds. The claim must roll back with the dead connection, and the
    watchdog must publish every slot once (a rotated token, a new batch)."""
    import psycopg2

    channels = 8
    world = build_world(ctx, channels=channels, posts=2, x=False)
    worker = ctx.start_worker_and_beat("worker-1")
    t0 = now() + dt.timedelta(seconds=6)
    rdate_schedules(world, [t0])  # every slot in one second: one batch claims them all
    plan_now()
    lock = psycopg2.connect(ctx.pg.url(ctx.db))
    with lock.cursor() as cur:
        cur.execute("SELECT id FROM channels_channel FOR UPDATE")
    wait_until(lambda: blocked_claims(ctx) >= 1, timeout=60, what="the batch inside its claim")
    worker.kill()
    try:
        wait_until(lambda: blocked_claims(ctx) == 0, timeout=10, what="the claim aborted")
    except TimeoutError:
        ctx.notes.append("PostgreSQL did not abort the killed worker's claim")
    lock.rollback()
    lock.close()
    result["fault"] = (
        f"SIGKILL of the worker inside a publish batch of {channels} slots: claimed (one "
        "UPDATE, uncommitted) and waiting for the channels' locks, which the drill held"
    )
    ctx.start_worker("worker-2")
    wait = seconds(ctx, "WATCHDOG_GRACE") + 3 * watchdog_period(ctx) + 10
    result["recovery_s"] = round(wait_settled(ctx, t0, timeout=wait), 1)
    result["measure"] = measure(ctx, due_before=t0)
    publish_checks(result)
    check(
        result,
        "every slot of the killed batch published once",
        result["measure"]["published"] == channels and result["measure"]["duplicates"] == 0,
        f"published={result['measure']['published']}",
    )
