"""Nobody can lock anybody else out: the login lock is per username *and* address.

Before: five wrong passwords for a username from one address locked that user out from
every address for 15 minutes, renewable forever (web login, admin login, token endpoint, a
superuser too). Now the owner logs in from their own address; the attacker's address alone
stays locked for that username; an address spraying many usernames is locked for all of
them at a higher limit; and a locked person unlocks themselves by an emailed, single-use
link. Addresses are documentation addresses set as REMOTE_ADDR (127.0.0.1 is whitelisted in
tests/settings.py): no traffic leaves the test client.
"""

from __future__ import annotations

import io
import itertools
import re

import pytest
import redis
from django.conf import settings
from django.core import mail
from django.core.management import call_command
from django.test import Client, override_settings
from django.urls import reverse

from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
TOKEN_URL = "/api/v1/auth/token/"
# IPv6 documentation addresses: no other test file counts in this range.
_addresses = (f"2001:db8::{i:x}" for i in itertools.count(1))


def client_from(address: str) -> Client:
    return Client(REMOTE_ADDR=address)


def fail(client: Client, url: str, username: str, times: int) -> list[int]:
    return [
        client.post(url, {"username": username, "password": "wrong"}).status_code
        for _ in range(times)
    ]


def log_in(client: Client, url: str, username: str) -> int:
    return client.post(url, {"username": username, "password": PASSWORD}).status_code


# (url, status of a wrong password, status of the right one)
WAYS_IN = {
    "web login": (reverse("login"), 200, 302),
    "admin login": (reverse("admin:login"), 200, 302),
    "token endpoint": (TOKEN_URL, 400, 200),
}


@pytest.mark.parametrize("way", WAYS_IN)
def test_five_wrong_passwords_from_a_do_not_lock_the_owner_out_from_b(way):
    url, wrong, right = WAYS_IN[way]
    # A superuser: the most tempting target, and the admin login's only users.
    owner = MembershipFactory(user__is_staff=True, user__is_superuser=True).user
    attacker = client_from(next(_addresses))
    codes = fail(attacker, url, owner.username, 7)
    assert codes[:4] == [wrong] * 4 and set(codes[4:]) == {429}

    assert log_in(client_from(next(_addresses)), url, owner.username) == right
    # Address A alone stays locked for that user, even with the right password...
    assert log_in(attacker, url, owner.username) == 429
    # ...and only for that user: another account logs in from A.
    other = MembershipFactory(user__is_staff=True, user__is_superuser=True).user
    assert log_in(attacker, url, other.username) == right


def test_a_username_and_address_that_join_into_anothers_do_not_share_a_lock():
    # axes hashes username + address with nothing between: "bob20" + "3.0.113.5" spells
    # "bob" + "203.0.113.5". Addresses are only REMOTE_ADDR strings here.
    victim = UserFactory(username="bob")
    fail(client_from("3.0.113.5"), reverse("login"), "bob20", 6)
    assert log_in(client_from("203.0.113.5"), reverse("login"), victim.username) == 302


def test_an_address_spraying_many_usernames_is_locked_for_every_username():
    limit = settings.LOGIN_ADDRESS_FAILURE_LIMIT
    assert limit == 50  # the documented default
    victim = UserFactory()
    sprayer = client_from(next(_addresses))
    codes = [fail(sprayer, reverse("login"), f"guess{i}", 1)[0] for i in range(limit)]
    assert codes[: limit - 1] == [200] * (limit - 1) and codes[-1] == 429
    # Every username is refused from that address now, the right password too...
    assert log_in(sprayer, reverse("login"), victim.username) == 429
    assert log_in(sprayer, TOKEN_URL, victim.username) == 429
    # ...and nobody is locked out anywhere else.
    assert log_in(client_from(next(_addresses)), reverse("login"), victim.username) == 302


@override_settings(LOGIN_ADDRESS_FAILURE_LIMIT=8)
def test_a_sprayer_cannot_clear_its_address_count_by_logging_in_to_its_own_account():
    own = UserFactory()
    address = next(_addresses)
    for i in range(4):
        fail(client_from(address), reverse("login"), f"guess-a{i}", 1)
    assert log_in(client_from(address), reverse("login"), own.username) == 302
    # A fresh client each time: a logged-in one is redirected before any password check.
    codes = [fail(client_from(address), reverse("login"), f"guess-b{i}", 1)[0] for i in range(4)]
    assert codes == [200, 200, 200, 429]


def unlock_link(message) -> str:
    match = re.search(r"https?://testserver(/login/unlock/[^/\s]+/)", message.body)
    assert match, message.body
    return match[1]


def redis_entries() -> list[tuple[str, bytes, int]]:
    """Every (key, value, ttl) this test run keeps in the cache."""
    location = settings.CACHES["default"]["LOCATION"]
    client = redis.Redis.from_url(location)
    prefix = settings.CACHES["default"]["KEY_PREFIX"]
    keys = client.keys(f"{prefix}:*")
    return [(k.decode(), client.get(k) or b"", client.ttl(k)) for k in keys]


