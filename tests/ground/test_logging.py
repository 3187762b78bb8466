"""Structured logs: LOG_FORMAT=json|text, log_event() writes one line per publish step with
its ids and lateness, nothing secret reaches a log line, and the drills' secret scan finds
a secret in a JSON log even when JSON escaped it."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import subprocess
import sys

import pytest

from drills.__main__ import scan_for_secrets
from ground.events import lateness_ms, log_event, log_events
from ground.logformat import REDACTED, JsonFormatter, TextFormatter, redact
from tests.project.test_settings import BASE_DIR, clean_env

UTC = dt.UTC


@pytest.fixture
def capture():
    """The queueloop.events logger writing through a formatter into a buffer."""

    def attach(formatter: logging.Formatter) -> io.StringIO:
        buffer = io.StringIO()
        handler = logging.StreamHandler(buffer)
        handler.setFormatter(formatter)
        logger.addHandler(handler)
        handlers.append(handler)
        return buffer

    logger = logging.getLogger("queueloop.events")
    handlers: list[logging.Handler] = []
    level = logger.level
    logger.setLevel(logging.INFO)
    yield attach
    for handler in handlers:
        logger.removeHandler(handler)
    logger.setLevel(level)


def lines(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_one_json_line_per_step_with_ids_and_lateness(capture):
    out = capture(JsonFormatter())
    publish_at = dt.datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
    now = publish_at + dt.timedelta(milliseconds=1250)
    log_event(
        "claimed",
        timeslot_id=7,
        channel_id=3,
        workspace_id=2,
        lateness_ms=lateness_ms(publish_at, now),
    )
    log_event("delivery_sent", timeslot_id=7, delivery_id=11, account_id=5, provider="x")
    first, second = lines(out)
    assert first["event"] == "claimed"
    assert (first["timeslot_id"], first["channel_id"], first["workspace_id"]) == (7, 3, 2)
    assert first["lateness_ms"] == 1250
    assert first["level"] == "INFO" and first["logger"] == "queueloop.events"
    assert dt.datetime.fromisoformat(first["time"]).tzinfo is not None
    assert second["event"] == "delivery_sent" and second["delivery_id"] == 11


def test_a_batch_is_one_line_per_row_and_free_when_off(capture):
    out = capture(JsonFormatter())
    log_events("claimed", [{"timeslot_id": 1}, {"timeslot_id": 2}], workspace_id=9)
    assert [(r["timeslot_id"], r["workspace_id"]) for r in lines(out)] == [(1, 9), (2, 9)]

    def rows():
        raise AssertionError("iterated although the level is off")
        yield {}

    logging.getLogger("queueloop.events").setLevel(logging.WARNING)
    log_events("claimed", rows())


def test_text_format_is_one_readable_line(capture):
    out = capture(TextFormatter())
    log_event("settled", timeslot_id=7, status="partial")
    assert (
        out.getvalue()
        .rstrip()
        .endswith("INFO queueloop.events event=settled status=partial timeslot_id=7")
    )


def test_a_field_off_the_list_is_dropped_by_name_never_by_value(capture):
    out = capture(JsonFormatter())
    log_event(
        "delivery_failed",
        delivery_id=1,
        credentials={"token": "tok-SUPERSECRETVALUE"},
        text="the post's text",
    )
    (line,) = lines(out)
    assert line["dropped"] == "credentials,text"
    assert "SUPERSECRETVALUE" not in out.getvalue()
    assert "post's text" not in out.getvalue()


def test_an_unknown_step_is_logged_as_unknown(capture):
    out = capture(JsonFormatter())
    log_event("clamied", timeslot_id=1)
    (line,) = lines(out)
    assert line["event"] == "unknown" and line["step"] == "clamied"


@pytest.mark.parametrize(
    "text, secret",
    [
        ("Authorization: Bearer abcdef1234567890XYZ", "abcdef1234567890XYZ"),
        ('{"access_token": "xat-9f8e7d6c5b4a", "ok": 1}', "xat-9f8e7d6c5b4a"),
        ("refresh_token=xrt-0011223344556677&grant_type=x", "xrt-0011223344556677"),
        ("webhook secret: whsec-A1B2C3D4E5F6", "whsec-A1B2C3D4E5F6"),
        ("redis://:hunter2-redis-pass@redis:6379/0", "hunter2-redis-pass"),
        ("smtp://mailer:p4ssw0rd-smtp@mail.example:587", "p4ssw0rd-smtp"),
    ],
)
def test_secrets_are_redacted_in_both_formats(capture, text, secret):
    assert secret not in redact(text) and REDACTED in redact(text)
    json_out = capture(JsonFormatter())
    text_out = capture(TextFormatter())
    logging.getLogger("queueloop.events").warning("provider said: %s", text)
    assert secret not in json_out.getvalue() and secret not in text_out.getvalue()
    assert "provider said" in lines(json_out)[0]["message"]


def test_ordinary_text_is_left_alone():
    plain = "timeslot 7 published at 2027-03-01T12:00:00+00:00 on #tech (token rotated)"
    assert redact(plain) == plain


def test_tracebacks_are_redacted_too(capture):
    out = capture(JsonFormatter())
    try:
        raise RuntimeError("401 for Authorization: Bearer leaked-token-123456")
    except RuntimeError:
        logging.getLogger("queueloop.events").exception("send failed")
    (line,) = lines(out)
    assert "leaked-token-123456" not in out.getvalue()
    assert "RuntimeError" in line["exc_info"]


def run_settings(env: dict, code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


LOG_ONE = (
    "import django; django.setup(); import logging; from ground.events import log_event; "
    "log_event('missed', timeslot_id=4, reason='too late'); "
    "from django.conf import settings; print(settings.CELERY_WORKER_HIJACK_ROOT_LOGGER)"
)


def test_log_format_setting_switches_every_process(tmp_path):
    env = clean_env(tmp_path, DEBUG="true") | {"DJANGO_SETTINGS_MODULE": "queueloop.settings"}
    json_run = run_settings(env | {"LOG_FORMAT": "json"}, LOG_ONE)
    assert json_run.returncode == 0, json_run.stderr
    record = json.loads(json_run.stderr.strip().splitlines()[-1])
    assert record["event"] == "missed" and record["timeslot_id"] == 4
    # Celery must not replace the JSON handler with its text one in worker and beat.
    assert json_run.stdout.strip() == "False"
    text_run = run_settings(env | {"LOG_FORMAT": "text"}, LOG_ONE)
    assert "event=missed reason=too late timeslot_id=4" in text_run.stderr
    bad = run_settings(env | {"LOG_FORMAT": "xml"}, LOG_ONE)
    assert "LOG_FORMAT='xml' must be json or text" in bad.stderr


def test_drills_secret_scan_finds_secrets_in_json_logs(tmp_path):
    plain = "whsec-" + "Q" * 20
    escaped = 'pa"ss\\word-with-quotes-1234'  # JSON writes it as pa\"ss\\\\word...
    unicode_secret = "sécret-ünïcode-123456"  # json_ensure_ascii=True writes \\u00e9
    (tmp_path / "worker.log").write_text(
        json.dumps({"message": f"oops {plain}"})
        + "\n"
        + json.dumps({"message": f"oops {escaped}"})
        + "\n"
        + json.dumps({"message": f"oops {unicode_secret}"}, ensure_ascii=True)
        + "\n"
    )
    scan = scan_for_secrets(tmp_path, [plain, escaped, unicode_secret, "never-logged-value-xyz"])
    found = {hit[1] for hit in scan["hits"]}
    assert found == {plain[:6] + "...", escaped[:6] + "...", unicode_secret[:6] + "..."}
