"""Deliveries sent in chunks: one rate-limited account and one timeout in a chunk."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import override_settings
from django.utils import timezone

from publishing import services as publishing
from publishing.models import Delivery
from scheduling.models import Timeslot
from tests.factories import (
    ChannelFactory,
    QueueEntryFactory,
    SocialAccountFactory,
)
from tests.publishing.slots import due_slot


@pytest.mark.django_db(transaction=True)
def test_chunk_with_one_rate_limited_account_and_one_timeout(receivers, broker):
    ok, limited, slow = receivers
    limited.status = 429
    slow.delay = 2.0
    channel = ChannelFactory(with_sandbox=False)
    accounts = {}
    for name, r in (("ok", ok), ("limited", limited), ("slow", slow)):
        accounts[name] = SocialAccountFactory(
            workspace=channel.workspace,
            provider="webhook",
            handle=name,
            credentials={"url": r.url, "secret": "s"},
        )
        channel.accounts.add(accounts[name])
    QueueEntryFactory(channel=channel)
    QueueEntryFactory(channel=channel)
    now = timezone.now()
    slots = [due_slot(channel, now), due_slot(channel, now)]
    publishing.timeslots_publish(pairs=[(s.id, str(s.token)) for s in slots], now=now)
    ids = list(Delivery.objects.values_list("id", flat=True))
    assert len(ids) == 6
    broker.purge()
    with override_settings(WEBHOOK_HTTP_TIMEOUT=0.5):
        statuses = publishing.deliveries_send(delivery_ids=ids, now=now)

    by_account = {
        name: list(Delivery.objects.filter(account=a).order_by("id"))
        for name, a in accounts.items()
    }
    assert [d.status for d in by_account["ok"]] == ["sent", "sent"]
    # The rate-limited account was called once: its second delivery waits for the reset
    # without a call, and both come back after it.
    assert len(limited.requests) == 1
    assert [d.status for d in by_account["limited"]] == ["pending", "pending"]
    assert all(d.next_attempt_at > now + dt.timedelta(seconds=30) for d in by_account["limited"])
    # The timeout: webhooks are idempotent (Idempotency-Key), so it is retried, with backoff.
    assert [d.status for d in by_account["slow"]] == ["pending", "pending"]
    assert "did not answer in time" in by_account["slow"][0].last_error
    assert set(statuses.values()) == {"sent", "pending"}
    # Retries are messages with an ETA; the slots wait for them, still publishing.
    retry_ids = {i for m in broker.messages() for i in m["args"][0]}
    assert retry_ids == {d.id for d in by_account["limited"] + by_account["slow"]}
    assert set(Timeslot.objects.values_list("status", flat=True)) == {"publishing"}
