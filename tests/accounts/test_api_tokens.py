"""API tokens: made on /settings/tokens/ or by the token endpoint, shown once, stored only as
a digest (so a copy of the database holds no key anyone could send), used on the API,
replaced and revoked; DRF's old plain keys are hashed by the migration and keep working."""

from __future__ import annotations

import hashlib
import importlib
import secrets

import pytest
from django.apps import apps
from django.db import connection
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import ApiToken, Membership
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"  # the factories' password
TOKEN_URL = "/api/v1/auth/token/"


@pytest.fixture
def member():
    return MembershipFactory(role=Membership.Role.VIEWER)  # a token is anyone's own


def works(key: str) -> bool:
    response = APIClient().get("/api/v1/workspaces/", HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code in (200, 401), response.content[:300]
    return response.status_code == 200


def shown_key(page: str) -> str:
    return page.split('id="new-key"')[1].split('value="')[1].split('"')[0]


def assert_only_a_digest_is_stored(key: str) -> None:
    [row] = ApiToken.objects.values("digest", "prefix")
    assert row["digest"] == hashlib.sha256(key.encode()).hexdigest()
    assert key not in row.values()
    assert row["prefix"] == key[:6]


def test_create_shows_the_key_once_and_it_works_on_the_api(web, member):
    page = web.get(reverse("api_tokens")).content.decode()
    assert "You have no API token." in page
    r = web.post(reverse("api_token_create"))
    assert r.status_code == 200 and r["Cache-Control"].startswith("max-age=0")
    key = shown_key(r.content.decode())
    assert len(key) >= 40
    assert_only_a_digest_is_stored(key)
    later = web.get(reverse("api_tokens")).content.decode()
    assert key not in later and f"{key[:6]}…" in later
    assert works(key)
    page = APIClient().get("/api/v1/workspaces/", HTTP_AUTHORIZATION=f"Token {key}")
    assert member.workspace.slug in page.content.decode()


def new_key_from_page(web) -> str:
    return shown_key(web.post(reverse("api_token_create")).content.decode())


def test_replacing_and_revoking_stop_the_old_key(web, member):
    old = new_key_from_page(web)
    new = new_key_from_page(web)
    assert new != old
    assert not works(old) and works(new)
    r = web.post(reverse("api_token_revoke"), follow=True)
    assert "API token revoked" in r.content.decode()
    assert not ApiToken.objects.filter(user=member.user).exists()
    assert not works(new)
    r = web.post(reverse("api_token_revoke"), follow=True)
    assert "You had no API token." in r.content.decode()


def test_tokens_are_personal_and_reached_from_the_profile(web, member):
    other = MembershipFactory(workspace=member.workspace)
    ApiToken.objects.create(user=other.user)
    page = web.get(reverse("api_tokens")).content.decode()
    assert "You have no API token." in page
    web.post(reverse("api_token_revoke"))
    assert ApiToken.objects.filter(user=other.user).exists()
    assert reverse("api_tokens") in web.get(reverse("profile")).content.decode()
    assert reverse("profile") in web.get(reverse("dashboard")).content.decode()


def test_get_on_the_post_urls_changes_nothing(web, member):
    assert web.get(reverse("api_token_create")).status_code == 405
    assert not ApiToken.objects.filter(user=member.user).exists()


def test_the_token_endpoint_shows_a_new_key_once_and_stores_its_digest(member):
    login = {"username": member.user.username, "password": PASSWORD}
    first = APIClient().post(TOKEN_URL, login, format="json")
    assert first.status_code == 200 and first["Cache-Control"] == "no-store"
    key = first.json()["token"]
    assert_only_a_digest_is_stored(key)
    assert works(key)
    # It cannot hand the same key back (it no longer has it): a second call replaces it.
    second = APIClient().post(TOKEN_URL, login, format="json").json()["token"]
    assert second != key and works(second) and not works(key)


def test_a_stored_digest_sent_as_the_key_is_refused(member):
    key = ApiToken.objects.create(user=member.user).key
    assert works(key)
    assert not works(ApiToken.objects.get().digest)
    assert not works(key[:-1]) and not works(key + "x")


def test_an_inactive_persons_token_is_refused(member):
    key = ApiToken.objects.create(user=member.user).key
    member.user.is_active = False
    member.user.save()
    assert not works(key)


# --- The migration from DRF's plain keys ---------------------------------------------------

LEGACY_DDL = """
CREATE TABLE authtoken_token (
    key varchar(40) PRIMARY KEY,
    created timestamp with time zone NOT NULL,
    user_id integer NOT NULL UNIQUE
)
"""


def test_the_migration_hashes_drfs_keys_so_they_keep_working_and_deletes_them(member):
    """DRF's authtoken table as it was (created here: the app is no longer installed), one
    key in it; the migration's function runs on it as `migrate` would."""
    migration = importlib.import_module("accounts.migrations.0005_api_token_hashes")
    legacy = secrets.token_hex(20)  # what DRF's Token.generate_key() makes
    other = MembershipFactory()
    with connection.cursor() as cursor:
        cursor.execute(LEGACY_DDL)
        cursor.execute(
            "INSERT INTO authtoken_token (key, created, user_id) VALUES (%s, now(), %s)",
            [legacy, member.user.id],
        )
        cursor.execute(
            "INSERT INTO authtoken_token (key, created, user_id) VALUES (%s, now(), %s)",
            [secrets.token_hex(20), other.user.id],
        )
    assert not works(legacy)  # not yet migrated: nothing reads the old table

    with connection.schema_editor() as editor:
        migration.hash_legacy_tokens(apps, editor)

    assert works(legacy)
    token = ApiToken.objects.get(user=member.user)
    assert (
        token.digest == hashlib.sha256(legacy.encode()).hexdigest() and token.prefix == legacy[:6]
    )
    assert ApiToken.objects.filter(user=other.user).exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM authtoken_token")
        assert cursor.fetchone() == (0,)
    # The page shows the migrated token by its start, and replacing it works.
    web = APIClient()
    web.force_login(member.user)
    assert f"{legacy[:6]}…" in web.get(reverse("api_tokens")).content.decode()


def test_the_migration_does_nothing_without_drfs_table():
    """A fresh install never had rest_framework.authtoken's table."""
    migration = importlib.import_module("accounts.migrations.0005_api_token_hashes")
    assert "authtoken_token" not in connection.introspection.table_names()
    with connection.schema_editor() as editor:
        migration.hash_legacy_tokens(apps, editor)
    assert not ApiToken.objects.exists()
