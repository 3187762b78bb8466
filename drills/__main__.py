"""`python -m drills [--quick] [--only 1,3] [--json FILE]`: run the reliability drills.

Makes a private PostgreSQL cluster on a spare port, migrates a template database, then runs
each scenario in its own process against a fresh copy of it, with its own Redis. Every
process's output goes to var/drills/<run>/; at the end those logs are searched for every
secret the run configured, and the results table is printed (and saved as results.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from drills.infra import PG_BIN, ROOT, PgCluster, pg_available

COLUMNS = [
    ("scheduled", "scheduled"),
    ("published", "published"),
    ("partial", "partial"),
    ("skipped", "skipped"),
    ("missed", "missed"),
    ("unconfirmed", "unconfirmed"),
    ("duplicates", "duplicates"),
    ("lost", "lost"),
]


def machine() -> str:
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB RAM"
    except OSError:
        pass
    return f"{platform.node()}: {os.cpu_count()} cores, {mem}, {platform.platform()}"


def table(results: list[dict]) -> str:
    head = [
        "#",
        "scenario",
        *(label for _, label in COLUMNS),
        "webhook repeats",
        "max delay",
        "result",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        m = r.get("measure") or {}
        cells = [r["scenario"], r["title"]]
        cells += [str(m.get(key, "-")) for key, _ in COLUMNS]
        cells.append(str((m.get("webhook") or {}).get("repeats", "-")))
        delay = m.get("max_delay_s")
        cells.append("-" if delay is None else f"{delay:.0f} s")
        cells.append("PASS" if r.get("ok") else "FAIL")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def details(results: list[dict]) -> str:
    out = []
    for r in results:
        out.append(
            f"\n[{r['scenario']}] {r['title']} ({r.get('duration_s', '?')} s; settings "
            f"{r.get('settings')})"
        )
        if r.get("fault"):
            out.append(f"    fault: {r['fault']}")
        if r.get("recovery_s") is not None:
            out.append(f"    settled {r['recovery_s']} s after the fault/due time")
        m = r.get("measure") or {}
        if m:
            out.append(f"    deliveries: {m.get('deliveries')}")
            out.append(f"    webhook receiver: {m.get('webhook')}")
            out.append(f"    fake X: {m.get('x')}")
        for key in ("facts", "requeue_delay_s", "worker_db_errors", "planner_runs"):
            if key in r:
                out.append(f"    {key}: {r[key]}")
        for c in r.get("checks", []):
            mark = "ok  " if c["ok"] else "FAIL"
            out.append(f"    {mark} {c['check']}" + (f" — {c['detail']}" if c["detail"] else ""))
        for note in r.get("notes", []):
            out.append(f"    note: {note}")
        if r.get("error"):
            out.append("    ERROR:\n" + "\n".join("      " + x for x in r["error"].splitlines()))
    return "\n".join(out)


def dump_accounts(pg: PgCluster, db: str, path: Path) -> int:
    """A raw SQL dump of the accounts table (credentials must be ciphertext); its row count."""
    with path.open("wb") as out:
        subprocess.run(  # noqa: S603 - our own fixed arguments
            [str(PG_BIN / "pg_dump"), "--data-only", "--table=accounts_socialaccount", pg.url(db)],
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=120,
            check=False,
        )
    lines = path.read_text(errors="replace").splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith("COPY "))
    except StopIteration:
        return 0
    rows = lines[start + 1 :]
    return rows.index("\\.") if "\\." in rows else len(rows)


def _json_line_strings(data: bytes) -> str:
    """Every string inside the JSON objects of a log (LOG_FORMAT=json), decoded: a secret
    JSON escaped (quotes, backslashes, \\uXXXX) is found in its real spelling."""
    found: list[str] = []

    def walk(value) -> None:
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(key)
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for line in data.decode("utf-8", errors="replace").splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                walk(json.loads(line))
            except ValueError:
                continue
    return "\n".join(found)


def scan_for_secrets(run_dir: Path, values: list[str]) -> dict:
    values = sorted({v for v in values if v and len(v) >= 12})
    logs = sorted(p for p in run_dir.rglob("*.log") if p.is_file())
    dumps = sorted(p for p in run_dir.rglob("*.sql") if p.is_file())
    hits = []
    for path in logs + dumps:
        data = path.read_bytes()
        decoded = _json_line_strings(data) if path.suffix == ".log" else ""
        for value in values:
            if value.encode() in data or value in decoded:
                hits.append((str(path.relative_to(run_dir)), value[:6] + "..."))
    return {"secrets": len(values), "files": len(logs), "dumps": len(dumps), "hits": hits}


def migrate(pg: PgCluster, env: dict, log: Path) -> None:
    pg.sql("CREATE DATABASE drills_template")
    with log.open("ab") as out:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=ROOT,
            env=env | {"DATABASE_URL": pg.url("drills_template")},
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
        )


def run(args) -> int:
    reason = pg_available()
    if reason:
        print(f"drills: cannot make a private PostgreSQL cluster: {reason}", file=sys.stderr)
        return 2
    from cryptography.fernet import Fernet

    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    run_dir = Path(
        args.out or ROOT / "var" / "drills" / f"{stamp}-{'quick' if args.quick else 'full'}"
    )
    run_dir.mkdir(parents=True, exist_ok=True)
    private = Path(tempfile.mkdtemp(prefix="ql-drills-"))
    pg = PgCluster(base=Path(tempfile.mkdtemp(prefix="ql-drills-pg-")))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"))
    }
    env |= {
        "SECRET_KEY": "drill-" + secrets.token_urlsafe(40),
        "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "DEBUG": "false",
        "ALLOWED_HOSTS": "localhost",
        "DJANGO_SETTINGS_MODULE": "queueloop.settings",
        "QUEUELOOP_VAR_DIR": str(private / "var"),
        "PYTHONUNBUFFERED": "1",
        # The drills load each channel with a slot every few seconds on purpose (a hot
        # minute): lift the channel bound (scheduling/spacing.py) as an operator may.
        "CHANNEL_MIN_INTERVAL": "0",
        "CHANNEL_MAX_SLOTS_PER_HOUR": "100000",
    }
    loglevel = args.log_level or ("INFO" if args.quick else "DEBUG")
    selected = [s.strip() for s in (args.only or "1,1b,1c,2,3,4,5,6,7").split(",") if s.strip()]
    results: list[dict] = []
    all_secrets = [env["SECRET_KEY"], env["FIELD_ENCRYPTION_KEY"]]
    started = time.monotonic()
    print(f"drills: {'quick' if args.quick else 'full'} run, logs in {run_dir}", flush=True)
    try:
        pg.init()
        pg.start()
        migrate(pg, env, run_dir / "migrate.log")
        for name in selected:
            db = f"drill_{name}"
            pg.sql(f"CREATE DATABASE {db} TEMPLATE drills_template")
            scenario_dir = run_dir / f"scenario-{name}"
            scenario_dir.mkdir(exist_ok=True)
            result_file = private / f"result-{name}.json"
            secrets_file = private / f"secrets-{name}.txt"
            child_env = env | {
                "DRILL_PG_BASE": str(pg.base),
                "DRILL_PG_PORT": str(pg.port),
                "DRILL_DB": db,
                "DRILL_RUN_DIR": str(scenario_dir),
                "DRILL_QUICK": "1" if args.quick else "0",
                "DRILL_RESULT": str(result_file),
                "DRILL_SECRETS": str(secrets_file),
                "DRILL_LOG_LEVEL": loglevel,
            }
            print(f"drills: scenario {name} ...", flush=True)
            with (scenario_dir / "orchestrator.log").open("ab") as out:
                try:
                    subprocess.run(  # noqa: S603
                        [sys.executable, "-m", "drills.scenarios", name],
                        cwd=ROOT,
                        env=child_env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        timeout=args.timeout,
                        check=False,
                    )
                except subprocess.TimeoutExpired:
                    pass
            if result_file.exists():
                result = json.loads(result_file.read_text())
            else:
                result = {
                    "scenario": name,
                    "title": "?",
                    "ok": False,
                    "error": f"no result: see {scenario_dir / 'orchestrator.log'}",
                }
            if secrets_file.exists():
                all_secrets += secrets_file.read_text().splitlines()
            result["accounts_dumped"] = dump_accounts(
                pg, db, scenario_dir / "accounts-table-dump.sql"
            )
            results.append(result)
            print(
                f"drills: scenario {name}: {'PASS' if result.get('ok') else 'FAIL'} "
                f"({result.get('duration_s', '?')} s)",
                flush=True,
            )
    finally:
        pg.stop()
        if pg.logfile.exists():
            shutil.copy(pg.logfile, run_dir / "postgres.log")
        shutil.rmtree(private, ignore_errors=True)
        shutil.rmtree(pg.base, ignore_errors=True)

    scan = scan_for_secrets(run_dir, all_secrets)
    header = (
        f"Queue Loop drills, {'quick subset' if args.quick else 'full run'}, "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {machine()}, "
        f"{time.monotonic() - started:.0f} s"
    )
    dumped = sum(r.get("accounts_dumped", 0) for r in results)
    secret_line = (
        f"Secrets: searched {scan['files']} log files and {scan['dumps']} raw SQL dumps of the "
        f"accounts table ({dumped} rows) for {scan['secrets']} secret values (webhook "
        "secrets, X access/refresh tokens, SECRET_KEY, FIELD_ENCRYPTION_KEY): "
        + ("none found." if not scan["hits"] else f"FOUND {scan['hits']}")
    )
    report = f"{header}\n\n{table(results)}\n\n{secret_line}\n{details(results)}\n"
    print("\n" + report)
    (run_dir / "results.md").write_text(report)
    payload = {"header": header, "results": results, "secret_scan": scan, "run_dir": str(run_dir)}
    (run_dir / "results.json").write_text(json.dumps(payload, indent=2, default=str))
    if args.json:
        Path(args.json).write_text(json.dumps(payload, indent=2, default=str))
    ok = all(r.get("ok") for r in results) and not scan["hits"]
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m drills", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, short timings (CI)")
    parser.add_argument("--only", help="comma-separated scenario numbers (default: all)")
    parser.add_argument("--json", help="also write the results as JSON to this file")
    parser.add_argument("--out", help="directory for logs and results (default var/drills/…)")
    parser.add_argument("--log-level", help="worker/beat log level (default DEBUG, quick INFO)")
    parser.add_argument("--timeout", type=float, default=900, help="per scenario, seconds")
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
