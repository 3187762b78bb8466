"""The collector's health in /healthz and /metrics: its lag and its failures by network."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import cache
from django.test import override_settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from results.collector import TASK
from results.models import Tracking
from tests.factories import SocialAccountFactory
from tests.results.helpers import sandbox_posts, sent_deliveries

pytestmark = pytest.mark.django_db
TOKEN = "metrics-test-token-0123456789"


@pytest.fixture(autouse=True)
def no_counters():
    cache.delete_many([f"ops:total:{TASK}:failures:{n}" for n in ("x", "sandbox", "mastodon")])
    yield


def _due(hours_late: float) -> None:
    account = SocialAccountFactory()
    [delivery] = sent_deliveries(account, sandbox_posts(account, 1), sent_at=timezone.now())
    due = timezone.now() - dt.timedelta(hours=hours_late)
    Tracking.objects.create(
        delivery=delivery, sent_at=delivery.sent_at, next_age="1h", due_at=due, age_due_at=due
    )


def test_healthz_reports_the_lag_and_fails_past_its_limit(client, settings):
    settings.HEALTH_RESULTS_MAX_LAG = dt.timedelta(hours=6)
    response = client.get("/healthz?checks=results")
    assert response.status_code == 200
    assert response.json()["checks"]["results"]["lag_seconds"] == 0
    _due(hours_late=2)
    body = client.get("/healthz?checks=results").json()["checks"]["results"]
    assert body["ok"] and body["due"] == 1 and 7190 < body["lag_seconds"] < 7300
    _due(hours_late=7)
    response = client.get("/healthz?checks=results")
    assert response.status_code == 503
    assert response.json()["checks"]["results"]["due"] == 2


@override_settings(METRICS_TOKEN=TOKEN)
def test_metrics_show_the_lag_the_backlog_and_failures_by_network(client):
    from ground import opsrecord

    _due(hours_late=1)
    opsrecord.counter_add(f"{TASK}:failures:x", 3)
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(response.content.decode())
        for s in f.samples
    }
    assert 3590 < samples[("queueloop_results_lag_seconds", ())] < 3700
    assert samples[("queueloop_results_due", ())] == 1
    assert samples[("queueloop_results_failures_total", (("network", "x"),))] == 3
    assert samples[("queueloop_results_failures_total", (("network", "mastodon"),))] == 0
