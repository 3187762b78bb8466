"""Production hardening: deploy checks, throttled logins, secure cookies, POST + CSRF."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.test import Client
from django.urls import reverse

from tests.factories import MembershipFactory

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "x" * 20 + "-production-like-secret-key-with-enough-entropy-9f8e7d6c5b4a",
    "ALLOWED_HOSTS": "queueloop.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://queueloop.example.com",
    "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    "BEHIND_TLS_PROXY": "true",
}


def production(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUEUELOOP_TEST")}
    env.update(PRODUCTION_ENV, DJANGO_SETTINGS_MODULE="queueloop.settings")
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_with_production_settings():
    result = production("manage.py", "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_cookies_are_secure_and_https_is_enforced():
    script = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        "print(json.dumps([s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.DEBUG]))"
    )
    result = production("-c", script)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [True, True, True, 31536000, False]


@pytest.mark.django_db
def test_logins_are_throttled_after_repeated_failures(client):
    member = MembershipFactory(user__username="alice")
    url = reverse("login")
    # tests/settings.py never locks the test client's own 127.0.0.1 out.
    client.defaults["REMOTE_ADDR"] = "192.0.2.55"
    for _ in range(4):
        response = client.post(url, {"username": "alice", "password": "wrong"})
        assert response.status_code == 200  # the form with its error
    # The fifth failure locks the username out (LOGIN_FAILURE_LIMIT)...
    response = client.post(url, {"username": "alice", "password": "wrong"})
    assert response.status_code == 429
    # ...and the sixth try is refused before the password is checked — even the right one.
    response = client.post(url, {"username": "alice", "password": "correct horse battery staple"})
    assert response.status_code == 429
    assert b"Too many failed logins" in response.content
    assert "_auth_user_id" not in client.session
    # Another user, elsewhere, is not locked out by alice's failures.
    other = MembershipFactory(user__username="bob").user
    client.defaults["REMOTE_ADDR"] = "192.0.2.56"
    response = client.post(url, {"username": "bob", "password": "correct horse battery staple"})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(other.pk)
    assert member.user.username == "alice"


@pytest.mark.django_db
def test_login_post_without_csrf_token_is_refused():
    MembershipFactory(user__username="carol")
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        reverse("login"), {"username": "carol", "password": "correct horse battery staple"}
    )
    assert response.status_code == 403
