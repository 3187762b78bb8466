"""One login throttle for every way in (issue 10, finding 4), and API throttling per token.

Before: 12 wrong passwords on /api/v1/auth/token/ then the right one returned a token; a
user locked out on /login/ still logged in at /admin/login/; 7 wrong admin logins all
answered 200. The addresses below are documentation ranges set as REMOTE_ADDR and
X-Forwarded-For strings: no traffic leaves the test client.
"""

from __future__ import annotations

import itertools

import pytest
from django.test import Client, override_settings
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import ApiToken
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
TOKEN_URL = "/api/v1/auth/token/"
_addresses = (f"198.51.100.{i}" for i in itertools.count(1))


@pytest.fixture
def alice():
    # A fresh username per test: the counters live in the (shared) cache for 15 minutes.
    return MembershipFactory(user__is_staff=True).user


def client_from(address: str | None = None) -> Client:
    return Client(REMOTE_ADDR=address or next(_addresses))


def fail(client: Client, url: str, username: str, times: int) -> list[int]:
    return [
        client.post(url, {"username": username, "password": "wrong"}).status_code
        for _ in range(times)
    ]


def test_the_token_endpoint_locks_out_after_five_failures_even_the_right_password(alice):
    client = client_from()
    codes = fail(client, TOKEN_URL, alice.username, 12)
    assert codes[:4] == [400] * 4 and set(codes[4:]) == {429}
    response = client.post(TOKEN_URL, {"username": alice.username, "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many failed logins" in response.json()["detail"]
    assert not ApiToken.objects.filter(user=alice).exists()


def test_locked_out_on_the_web_login_means_locked_out_in_the_admin_too(alice):
    address = next(_addresses)
    fail(client_from(address), reverse("login"), alice.username, 5)
    # The same address: the username is locked from it, whichever way in it tries.
    admin = client_from(address)
    response = admin.post(
        reverse("admin:login"), {"username": alice.username, "password": PASSWORD}
    )
    assert response.status_code == 429
    assert "_auth_user_id" not in admin.session
    token = client_from(address).post(TOKEN_URL, {"username": alice.username, "password": PASSWORD})
    assert token.status_code == 429


def test_wrong_admin_logins_are_throttled(alice):
    client = client_from()
    codes = fail(client, reverse("admin:login"), alice.username, 7)
    assert codes[:4] == [200] * 4 and set(codes[4:]) == {429}


# The spray limit is 50 by default (tests/accounts/test_login_lockout.py); 5 keeps these short.
@override_settings(LOGIN_ADDRESS_FAILURE_LIMIT=5)
def test_one_address_guessing_many_usernames_is_locked_out():
    client = client_from()
    users = [UserFactory() for _ in range(6)]
    codes = [fail(client, reverse("login"), u.username, 1)[0] for u in users]
    assert codes[:4] == [200] * 4 and set(codes[4:]) == {429}
    # The last user, from their own address, is not locked out.
    response = client_from().post(
        reverse("login"), {"username": users[-1].username, "password": PASSWORD}
    )
    assert response.status_code == 302


@override_settings(TRUSTED_PROXY_COUNT=1, LOGIN_ADDRESS_FAILURE_LIMIT=5)
def test_behind_the_proxy_the_lock_is_per_forwarded_client_not_per_proxy(alice):
    proxy = "10.0.0.2"  # every request arrives from the TLS proxy
    attacker = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="203.0.113.66")
    for user in [UserFactory() for _ in range(6)]:
        fail(attacker, reverse("login"), user.username, 1)
    # A forged left-hand entry does not escape the lock: the proxy appended the real one.
    forged = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.66")
    assert fail(forged, reverse("login"), UserFactory().username, 1) == [429]
    # Everyone else behind the same proxy still logs in.
    victim = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="203.0.113.7")
    response = victim.post(reverse("login"), {"username": alice.username, "password": PASSWORD})
    assert response.status_code == 302


@override_settings(API_THROTTLE_RATE="3/minute")
def test_the_api_is_throttled_per_token():
    first, second = APIClient(), APIClient()
    for client in (first, second):
        token = ApiToken.objects.create(user=MembershipFactory().user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    codes = [first.get("/api/v1/channels/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert second.get("/api/v1/channels/").status_code == 200
