"""Webhooks never reach our own network: refused at save time, again at send time after DNS
resolution (rebinding), redirects never followed; WEBHOOK_ALLOWED_HOSTS lets an operator
allow an internal receiver (issue 10, finding 3).

DNS is faked and every connect() recorded (tests/networks/netfakes.py): a refusal is proven by the
absence of a connection attempt, never by sending one.
"""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.test import override_settings
from django.urls import reverse

from accounts.models import Membership, SocialAccount
from publishing import services
from publishing.models import Delivery
from scheduling.models import Timeslot
from tests.factories import (
    ChannelFactory,
    MembershipFactory,
    QueueEntryFactory,
    ScheduleFactory,
    SocialAccountFactory,
)
from tests.networks.netfakes import fake_dns, record_connects
from tests.receiver import Receiver

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)
SECRET = "whsec-test-0123456789"
PUBLIC = "93.184.215.14"  # a public address; the fake DNS hands it out, nothing calls it

REFUSED_URLS = [
    "http://127.0.0.1/hook",
    "http://127.1.2.3:8080/hook",
    "http://localhost/hook",
    "http://0.0.0.0/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.5/hook",
    "http://172.16.0.1/hook",
    "http://192.168.1.1/hook",
    "http://100.64.0.1/hook",
    "http://224.0.0.1/hook",
    "http://240.0.0.1/hook",
    "http://[::1]/hook",
    "http://[::]/hook",
    "http://[fe80::1]/hook",
    "http://[fc00::1]/hook",
    "http://[ff02::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[::ffff:169.254.169.254]/hook",
    "http://metadata.example.com/hook",  # a name whose record is link-local
    "http://split.example.com/hook",  # one public and one private record
]


@pytest.fixture
def web(client):
    member = MembershipFactory(role=Membership.Role.OWNER)
    client.force_login(member.user)
    client.workspace = member.workspace
    return client


@pytest.fixture
def net(monkeypatch):
    fake_dns(
        monkeypatch,
        {
            "hooks.example.com": [PUBLIC],
            "metadata.example.com": ["169.254.169.254"],
            "split.example.com": [PUBLIC, "10.1.2.3"],
            "2130706433": ["127.0.0.1"],
            "hooks.internal": ["10.9.9.9"],
        },
    )
    return record_connects(monkeypatch)


def add_webhook(web, url: str, handle: str = "hook"):
    return web.post(
        reverse("account_add_webhook"), {"handle": handle, "url": url, "secret": SECRET}
    )


@override_settings(WEBHOOK_ALLOWED_HOSTS=[])
@pytest.mark.parametrize("url", REFUSED_URLS)
def test_saving_a_webhook_to_a_local_or_private_address_is_refused(web, net, url):
    response = add_webhook(web, url)
    assert response.status_code == 400
    assert "local, private or reserved network address" in response.content.decode()
    assert not SocialAccount.objects.filter(provider="webhook").exists()
    assert net == []  # nothing was contacted to decide


@override_settings(WEBHOOK_ALLOWED_HOSTS=[])
def test_loopback_spelled_as_one_integer_is_refused(web, net):
    # Django's URLField already refuses it; were it accepted, it resolves to 127.0.0.1.
    assert add_webhook(web, "http://2130706433/hook").status_code == 400
    assert not SocialAccount.objects.exists()
    assert net == []


@override_settings(WEBHOOK_ALLOWED_HOSTS=[])
def test_a_public_webhook_is_saved_and_an_unresolvable_one_is_refused(web, net):
    assert add_webhook(web, "https://hooks.example.com/in").status_code == 302
    response = add_webhook(web, "https://nowhere.example.com/in", handle="other")
    assert response.status_code == 400
    assert "does not resolve" in response.content.decode()
    assert net == []


@override_settings(WEBHOOK_ALLOWED_HOSTS=["hooks.internal", "127.0.0.1"])
def test_the_operator_allows_chosen_internal_hosts(web, net):
    assert add_webhook(web, "http://hooks.internal/in").status_code == 302
    assert add_webhook(web, "http://127.0.0.1:9000/in", handle="local").status_code == 302
    # Only the names listed: another loopback spelling is still refused.
    assert add_webhook(web, "http://localhost:9000/in", handle="l2").status_code == 400


def webhook_slot(url: str) -> Timeslot:
    channel = ChannelFactory(with_sandbox=False, slug="tech")
    account = SocialAccountFactory(
        workspace=channel.workspace,
        provider="webhook",
        handle="hook",
        credentials={"url": url, "secret": SECRET},
    )
    channel.accounts.add(account)
    QueueEntryFactory(channel=channel, post__text="Hello")
    slot = Timeslot.objects.create(
        channel=channel, schedule=ScheduleFactory(channel=channel), publish_at=T0, planned_for=T0
    )
    with time_machine.travel(T0, tick=False):
        services.timeslot_publish(timeslot_id=slot.id, token=str(slot.token))
        for delivery in Delivery.objects.filter(timeslot=slot):
            services.delivery_send(delivery_id=delivery.id)
    return slot


@override_settings(WEBHOOK_ALLOWED_HOSTS=[])
def test_a_saved_name_now_pointing_at_the_metadata_service_is_not_called(monkeypatch):
    # Saved while public; the record was then re-pointed (DNS rebinding).
    fake_dns(monkeypatch, {"hooks.example.com": ["169.254.169.254"]})
    attempts = record_connects(monkeypatch)
    slot = webhook_slot("http://hooks.example.com/hook")
    delivery = Delivery.objects.get(timeslot=slot)
    assert delivery.status == Delivery.Status.FAILED
    assert "local, private or reserved network address" in delivery.last_error
    assert "169.254" not in delivery.last_error  # no oracle for what the name resolves to
    assert [a for a in attempts if not a.startswith("127.")] == []


@override_settings(WEBHOOK_ALLOWED_HOSTS=[])
def test_rebinding_between_the_check_and_the_connection_is_refused(monkeypatch):
    """The first lookup (the check) answers public, the next (the connection) loopback: the
    guarded session checks the address it connects to, so the receiver gets nothing."""
    receiver = Receiver().start()
    try:
        port = receiver.url.split(":")[2].split("/")[0]
        answers = iter([[PUBLIC], ["127.0.0.1"], ["127.0.0.1"], ["127.0.0.1"]])
        fake_dns(monkeypatch, {"rebind.example.com": lambda: next(answers)})
        attempts = record_connects(monkeypatch)
        slot = webhook_slot(f"http://rebind.example.com:{port}/hook")
    finally:
        receiver.stop()
    delivery = Delivery.objects.get(timeslot=slot)
    assert delivery.status == Delivery.Status.FAILED
    assert "local, private or reserved" in delivery.last_error
    assert receiver.requests == []
    assert PUBLIC not in attempts and "127.0.0.1" not in attempts


def test_a_redirect_is_not_followed():
    """A 307 would re-POST the signed body wherever the receiver says, loopback included."""
    target, hop = Receiver().start(), Receiver().start()
    try:
        hop.status = 307
        hop.headers = {"Location": target.url}
        slot = webhook_slot(hop.url)
    finally:
        target.stop()
        hop.stop()
    delivery = Delivery.objects.get(timeslot=slot)
    assert delivery.status == Delivery.Status.FAILED
    assert "redirect" in delivery.last_error
    assert len(hop.requests) == 1 and target.requests == []
