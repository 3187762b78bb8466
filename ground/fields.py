"""An encrypted JSON field for credentials (OAuth tokens, webhook secrets).

Values are serialised to JSON and encrypted with Fernet (AES-128-CBC + HMAC-SHA256) using
the keys in FIELD_ENCRYPTION_KEY. MultiFernet encrypts with the first key and decrypts with
any, which is what makes key rotation possible: put the new key first, run
`manage.py rotate_encryption_key`, then drop the old key.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


@lru_cache(maxsize=4)
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except (ValueError, TypeError):
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEY must be comma-separated Fernet keys (32 url-safe base64 bytes)"
        ) from None


def fernet() -> MultiFernet:
    return _fernet_for(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt_json(value: Any) -> str:
    return fernet().encrypt(json.dumps(value, sort_keys=True).encode()).decode()


def decrypt_json(token: str) -> Any:
    try:
        return json.loads(fernet().decrypt(token.encode()))
    except InvalidToken:
        raise ImproperlyConfigured(
            "Stored credentials cannot be decrypted with FIELD_ENCRYPTION_KEY: "
            "was the key changed without keeping the old one in the list?"
        ) from None


class EncryptedJSONField(models.TextField):
    """A dict stored as Fernet ciphertext; never filter or order by it."""

    description = "JSON encrypted at rest"

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return {}
        return decrypt_json(value)

    def to_python(self, value):
        if isinstance(value, dict):
            return value
        if value in (None, ""):
            return {}
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                return decrypt_json(value)
        return value

    def get_prep_value(self, value):
        if value is None:
            value = {}
        return encrypt_json(value)

    def value_to_string(self, obj):
        # Fixtures and dumpdata get ciphertext, never plaintext.
        return self.get_prep_value(self.value_from_object(obj))
