"""What one scenario process has at hand: its database, its Redis, the two receiving ends,
the Celery processes it starts, the world it builds and the measurements it takes.

A scenario runs in its own Python process (`python -m drills.scenarios NAME`), so Django is
set up once with the scenario's DATABASE_URL, REDIS_URL and shortened settings — exactly
the environment its worker and beat processes get.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shutil
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from drills.infra import PgCluster, Proc, RedisServer, beat_args, wait_until, worker_args

TERMINAL = {"published", "partial", "failed", "skipped", "missed", "canceled"}


@dataclass
class Ctx:
    name: str
    quick: bool
    run_dir: Path
    pg: PgCluster
    db: str
    settings: dict[str, str]
    loglevel: str = "INFO"
    redis: RedisServer | None = None
    webhook: object = None  # drills.receiver.Receiver
    fakex: object = None  # drills.fake_x.FakeX
    procs: list[Proc] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    crashes: list[str] = field(default_factory=list)
    _stopping: threading.Event = field(default_factory=threading.Event)
    tmp: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="ql-drill-")))

    # --- environment ------------------------------------------------------------------

    @classmethod
    def from_env(cls, name: str, settings: dict[str, str]) -> Ctx:
        pg = PgCluster(
            base=Path(os.environ["DRILL_PG_BASE"]), port=int(os.environ["DRILL_PG_PORT"])
        )
        return cls(
            name=name,
            quick=os.environ.get("DRILL_QUICK") == "1",
            run_dir=Path(os.environ["DRILL_RUN_DIR"]),
            pg=pg,
            db=os.environ["DRILL_DB"],
            settings=settings,
            loglevel=os.environ.get("DRILL_LOG_LEVEL", "INFO"),
        )

    def setup(self) -> None:
        """Start Redis and the receivers, then Django with the same env the processes get."""
        self.redis = RedisServer(base=self.run_dir / "redis").start()
        os.environ.update(self.base_env())
        import django

        django.setup()
        from drills.fake_x import FakeX
        from drills.receiver import Receiver

        self.webhook = Receiver().start()
        self.fakex = FakeX().start()
        threading.Thread(target=self._supervise, daemon=True).start()

    def _supervise(self) -> None:
        """What `restart: unless-stopped` (docker-compose.yml) does: a worker or beat that
        exits on its own is started again. Every such crash is recorded; it fails a check."""
        while not self._stopping.wait(0.3):
            for proc in list(self.procs):
                if proc.process is None or proc.alive or proc.intentional_exit:
                    continue
                code = proc.process.returncode
                self.crashes.append(
                    f"{proc.name} exited on its own (code {code}) at {time.strftime('%H:%M:%S')}"
                    " and was restarted, as docker-compose's restart policy would"
                )
                proc.start()

    def base_env(self) -> dict[str, str]:
        env = {
            "DATABASE_URL": self.pg.url(self.db),
            "REDIS_URL": self.redis.url,
            "DJANGO_SETTINGS_MODULE": "queueloop.settings",
            "DEBUG": "false",
            "ALLOWED_HOSTS": "localhost",
            # The drills' webhook receiver (drills/receiver.py) listens on loopback.
            "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
            # JSON logs, so the secret scan also reads the structured publish steps.
            "LOG_FORMAT": "json",
            "LOG_LEVEL": self.loglevel,
            "QUEUELOOP_VAR_DIR": str(self.tmp / "var-orchestrator"),
            "PYTHONUNBUFFERED": "1",
        }
        env.update(self.settings)
        return env

    def proc_env(self, proc_name: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.base_env())
        env["QUEUELOOP_VAR_DIR"] = str(self.tmp / f"var-{proc_name}")
        env["DRILL_FAKE_X_URL"] = self.fakex.url
        return env

    # --- processes --------------------------------------------------------------------

    def _launch(self, name: str, args: list[str], ready: str, wait: bool) -> Proc:
        proc = Proc(
            name=name, args=args, env=self.proc_env(name), logfile=self.run_dir / f"{name}.log"
        )
        proc.ready_marker = (ready, len(proc.log_text()))
        self.procs.append(proc)
        proc.start()
        if wait:
            self.wait_ready(proc)
        return proc

    @staticmethod
    def wait_ready(*procs: Proc) -> None:
        for proc in procs:
            needle, offset = proc.ready_marker
            proc.wait_for_log(needle, timeout=90, after=offset)

    def start_worker(self, name: str, *, wait: bool = True) -> Proc:
        return self._launch(name, worker_args(name, loglevel=self.loglevel), " ready.", wait)

    def start_beat(
        self, name: str = "beat", *, last_run_ago: dt.timedelta | None = None, wait: bool = True
    ) -> Proc:
        """Start a beat; with last_run_ago, its schedule file says every entry last ran that
        long ago, as the file of a beat that was stopped then would (so an hourly planner
        run that fell due meanwhile is caught up at once, as celery beat does)."""
        schedule = self.tmp / f"{name}-schedule"
        if last_run_ago is not None:
            write_beat_schedule(schedule, last_run_ago=last_run_ago)
        args = beat_args(schedule, loglevel=self.loglevel)
        return self._launch(name, args, "beat: Starting...", wait)

    def start_worker_and_beat(self, worker_name: str = "worker") -> Proc:
        worker = self.start_worker(worker_name, wait=False)
        beat = self.start_beat(wait=False)
        self.wait_ready(worker, beat)
        return worker

    def teardown(self) -> None:
        self._stopping.set()
        for proc in reversed(self.procs):
            proc.kill()  # the measurements are taken: no need for a warm shutdown
        if self.webhook is not None:
            self.webhook.stop()
        if self.fakex is not None:
            self.fakex.stop()
        if self.redis is not None:
            self.redis.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def secret(self, prefix: str) -> str:
        value = f"{prefix}-{secrets.token_urlsafe(18)}"
        self.secrets.append(value)
        return value


def write_beat_schedule(path: Path, *, last_run_ago: dt.timedelta) -> None:
    from celery.beat import PersistentScheduler
    from django.utils import timezone

    from drills.celeryapp import app

    scheduler = PersistentScheduler(app=app, schedule_filename=str(path), lazy=True)
    scheduler.setup_schedule()
    for entry in scheduler.schedule.values():
        entry.last_run_at = timezone.now() - last_run_ago
    scheduler.sync()
    scheduler._store.close()


# --- The world ----------------------------------------------------------------------------


@dataclass
class World:
    channels: list
    posts_per_channel: int


def build_world(
    ctx: Ctx, *, channels: int, posts: int, webhook: bool = True, x: bool = True
) -> World:
    """One workspace; per channel a webhook account and an X account (its own X user), and
    `posts` posts with distinct texts (so X's duplicate rule never fires by design)."""
    from accounts.models import SocialAccount, Workspace
    from channels.models import Channel, QueueEntry
    from posts.models import Post

    nonce = secrets.token_hex(3)
    workspace = Workspace.objects.create(name=f"Drill {ctx.name}", slug=f"drill-{ctx.name}")
    made = Channel.objects.bulk_create(
        [
            Channel(workspace=workspace, name=f"#{ctx.name}-{i}", slug=f"{ctx.name}-{i}")
            for i in range(channels)
        ]
    )
    accounts, links = [], []
    expires = int(time.time()) + 30 * 86400
    for i in range(len(made)):
        if webhook:
            accounts.append(
                SocialAccount(
                    workspace=workspace,
                    provider="webhook",
                    handle=f"hook-{i}",
                    credentials={"url": ctx.webhook.url, "secret": ctx.secret("whsec")},
                )
            )
        if x:
            user_id = str(7_000_000 + i)
            access = ctx.secret("xat")
            ctx.fakex.add_user(access, user_id)
            accounts.append(
                SocialAccount(
                    workspace=workspace,
                    provider="x",
                    handle=f"x{i}",
                    external_id=user_id,
                    credentials={
                        "auth": "oauth2",
                        "access_token": access,
                        "refresh_token": ctx.secret("xrt"),
                        "expires_at": expires,
                        "token_type": "bearer",
                        "scope": "tweet.read tweet.write users.read offline.access",
                        "user_id": user_id,
                    },
                )
            )
    SocialAccount.objects.bulk_create(accounts)
    per = int(webhook) + int(x)
    through = Channel.accounts.through
    for i, channel in enumerate(made):
        for account in accounts[i * per : (i + 1) * per]:
            links.append(through(channel_id=channel.id, socialaccount_id=account.id))
    through.objects.bulk_create(links)
    post_rows = Post.objects.bulk_create(
        [
            Post(workspace=workspace, text=f"Drill {ctx.name} {nonce} channel {i} post {j}")
            for i in range(channels)
            for j in range(posts)
        ]
    )
    QueueEntry.objects.bulk_create(
        [
            QueueEntry(channel=made[k // posts], post=post, position=k % posts)
            for k, post in enumerate(post_rows)
        ]
    )
    return World(channels=made, posts_per_channel=posts)


def rdate_schedules(world: World, times: list[dt.datetime]) -> list:
    """One schedule per channel holding one RDATE per time (UTC channels: UTC wall time).
    Saved as plain rows, not through schedule_save: nothing is planned until the planner runs."""
    import recurrence

    from scheduling.models import Schedule

    text = "\n".join(f"RDATE:{t.astimezone(dt.UTC):%Y%m%dT%H%M%S}" for t in times)
    return Schedule.objects.bulk_create(
        [
            Schedule(channel=channel, name="drill", recurrence=recurrence.deserialize(text))
            for channel in world.channels
        ]
    )


# --- Observing -----------------------------------------------------------------------------


def db_retry(fn, *, attempts: int = 60):
    """Run a read; while the database is down (a drill restarts it), reconnect and retry."""
    from django.db import InterfaceError, OperationalError, connection

    for attempt in range(attempts):
        try:
            return fn()
        except (OperationalError, InterfaceError):
            connection.close()
            if attempt == attempts - 1:
                raise
            time.sleep(0.5)
    return None


def delivery_counts() -> Counter:
    from publishing.models import Delivery

    return db_retry(lambda: Counter(Delivery.objects.values_list("status", flat=True)))


def settled(due_before: dt.datetime) -> bool:
    from publishing.models import Delivery
    from scheduling.models import Timeslot

    def check():
        open_slots = (
            Timeslot.objects.filter(publish_at__lte=due_before)
            .exclude(status__in=TERMINAL)
            .exists()
        )
        open_deliveries = Delivery.objects.filter(status__in=["pending", "sending"]).exists()
        return not open_slots and not open_deliveries

    return db_retry(check)


def snapshot() -> tuple:
    from publishing.models import Delivery
    from scheduling.models import Timeslot

    return db_retry(
        lambda: (
            sorted(Counter(Timeslot.objects.values_list("status", flat=True)).items()),
            sorted(Counter(Delivery.objects.values_list("status", flat=True)).items()),
        )
    )


def stall_after(ctx: Ctx) -> float:
    """How long nothing may change before waiting longer is pointless: by then the watchdog
    has had SEND_TIMEOUT and WATCHDOG_GRACE to pass and two runs to act."""
    grace = float(ctx.settings["WATCHDOG_GRACE"]) + float(ctx.settings["SEND_TIMEOUT"])
    return grace + 2 * float(ctx.settings.get("DRILL_WATCHDOG_EVERY", 60)) + 3


def wait_settled(ctx: Ctx, due_before: dt.datetime, *, timeout: float) -> float:
    """Wait until every due slot is terminal, or nothing has changed for stall_after(), or
    the timeout; return how long it took."""
    from django.utils import timezone

    started = time.monotonic()
    wait_until(lambda: timezone.now() > due_before, timeout=timeout, what="the due time")
    last, changed = None, time.monotonic()
    while not settled(due_before):
        current = snapshot()
        if current != last:
            last, changed = current, time.monotonic()
        elif time.monotonic() - changed > stall_after(ctx):
            ctx.notes.append(
                f"stopped waiting: nothing changed for {stall_after(ctx):.0f}s ({current})"
            )
            break
        if time.monotonic() - started > timeout:
            ctx.notes.append(f"did not settle within {timeout:.0f}s")
            break
        time.sleep(1)
    return time.monotonic() - started


def measure(ctx: Ctx, *, due_before: dt.datetime) -> dict:
    """The table row: what the database says, checked against what the receivers saw."""
    from django.db.models import F

    from publishing.models import Delivery
    from scheduling.models import Timeslot

    def rows():
        slots = list(
            Timeslot.objects.filter(publish_at__lte=due_before).values(
                "id", "status", "reason", "publish_at", "published_at", "enqueued_at"
            )
        )
        deliveries = list(
            Delivery.objects.filter(timeslot__publish_at__lte=due_before).values(
                "id",
                "status",
                "timeslot_id",
                "account_id",
                "text",
                "last_error",
                provider=F("account__provider"),
                user_id=F("account__external_id"),
            )
        )
        return slots, deliveries

    slots, deliveries = db_retry(rows)
    status = Counter(s["status"] for s in slots)
    lost = [
        s["id"]
        for s in slots
        if s["status"] not in TERMINAL or (s["status"] != "published" and not s["reason"].strip())
    ]
    open_slots = {d["timeslot_id"] for d in deliveries if d["status"] in ("pending", "sending")}
    # A slot left 'publishing' although every delivery of it has finished (drills/README.md,
    # bug 1: fixed, the watchdog settles it now).
    unsettled = [
        s["id"] for s in slots if s["status"] == "publishing" and s["id"] not in open_slots
    ]
    delays = [
        (s["published_at"] - s["publish_at"]).total_seconds()
        for s in slots
        if s["status"] in ("published", "partial") and s["published_at"]
    ]

    # The idempotent webhook receiver: every key it got, and what it acted on.
    requests_ = list(ctx.webhook.requests)
    keys = Counter(r.key for r in requests_)
    acted = dict(ctx.webhook.acted_on)
    acted_per_target = Counter(
        (r.payload["timeslot_id"], r.payload["account"]) for r in acted.values()
    )
    wh = [d for d in deliveries if d["provider"] == "webhook"]
    wh_sent_ids = {str(d["id"]) for d in wh if d["status"] == "sent"}

    # The not-idempotent fake X: every create that reached it.
    creates = ctx.fakex.counts()
    xd = [d for d in deliveries if d["provider"] == "x"]
    x_sent = [d for d in xd if d["status"] == "sent"]
    x_double = sum(n - 1 for n in creates.values() if n > 1)
    wh_double = sum(n - 1 for n in acted_per_target.values() if n > 1)

    return {
        "scheduled": len(slots),
        "published": status.get("published", 0),
        "partial": status.get("partial", 0),
        "failed": status.get("failed", 0),
        "skipped": status.get("skipped", 0),
        "missed": status.get("missed", 0),
        "canceled": status.get("canceled", 0),
        "unconfirmed": sum(1 for d in deliveries if d["status"] == "unconfirmed"),
        "duplicates": wh_double + x_double,
        "lost": len(lost),
        "lost_ids": lost[:20],
        "lost_states": dict(Counter(s["status"] for s in slots if s["id"] in set(lost))),
        "lost_unsettled": len(unsettled),
        "max_delay_s": round(max(delays), 1) if delays else None,
        "deliveries": {
            f"{p}:{s}": n
            for (p, s), n in sorted(
                Counter((d["provider"], d["status"]) for d in deliveries).items()
            )
        },
        "webhook": {
            "deliveries": len(wh),
            "requests": len(requests_),
            "keys": len(keys),
            "repeats": len(requests_) - len(keys),
            "acted_twice": wh_double,
            "sent_not_received": len(wh_sent_ids - set(keys)),
            "not_sent": sum(1 for d in wh if d["status"] != "sent"),
        },
        "x": {
            "deliveries": len(xd),
            "creates": sum(creates.values()),
            "created_twice": x_double,
            "sent_not_created": sum(
                1 for d in x_sent if creates.get((d["user_id"], d["text"]), 0) == 0
            ),
            "not_sent_or_unconfirmed": sum(
                1 for d in xd if d["status"] not in ("sent", "unconfirmed")
            ),
            "unconfirmed_created": sum(
                1
                for d in xd
                if d["status"] == "unconfirmed" and creates.get((d["user_id"], d["text"]), 0)
            ),
        },
    }


def check(result: dict, description: str, ok: bool, detail: str = "") -> None:
    result.setdefault("checks", []).append({"check": description, "ok": bool(ok), "detail": detail})


def common_checks(result: dict) -> None:
    crashes = result.get("crashes", [])
    check(result, "no worker or beat process died on its own", not crashes, "; ".join(crashes))
    m = result["measure"]
    check(
        result,
        "nothing lost (every due slot terminal, with a reason)",
        m["lost"] == 0,
        f"lost={m['lost']} {m['lost_states']} ids {m['lost_ids']}",
    )
    check(
        result,
        "nothing doubled at the receiving ends",
        m["duplicates"] == 0,
        f"webhook acted twice={m['webhook']['acted_twice']}, X created twice="
        f"{m['x']['created_twice']}",
    )
    check(
        result,
        "every webhook delivery marked sent was received",
        m["webhook"]["sent_not_received"] == 0,
        str(m["webhook"]["sent_not_received"]),
    )
    check(
        result,
        "every X delivery marked sent was created at X",
        m["x"]["sent_not_created"] == 0,
        str(m["x"]["sent_not_created"]),
    )


def write_result(path: Path, result: dict) -> None:
    path.write_text(json.dumps(result, indent=2, default=str))
