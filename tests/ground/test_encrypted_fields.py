"""Credentials are encrypted at rest, survive a key rotation, and never leak in dumps."""

from __future__ import annotations

import io
import json

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import override_settings

from accounts.models import SocialAccount
from tests.factories import SocialAccountFactory

pytestmark = pytest.mark.django_db

CREDENTIALS = {
    "access_token": "tok-PLAINTEXT-123",
    "refresh_token": "ref-PLAINTEXT-456",
    "expires_at": 1893456000,
}


def stored(account: SocialAccount) -> str:
    """The credentials column exactly as the database holds it (past the ORM field)."""
    table = connection.ops.quote_name(SocialAccount._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT credentials FROM {table} WHERE id = %s", [account.pk])  # noqa: S608
        return cursor.fetchone()[0]


def rotate(**kwargs) -> str:
    out = io.StringIO()
    call_command("rotate_encryption_key", stdout=out, **kwargs)
    return out.getvalue()


@pytest.fixture
def account():
    return SocialAccountFactory(provider=SocialAccount.Provider.X, credentials=CREDENTIALS)


def test_no_plaintext_at_rest_and_a_round_trip_through_the_orm(account):
    raw = stored(account)
    assert "PLAINTEXT" not in raw
    assert "access_token" not in raw  # not even the keys of the JSON
    assert raw.startswith("gAAAAA")  # a Fernet token
    assert SocialAccount.objects.get(pk=account.pk).credentials == CREDENTIALS


def test_each_save_uses_a_fresh_iv(account):
    before = stored(account)
    account.save()
    assert stored(account) != before  # same plaintext, different ciphertext
    assert SocialAccount.objects.get(pk=account.pk).credentials == CREDENTIALS


def test_rotation_to_a_new_key(settings, account):
    old = settings.FIELD_ENCRYPTION_KEYS[0]
    new = Fernet.generate_key().decode()
    other = SocialAccountFactory(credentials={"url": "https://hooks.example", "secret": "s3"})

    # Without rotating, dropping the old key would lose the credentials.
    with override_settings(FIELD_ENCRYPTION_KEYS=[new]):
        with pytest.raises(ImproperlyConfigured, match="cannot be decrypted"):
            SocialAccount.objects.get(pk=account.pk)

    with override_settings(FIELD_ENCRYPTION_KEYS=[new, old]):
        before = stored(account)
        assert "2 still use an older key" in rotate(dry_run=True)
        assert stored(account) == before  # a dry run changes nothing
        out = rotate()
    assert "Re-encrypted 2 credential row(s)" in out

    raw = stored(account)
    assert "PLAINTEXT" not in raw
    with pytest.raises(InvalidToken):
        Fernet(old.encode()).decrypt(raw.encode())
    assert json.loads(Fernet(new.encode()).decrypt(raw.encode())) == CREDENTIALS

    with override_settings(FIELD_ENCRYPTION_KEYS=[new]):
        assert SocialAccount.objects.get(pk=account.pk).credentials == CREDENTIALS
        assert SocialAccount.objects.get(pk=other.pk).credentials["secret"] == "s3"
        # New writes use the new key too.
        account.credentials = {**CREDENTIALS, "access_token": "tok-PLAINTEXT-789"}
        account.save()
        assert SocialAccount.objects.get(pk=account.pk).credentials["access_token"] == (
            "tok-PLAINTEXT-789"
        )


def test_rotation_refuses_when_a_row_cannot_be_decrypted(account):
    before = stored(account)
    stranger = Fernet.generate_key().decode()
    with override_settings(FIELD_ENCRYPTION_KEYS=[stranger]):
        with pytest.raises(CommandError, match=rf"can decrypt \(ids: {account.pk}\)"):
            rotate()
    assert stored(account) == before  # nothing changed


def test_rotation_with_no_accounts_reports_zero():
    assert "Re-encrypted 0 credential row(s)" in rotate()


def test_dumpdata_holds_ciphertext_and_loads_back(account, tmp_path):
    out = io.StringIO()
    call_command("dumpdata", "accounts.socialaccount", stdout=out)
    dump = out.getvalue()
    assert "PLAINTEXT" not in dump
    assert "access_token" not in dump
    [row] = json.loads(dump)
    assert row["fields"]["credentials"].startswith("gAAAAA")

    # The dump is a usable backup: loading it restores the same credentials.
    SocialAccount.objects.filter(pk=account.pk).delete()
    fixture = tmp_path / "accounts.json"
    fixture.write_text(dump)
    call_command("loaddata", str(fixture), verbosity=0)
    assert SocialAccount.objects.get(pk=account.pk).credentials == CREDENTIALS
