"""Drill 6: the worker SIGKILLed mid-call, and read-back resolves every `unconfirmed` delivery
by itself (publishing/read_back.py, DESIGN §4 "Read-back").

Every slot is due in the same second, each to an X, a Mastodon and a Bluesky account. The
fakes (drills/fake_x.py, drills/fake_fedi.py) make each post first and answer a while
later, so when the drill SIGKILLs the worker (a quarter of the posts made) many calls are
in flight: some reached their network, some did not. Nobody repairs anything. X is not
idempotent: the watchdog turns its abandoned calls `unconfirmed` after SEND_TIMEOUT, and
read-back (beat) lists each account's timeline — found → `sent`, proven absent → sent again
once. Mastodon and Bluesky are idempotent (a key, a record key): their abandoned calls are
sent again and the network absorbs the repeat. It must end with 0 unconfirmed, 0 posts
made twice at any network, 0 lost.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import Counter

from drills.fake_fedi import FakeBluesky, FakeMastodon
from drills.harness import (
    Ctx,
    World,
    build_world,
    check,
    delivery_counts,
    measure,
    rdate_schedules,
)
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


def add_fedi_accounts(ctx: Ctx, world: World, mastodon: FakeMastodon, bluesky: FakeBluesky):
    """Per channel, a Mastodon and a Bluesky account on the fakes, beside its X account."""
    from accounts.models import SocialAccount
    from channels.models import Channel

    workspace = world.channels[0].workspace
    accounts = []
    for i in range(len(world.channels)):
        token = ctx.secret("mastodon")
        account_id = mastodon.add_account(token)
        accounts.append(
            SocialAccount(
                workspace=workspace,
                provider="mastodon",
                handle=f"u{account_id}@127.0.0.1",
                external_id=f"{account_id}@127.0.0.1",
                credentials={"access_token": token},
                options={"instance": mastodon.url, "max_characters": 500},
            )
        )
        did = f"did:plc:drill{i:019d}"
        password = ctx.secret("bsky")
        accounts.append(
            SocialAccount(
                workspace=workspace,
                provider="bluesky",
                handle=f"b{i}.test",
                external_id=did,
                credentials={
                    "identifier": f"b{i}.test",
                    "app_password": password,
                    "session": bluesky.session_string(f"b{i}.test", did),
                },
                options={"service": bluesky.url},
            )
        )
    SocialAccount.objects.bulk_create(accounts)
    through = Channel.accounts.through
    through.objects.bulk_create(
        through(channel_id=channel.id, socialaccount_id=account.id)
        for channel, pair in zip(
            world.channels, zip(accounts[::2], accounts[1::2], strict=True), strict=True
        )
        for account in pair
    )


def s6_read_back(ctx: Ctx, result: dict) -> None:
    mastodon, bluesky = FakeMastodon().start(), FakeBluesky().start()
    try:
        _s6(ctx, result, mastodon, bluesky)
    finally:
        mastodon.stop()
        bluesky.stop()


def made(ctx: Ctx, mastodon: FakeMastodon, bluesky: FakeBluesky) -> int:
    return len(ctx.fakex.creates) + len(mastodon.statuses) + len(bluesky.records)


def _s6(ctx: Ctx, result: dict, mastodon: FakeMastodon, bluesky: FakeBluesky) -> None:
    slots = 40 if ctx.quick else 200
    # Each post is made at once and answered 1.5 s later: calls in flight at the kill.
    ctx.fakex.delay = mastodon.delay = bluesky.delay = 1.5
    world = build_world(ctx, channels=slots, posts=1, webhook=False, x=True)
    add_fedi_accounts(ctx, world, mastodon, bluesky)
    worker = ctx.start_worker_and_beat("worker-1")
    t0 = now() + dt.timedelta(seconds=6 if ctx.quick else 8)
    rdate_schedules(world, [t0])
    created = plan_now()
    check(result, "planner created every slot", created == slots, str(created))

    wait_until(
        lambda: made(ctx, mastodon, bluesky) >= 3 * slots // 4,
        timeout=120,
        interval=0.05,
        what="a quarter of the posts made",
    )
    at_kill = (dict(delivery_counts()), slot_counts(), made(ctx, mastodon, bluesky))
    worker.kill()
    result["fault"] = (
        f"SIGKILL worker + children mid-call: deliveries {at_kill[0]}, slots {at_kill[1]}, "
        f"{at_kill[2]} posts made at X, Mastodon and Bluesky"
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
    fedi_twice = sum(n - 1 for n in (mastodon.counts() + bluesky.counts()).values() if n > 1)
    m["duplicates"] += fedi_twice
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
        "every Mastodon and Bluesky delivery sent, each post made once",
        m["deliveries"].get("mastodon:sent", 0) == slots
        and m["deliveries"].get("bluesky:sent", 0) == slots
        and fedi_twice == 0
        and sum(mastodon.counts().values()) == slots
        and sum(bluesky.counts().values()) == slots,
        f"statuses={sum(mastodon.counts().values())} records={sum(bluesky.counts().values())} "
        f"made twice={fedi_twice}",
    )
    check(
        result,
        "read-back did the resolving (found, or proven absent and sent again once)",
        steps["read_back_found"] + steps["read_back_resent"] > 0,
        str(dict(steps)),
    )
