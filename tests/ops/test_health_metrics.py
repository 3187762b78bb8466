"""/healthz and /metrics: what an operator or a container probe sees from outside.

/healthz answers 503 when the broker is unreachable, the planner is two hours late, no
worker beats or a slot is long overdue; /metrics is protected and parses with
prometheus-client's own parser; its lateness histogram counts what a real worker published.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
import time_machine
from django.core.cache import cache
from django.test import override_settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from ground import opsrecord
from publishing.models import Delivery
from scheduling import services
from scheduling.models import PlannerState, Timeslot
from tests.conftest import wait_for
from tests.factories import (
    ChannelFactory,
    DeliveryFactory,
    QueueEntryFactory,
    TimeslotFactory,
)

pytestmark = pytest.mark.django_db

UTC = dt.UTC
NOW = dt.datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
TOKEN = "metrics-test-token-0123456789"
# A loopback port nothing listens on: the connection is refused at once.
DEAD_BROKER = "redis://127.0.0.1:1/0"


@pytest.fixture(autouse=True)
def clean_records():
    cache.delete_many(
        [
            "ops:worker",
            f"ops:run:{opsrecord.PLANNER_TASK}",
            f"ops:run:{opsrecord.WATCHDOG_TASK}",
            *(
                f"ops:total:{task}:{name}"
                for task in opsrecord.RECORDED_TASKS
                for name in [
                    "runs",
                    "chunks",
                    "created",
                    "enqueued",
                    "missed",
                    "requeued",
                    "settled",
                ]
            ),
        ]
    )
    yield


def healthy_now(now: dt.datetime) -> None:
    """A planner that just ran and a worker that just beat."""
    PlannerState.objects.update_or_create(key="default", defaults={"last_run_at": now})
    opsrecord.worker_heartbeat(hostname="celery@test", now=now.timestamp())


def get_health(client, query: str = ""):
    response = client.get(f"/healthz{query}")
    return response.status_code, response.json()


def test_healthy_is_200_with_every_check(client):
    healthy_now(timezone.now())
    status, body = get_health(client)
    assert status == 200, body
    assert body["status"] == "ok"
    assert set(body["checks"]) == {
        "database",
        "broker",
        "planner",
        "worker",
        "overdue",
        "email",
        "results",
    }
    assert body["checks"]["worker"]["hostname"] == "celery@test"
    assert body["checks"]["planner"]["seconds_since_last_run"] < 60


def test_wrong_broker_url_is_503(client):
    healthy_now(timezone.now())
    with override_settings(CELERY_BROKER_URL=DEAD_BROKER):
        status, body = get_health(client)
    assert status == 503
    assert body["checks"]["broker"] == {
        "ok": False,
        "error": "unreachable (ConnectionError)",
        "ms": body["checks"]["broker"]["ms"],
    }
    assert body["checks"]["database"]["ok"] is True


def test_planner_older_than_two_hours_is_503(client):
    with time_machine.travel(NOW, tick=False):
        healthy_now(NOW)
        PlannerState.objects.filter(key="default").update(
            last_run_at=NOW - dt.timedelta(hours=2, seconds=1)
        )
        status, body = get_health(client)
        assert status == 503
        assert body["checks"]["planner"]["ok"] is False
        assert body["checks"]["planner"]["seconds_since_last_run"] == 7201
        # An hour and a half is one missed run at most: still healthy.
        PlannerState.objects.filter(key="default").update(last_run_at=NOW - dt.timedelta(hours=1.5))
        assert get_health(client)[0] == 200


def test_no_worker_heartbeat_is_503(client):
    with time_machine.travel(NOW, tick=False):
        healthy_now(NOW)
        opsrecord.worker_heartbeat(hostname="w", now=(NOW - dt.timedelta(minutes=3)).timestamp())
        status, body = get_health(client)
    assert status == 503 and body["checks"]["worker"]["seconds_since_last_heartbeat"] == 180
    cache.delete("ops:worker")
    assert get_health(client)[0] == 503


def test_a_long_overdue_slot_is_503(client):
    with time_machine.travel(NOW, tick=False):
        healthy_now(NOW)
        TimeslotFactory(publish_at=NOW - dt.timedelta(seconds=90))  # the watchdog's business
        status, body = get_health(client)
        assert status == 200 and body["checks"]["overdue"]["count"] == 1
        TimeslotFactory(publish_at=NOW - dt.timedelta(minutes=6))
        status, body = get_health(client)
    assert status == 503
    assert body["checks"]["overdue"] | {"ms": 0} == {
        "ok": False,
        "count": 2,
        "oldest_seconds_late": 360.0,
        "max_late_seconds": 300.0,
        "ms": 0,
    }


def test_checks_can_be_chosen_and_need_no_login_host_or_https(client):
    # The compose web healthcheck: only what web itself needs, while workers start.
    with override_settings(ALLOWED_HOSTS=["queueloop.example.com"], SECURE_SSL_REDIRECT=True):
        response = client.get("/healthz?checks=database,broker", HTTP_HOST="127.0.0.1:8000")
    assert response.status_code == 200, response.content
    assert set(response.json()["checks"]) == {"database", "broker"}
    response = client.get("/healthz?checks=database,nope")
    assert response.status_code == 400
    assert "Unknown check(s): nope" in response.json()["error"]
    assert client.post("/healthz").status_code == 405


def test_healthz_is_cheap(client, django_assert_max_num_queries):
    healthy_now(timezone.now())
    # SELECT 1; the planner state; the overdue count and the oldest overdue slot; the
    # metrics collector's due count and oldest due snapshot.
    with django_assert_max_num_queries(6):
        assert get_health(client)[0] == 200


# --- /metrics -----------------------------------------------------------------------------


def scrape(client, **headers) -> dict:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return {f.name: f for f in text_string_to_metric_families(response.content.decode())}


def sample(families: dict, name: str, **labels) -> float:
    for family in families.values():
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    raise AssertionError(f"no sample {name} {labels}")


def test_metrics_are_off_without_a_token_or_allow_list(client):
    response = client.get("/metrics")
    assert response.status_code == 403
    assert b"METRICS_TOKEN" in response.content


@override_settings(METRICS_TOKEN=TOKEN)
def test_metrics_need_the_token(client):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Token {TOKEN}").status_code == 401
    scrape(client, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")


def test_metrics_allow_list(client, settings):
    import ipaddress

    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.1.0.0/16")]
    assert client.get("/metrics", REMOTE_ADDR="10.2.0.5").status_code == 401
    scrape(client, REMOTE_ADDR="10.1.3.4")


def test_metrics_report_slots_deliveries_planner_watchdog_and_broker(client, settings):
    # Through the fixture (never @override_settings beside it: its undo would bring the
    # decorator's values back after the test).
    settings.METRICS_TOKEN = TOKEN
    now = timezone.now()
    TimeslotFactory(status=Timeslot.Status.FAILED, publish_at=now - dt.timedelta(minutes=10))
    # Outside METRICS_WINDOW: not in the counts (a scrape reads a window, not the history).
    old = TimeslotFactory(status=Timeslot.Status.FAILED, publish_at=now - dt.timedelta(days=2))
    Delivery.objects.filter(
        id=DeliveryFactory(timeslot=old, status=Delivery.Status.FAILED).id
    ).update(created_at=now - dt.timedelta(days=2))
    slot = TimeslotFactory(publish_at=now - dt.timedelta(minutes=2))  # and overdue
    DeliveryFactory(
        timeslot=slot,
        status=Delivery.Status.SENT,
        sent_at=slot.publish_at + dt.timedelta(seconds=1.5),
    )
    DeliveryFactory(status=Delivery.Status.FAILED)
    PlannerState.objects.update_or_create(key="default", defaults={"last_run_at": now})
    opsrecord.task_run(task=opsrecord.PLANNER_TASK, duration_s=0.25, result={"created": 7})
    opsrecord.task_run(task=opsrecord.PLANNER_TASK, duration_s=0.5, result={"created": 3})
    opsrecord.task_run(
        task=opsrecord.WATCHDOG_TASK, duration_s=0.1, result={"missed": 2, "requeued": 1}
    )
    families = scrape(client, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")

    assert sample(families, "queueloop_timeslots", status="failed") == 1
    assert sample(families, "queueloop_timeslots", status="scheduled") >= 1
    assert sample(families, "queueloop_deliveries", provider="sandbox", status="sent") == 1
    assert sample(families, "queueloop_deliveries", provider="sandbox", status="failed") == 1
    assert sample(families, "queueloop_publish_lateness_seconds_bucket", le="1.0") == 0
    assert sample(families, "queueloop_publish_lateness_seconds_bucket", le="2.0") == 1
    assert sample(families, "queueloop_publish_lateness_seconds_count") == 1
    assert sample(families, "queueloop_publish_lateness_seconds_sum") == pytest.approx(1.5)
    assert sample(families, "queueloop_planner_last_duration_seconds") == 0.5
    assert sample(families, "queueloop_planner_last_slots_planned") == 3
    assert sample(families, "queueloop_planner_created_total") == 10
    assert sample(families, "queueloop_planner_runs_total") == 2
    assert sample(families, "queueloop_watchdog_actions_total", action="missed") == 2
    assert sample(families, "queueloop_watchdog_actions_total", action="requeued") == 1
    assert sample(families, "queueloop_broker_up") == 1
    queue = sample(
        families, "queueloop_broker_queue_length", queue=settings.CELERY_TASK_DEFAULT_QUEUE
    )
    assert queue >= 0
    assert sample(families, "queueloop_timeslots_overdue") == 1


@override_settings(METRICS_TOKEN=TOKEN)
def test_a_planner_run_fanned_out_over_chunk_tasks(client):
    # plan_upcoming only sends plan_chunk tasks; each chunk counts what it created; the
    # engine records the whole run once the last chunk is done.
    opsrecord.task_run(task=opsrecord.PLANNER_TASK, duration_s=0.01, result={"chunks": 2})
    opsrecord.task_run(
        task=opsrecord.PLAN_CHUNK_TASK, duration_s=1, result={"chunk": 1, "created": 4}
    )
    opsrecord.task_run(
        task=opsrecord.PLAN_CHUNK_TASK, duration_s=1, result={"chunk": 2, "created": 5}
    )
    families = scrape(client, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert sample(families, "queueloop_planner_runs_total") == 1
    assert sample(families, "queueloop_planner_chunks_total") == 2
    assert sample(families, "queueloop_planner_created_total") == 9
    assert "queueloop_planner_last_duration_seconds" not in families
    opsrecord.planner_run_record(duration_s=2.5, created=9, enqueued=9)
    families = scrape(client, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert sample(families, "queueloop_planner_last_duration_seconds") == 2.5
    assert sample(families, "queueloop_planner_last_slots_planned") == 9
    assert sample(families, "queueloop_planner_created_total") == 9


@override_settings(METRICS_TOKEN=TOKEN, CELERY_BROKER_URL=DEAD_BROKER)
def test_metrics_with_the_broker_down_still_answer(client):
    families = scrape(client, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert sample(families, "queueloop_broker_up") == 0


@override_settings(METRICS_TOKEN=TOKEN)
def test_metrics_query_count_does_not_grow_with_rows(client, django_assert_max_num_queries):
    for _ in range(5):
        DeliveryFactory(status=Delivery.Status.SENT, sent_at=timezone.now())
    # lateness, slots by status, overdue, deliveries, planner state, the metrics
    # collector's due count and oldest due snapshot: one query each.
    with django_assert_max_num_queries(7):
        scrape(client, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")


# --- with a real worker ---------------------------------------------------------------------


@pytest.mark.worker
# CHANNEL_MIN_INTERVAL=0: three slots of one channel in one second, as an operator may allow.
@override_settings(METRICS_TOKEN=TOKEN, CHANNEL_MIN_INTERVAL=0)
def test_real_worker_beats_and_its_publications_are_in_the_histogram(client, worker):
    # The worker sent its first heartbeat when it became ready.
    wait_for(lambda: opsrecord.last_worker_heartbeat() is not None, what="a worker heartbeat")
    channel = ChannelFactory()
    at = timezone.now() + dt.timedelta(seconds=1)
    slots = [
        services.timeslot_pin(
            post=QueueEntryFactory(channel=channel).post, channel=channel, publish_at=at
        )
        for _ in range(3)
    ]
    wait_for(
        lambda: (
            Timeslot.objects.filter(
                id__in=[s.id for s in slots], status=Timeslot.Status.PUBLISHED
            ).count()
            == 3
        ),
        what="three slots to publish",
    )
    # The planner task, run by the worker: its duration and result are recorded.
    from queueloop.celery import app

    app.send_task(opsrecord.PLANNER_TASK)
    wait_for(
        lambda: opsrecord.counters(opsrecord.PLANNER_TASK, ["chunks"])["chunks"] >= 1,
        what="the planner run and its chunk tasks",
    )

    families = scrape(client, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert sample(families, "queueloop_publish_lateness_seconds_count", provider="sandbox") == 3
    assert sample(families, "queueloop_publish_lateness_seconds_bucket", le="+Inf") == 3
    assert sample(families, "queueloop_planner_runs_total") == 1
    assert sample(families, "queueloop_planner_chunks_total") >= 1
    status, body = get_health(client)
    assert body["checks"]["worker"]["ok"] is True, body
    assert body["checks"]["planner"]["ok"] is True, body
    assert status == 200, body
    time.sleep(0)  # (no waiting on time: every wait above polls a condition)