def test_a_locked_out_owner_unlocks_their_address_by_an_emailed_link_once(mail_jobs):
    user = UserFactory()
    address = next(_addresses)
    client = client_from(address)
    fail(client, reverse("login"), user.username, 5)
    assert log_in(client, reverse("login"), user.username) == 429
    page = client.post(reverse("login"), {"username": user.username, "password": "x"})
    assert reverse("login_unlock_request") in page.content.decode()
    form = client.get(reverse("login_unlock_request"))
    assert form.status_code == 200 and 'name="username"' in form.content.decode()

    with mail_jobs():
        response = client.post(reverse("login_unlock_request"), {"username": user.username})
        assert response.status_code == 302 and response.url == reverse("login_unlock_sent")
        assert mail.outbox == []  # sent after the request, by a task
    assert [m.to for m in mail.outbox] == [[user.email]]
    path = unlock_link(mail.outbox[0])
    token = path.rstrip("/").rsplit("/", 1)[1]

    # Stored only as a hash, and expiring.
    entries = redis_entries()
    assert not [e for e in entries if token in e[0] or token.encode() in e[1]]
    (link_ttl,) = [ttl for key, _, ttl in entries if "login-unlock-link:" in key]
    assert 0 < link_ttl <= settings.LOGIN_UNLOCK_LINK_AGE.total_seconds()

    # Opening the link (a mail scanner does) does not spend it.
    assert client.get(path).status_code == 200
    assert client.get(path).status_code == 200
    assert log_in(client, reverse("login"), user.username) == 429
    response = client.post(path)
    assert response.status_code == 302 and response.url == reverse("login")
    assert log_in(client, reverse("login"), user.username) == 302

    # Once only.
    again = client_from(address).post(path)
    assert again.status_code == 400
    assert "invalid, expired or was already used" in again.content.decode()
    assert client_from(address).get(path).status_code == 400


def test_an_unlock_request_answers_the_same_and_sends_nothing_unless_locked_here(mail_jobs):
    user = UserFactory()
    locked_here = client_from(next(_addresses))
    fail(locked_here, reverse("login"), user.username, 5)
    elsewhere = client_from(next(_addresses))
    with mail_jobs():
        for username in (user.username, "nobody-at-all"):
            response = elsewhere.post(reverse("login_unlock_request"), {"username": username})
            assert response.status_code == 302 and response.url == reverse("login_unlock_sent")
    assert mail.outbox == []
    # A second request from the locked address within the interval sends no second email.
    with mail_jobs():
        for _ in range(3):
            locked_here.post(reverse("login_unlock_request"), {"username": user.username})
    assert len(mail.outbox) == 1


def test_a_flood_of_reset_requests_sends_at_most_one_email(mail_jobs):
    user = UserFactory()
    with mail_jobs():
        codes = [
            client_from(next(_addresses))
            .post(reverse("password_reset"), {"email": user.email})
            .status_code
            for _ in range(20)
        ]
    assert codes == [302] * 20  # the same answer every time
    assert [m.to for m in mail.outbox] == [[user.email]]
    # An unknown address gets that same answer (no account enumeration).
    response = client_from(next(_addresses)).post(
        reverse("password_reset"), {"email": "nobody@example.com"}
    )
    assert response.status_code == 302 and response.url == reverse("password_reset_done")


def test_one_address_asking_for_many_resets_is_throttled(mail_jobs):
    limit = settings.ACCOUNT_EMAIL_ADDRESS_LIMIT
    users = [UserFactory() for _ in range(limit + 2)]
    client = client_from(next(_addresses))
    with mail_jobs():
        codes = [
            client.post(reverse("password_reset"), {"email": u.email}).status_code for u in users
        ]
    assert codes == [302] * limit + [429, 429]
    assert len(mail.outbox) == limit
    assert (
        "Too many requests from your address"
        in client.post(reverse("password_reset"), {"email": users[0].email}).content.decode()
    )


@override_settings(LOGIN_ADDRESS_FAILURE_LIMIT=5)
def test_the_unlock_link_lets_its_owner_past_their_addresss_spray_lock_and_no_one_else(
    mail_jobs,
):
    user, other = UserFactory(), UserFactory()
    address = next(_addresses)
    for i in range(5):
        fail(client_from(address), reverse("login"), f"spray{i}", 1)
    client = client_from(address)
    assert log_in(client, reverse("login"), user.username) == 429
    with mail_jobs():
        client.post(reverse("login_unlock_request"), {"username": user.username})
    assert client.post(unlock_link(mail.outbox[0])).status_code == 302
    assert log_in(client, reverse("login"), user.username) == 302
    assert log_in(client_from(address), reverse("login"), other.username) == 429


@override_settings(LOGIN_ADDRESS_FAILURE_LIMIT=5)
def test_the_operator_lifts_an_addresss_spray_lock_with_axes_reset_ip():
    user = UserFactory()
    address = next(_addresses)
    for i in range(5):
        fail(client_from(address), reverse("login"), f"spray{i}", 1)
    assert log_in(client_from(address), reverse("login"), user.username) == 429
    call_command("axes_reset_ip", address, stdout=io.StringIO())
    assert log_in(client_from(address), reverse("login"), user.username) == 302
