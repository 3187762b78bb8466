"""Production without EMAIL_URL sends no email, never prints one, and says so.

Before: with EMAIL_URL unset (docker-compose's default) reset emails went to the console
backend on the web's stdout, outside the log redaction, and a link copied from the log
worked. Now production (DEBUG off) drops mail (ground.mail.DisabledEmailBackend), the
reset and unlock pages say "this server cannot send email", and /healthz warns; development
(DEBUG on) keeps the console.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml
from django.core import mail
from django.test import Client, override_settings
from django.urls import reverse

from tests.factories import UserFactory
from tests.project.test_docker_compose import (
    COMPOSE,
    ENV_EXAMPLE,
    environment,
    interpolate,
    read_env_file,
)
from tests.project.test_settings import A_FERNET_KEY, BASE_DIR, clean_env

PRODUCTION = {"SECRET_KEY": "x" * 50, "FIELD_ENCRYPTION_KEY": A_FERNET_KEY}
CANNOT_SEND = "This server cannot send email; ask your operator."
NO_EMAIL = override_settings(EMAIL_BACKEND="ground.mail.DisabledEmailBackend")

PROBE = """
import json
import queueloop.settings as s
print(json.dumps({"EMAIL_BACKEND": s.EMAIL_BACKEND}))
"""


def email_backend(tmp_path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=BASE_DIR,
        env=clean_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def backend_of(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])["EMAIL_BACKEND"]


def test_production_without_email_url_sends_no_mail_and_development_prints_it(tmp_path):
    assert backend_of(email_backend(tmp_path, **PRODUCTION)) == ("ground.mail.DisabledEmailBackend")
    assert backend_of(email_backend(tmp_path, DEBUG="true")) == (
        "django.core.mail.backends.console.EmailBackend"
    )
    smtp = email_backend(tmp_path, **PRODUCTION, EMAIL_URL="smtp://u:p@mail.example.com:587")
    assert backend_of(smtp) == "django.core.mail.backends.smtp.EmailBackend"


def test_production_refuses_the_console_backend(tmp_path):
    result = email_backend(
        tmp_path, **PRODUCTION, EMAIL_BACKEND="django.core.mail.backends.console.EmailBackend"
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured: EMAIL_BACKEND" in result.stderr


@NO_EMAIL
def test_the_disabled_backend_prints_nothing(capfd):
    sent = mail.send_mail("Reset", "https://example.com/reset/secret-token/", "a@b.c", ["d@e.f"])
    assert sent == 0
    out, err = capfd.readouterr()
    assert "secret-token" not in out + err


@NO_EMAIL
@pytest.mark.django_db
def test_the_reset_page_says_it_cannot_send_and_sends_nothing(capfd):
    user = UserFactory()
    client = Client(REMOTE_ADDR="2001:db8:e::1")
    page = client.get(reverse("password_reset"))
    assert page.status_code == 200 and CANNOT_SEND in page.content.decode()
    response = client.post(reverse("password_reset"), {"email": user.email})
    assert response.status_code == 503 and CANNOT_SEND in response.content.decode()
    unlock = client.post(reverse("login_unlock_request"), {"username": user.username})
    assert unlock.status_code == 503 and CANNOT_SEND in unlock.content.decode()
    assert mail.outbox == []
    out, err = capfd.readouterr()
    assert "password-reset/" not in out + err and "login/unlock/" not in out + err


@NO_EMAIL
@pytest.mark.django_db
def test_healthz_warns_that_this_server_cannot_send_email(client):
    response = client.get("/healthz?checks=email")
    check = response.json()["checks"]["email"]
    assert check["sends"] is False and check["backend"] == "disabled"
    assert "cannot send email" in check["warning"]
    # Publishing does not need email: a warning, not a failed probe.
    assert response.status_code == 200 and check["ok"] is True


@pytest.mark.django_db
def test_healthz_says_when_email_is_sent(client):
    check = client.get("/healthz?checks=email").json()["checks"]["email"]
    assert check["sends"] is True and check["backend"] == "locmem" and "warning" not in check


def test_compose_with_the_example_env_sends_no_mail_until_email_url_is_set(tmp_path):
    compose = yaml.safe_load(COMPOSE.read_text())
    dotenv = {**read_env_file(ENV_EXAMPLE), "POSTGRES_PASSWORD": "pw", **PRODUCTION}
    web = {k: interpolate(v, dotenv) for k, v in environment(compose["services"]["web"]).items()}
    web.pop("QUEUELOOP_VAR_DIR")
    web.pop("STATIC_ROOT")
    assert web["EMAIL_URL"] == "" and web["DEBUG"] == "false"
    assert backend_of(email_backend(tmp_path, **web)) == "ground.mail.DisabledEmailBackend"
