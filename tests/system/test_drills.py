"""The reliability drills' quick subset, run by `make test` (about 3.5 minutes on 2 cores).

One module-scoped run of `python -m drills --quick`: real Celery worker and beat processes,
a private PostgreSQL cluster and Redis on spare ports, a local webhook receiver and a local
fake X, and every fault of drills/README.md (SIGKILLed worker, Redis restarted empty, beat
down for 3 hours, PostgreSQL crashed, two beats, an emergency stop mid-claim). Each scenario
must lose nothing and double nothing; the logs of every process, and a raw SQL dump of the
accounts table, must hold no secret.

The drills found bugs in code outside drills/ (drills/README.md, "Bugs found"). A check one
still breaks is listed in KNOWN_BUGS and asserted by a strict xfail test: when the fix
lands, that test XPASSes and fails, and the entry is deleted here, so the fix stays proven.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.worker, pytest.mark.timeout(420)]

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ["1", "1b", "1c", "2", "3", "4", "5", "6", "7"]

# scenario -> {check that fails because of a bug reported in drills/README.md: the bug}
KNOWN_BUGS: dict[str, dict[str, str]] = {}


@pytest.fixture(scope="module")
def drill_run(tmp_path_factory):
    from drills.infra import pg_available

    reason = pg_available()
    if reason:
        if os.environ.get("QUEUELOOP_REQUIRE_SERVICES", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"QUEUELOOP_REQUIRE_SERVICES is set but the drills cannot run: {reason}")
        pytest.skip(f"the drills need PostgreSQL's server binaries: {reason}")
    out = tmp_path_factory.mktemp("drills")
    report = out / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "drills", "--quick", "--out", str(out), "--json", str(report)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    if not report.exists():
        pytest.fail(
            f"the drills produced no results:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        )
    payload = json.loads(report.read_text())
    payload["by_scenario"] = {r["scenario"]: r for r in payload["results"]}
    return payload


def _result(drill_run, scenario: str) -> dict:
    result = drill_run["by_scenario"].get(scenario)
    assert result is not None, f"scenario {scenario} did not run"
    assert not result.get("error"), result["error"]
    return result


def _check(result: dict, name: str) -> dict:
    matches = [c for c in result.get("checks", []) if c["check"] == name]
    if not matches:  # not an AssertionError: a renamed check must not pass as "xfailed"
        pytest.fail(f"scenario {result['scenario']} has no check {name!r}")
    return matches[0]


def _unexplained(result: dict) -> list[str]:
    """Failed checks not explained by a reported bug."""
    known = KNOWN_BUGS.get(result["scenario"], {})
    return [
        f"{c['check']}: {c['detail']}"
        for c in result.get("checks", [])
        if not c["ok"] and c["check"] not in known
    ]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_drill_loses_nothing_and_doubles_nothing(drill_run, scenario):
    result = _result(drill_run, scenario)
    assert result.get("measure"), result
    assert _unexplained(result) == [], (
        f"{result['title']}: see {drill_run['run_dir']}/scenario-{scenario}/"
    )
    assert result["measure"]["duplicates"] == 0


def test_drill_logs_and_database_dumps_hold_no_secret(drill_run):
    scan = drill_run["secret_scan"]
    # Every process's log, and a raw SQL dump of each scenario's accounts table.
    assert scan["files"] > 10 and scan["dumps"] == len(SCENARIOS) and scan["secrets"] > 10
    assert all(r.get("accounts_dumped", 0) > 0 for r in drill_run["results"])
    assert scan["hits"] == []


# Only while a reported bug is open: a strict xfail per check it breaks.
if KNOWN_BUGS:

    @pytest.mark.parametrize(
        ("scenario", "check"),
        [(scenario, check) for scenario, checks in KNOWN_BUGS.items() for check in checks],
    )
    @pytest.mark.xfail(
        strict=True,
        raises=AssertionError,
        reason="a bug reported in drills/README.md; delete on fix",
    )
    def test_reported_bug_is_fixed(drill_run, scenario, check):
        result = _result(drill_run, scenario)
        assert _check(result, check)["ok"], KNOWN_BUGS[scenario][check]
