"""The five drills' registry and runner. Each runs in its own process:
`python -m drills.scenarios NAME` (the parent, `python -m drills`, prepares the PostgreSQL
cluster and the environment). The drills are in drills/kills.py (1, 1b, 1c: the worker
killed), drills/outages.py (2-5: Redis, beat, PostgreSQL, two beats) and drills/readback.py
(6: the worker killed mid-call, read-back resolves what it left unconfirmed).

Every scenario builds its world, starts real Celery processes, injects its fault, waits for
the system to recover on its own (only the watchdog in beat and the workers act; the drill
never repairs anything) and measures the outcome from the database and the receivers.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from pathlib import Path

from drills.harness import Ctx, common_checks, write_result
from drills.kills import s1_worker_killed, s1b_killed_before_settle, s1c_killed_mid_claim
from drills.outages import s2_redis_restarted, s3_beat_down, s4_postgres_restarted, s5_two_beats
from drills.readback import s6_read_back
from drills.stop import s7_stop_mid_claim

# --- Registry -------------------------------------------------------------------------------


def settings_for(name: str, quick: bool) -> dict[str, str]:
    settings = {
        "MISSED_AFTER": "600",
        "WATCHDOG_GRACE": "3" if quick else "15",
        "SEND_TIMEOUT": "5" if quick else "20",
    }
    if quick:
        settings["DRILL_WATCHDOG_EVERY"] = "3"
    if name == "2" and not quick:
        settings["WATCHDOG_GRACE"] = "60"  # the default, for the documented bound
    if name == "3":
        settings["MISSED_AFTER"] = "1800"  # the default
    if name == "6":
        # Read-back's first look this long after the call (the default 2 minutes leaves a
        # network's listing time to catch up; the fake X's is immediate).
        settings["READ_BACK_FIRST_AFTER"] = "3" if quick else "10"
        settings["INSTANCE_ALLOWED_HOSTS"] = "127.0.0.1"  # the fake Mastodon and Bluesky
    return settings


SCENARIOS = {
    "1": ("worker SIGKILLed while slots are due", s1_worker_killed),
    "1b": ("worker SIGKILLed between 'sent' and settling the slot", s1b_killed_before_settle),
    "1c": ("worker SIGKILLed in the middle of a batch claim", s1c_killed_mid_claim),
    "2": ("Redis restarted empty before slots are due", s2_redis_restarted),
    "3": ("beat stopped 3 hours, then restarted", s3_beat_down),
    "4": ("PostgreSQL restarted during publishing", s4_postgres_restarted),
    "5": ("two beat processes by mistake", s5_two_beats),
    "6": ("worker SIGKILLed mid-call, read-back resolves the unconfirmed", s6_read_back),
    "7": ("emergency stop pressed while a batch is claimed", s7_stop_mid_claim),
}


def main(argv: list[str]) -> int:
    name = argv[0]
    title, func = SCENARIOS[name]
    quick = os.environ.get("DRILL_QUICK") == "1"
    ctx = Ctx.from_env(name, settings_for(name, quick))
    result: dict = {
        "scenario": name,
        "title": title,
        "quick": quick,
        "settings": ctx.settings,
    }
    started = time.monotonic()
    try:
        ctx.setup()
        func(ctx, result)
        result["crashes"] = ctx.crashes
        common_checks(result)
    except Exception:
        result["error"] = traceback.format_exc()
        print(result["error"], file=sys.stderr)
    finally:
        ctx.teardown()
        result["notes"] = ctx.notes
        result["duration_s"] = round(time.monotonic() - started, 1)
        result["ok"] = "error" not in result and all(c["ok"] for c in result.get("checks", []))
        write_result(Path(os.environ["DRILL_RESULT"]), result)
        Path(os.environ["DRILL_SECRETS"]).write_text(
            "\n".join(
                [
                    *ctx.secrets,
                    os.environ.get("SECRET_KEY", ""),
                    os.environ.get("FIELD_ENCRYPTION_KEY", ""),
                ]
            )
        )
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
