"""API tokens stored as SHA-256 digests (accounts.ApiToken) instead of DRF's plain keys.

Every key of DRF's authtoken table is hashed into the new table, so scripts keep working
with the token they have, and the plain keys are then deleted: afterwards the database
holds no key anyone could send. DRF's table stays (empty) for an operator to drop; a fresh
install never had it. Going back cannot restore keys that are no longer stored: the tokens
are gone and people make new ones.
"""

import hashlib

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

LEGACY_TABLE = "authtoken_token"


def hash_legacy_tokens(apps, schema_editor):
    """Copy DRF's tokens as digests (the same rule as ApiToken.digest_of, frozen here),
    then delete the plain keys."""
    connection = schema_editor.connection
    if LEGACY_TABLE not in connection.introspection.table_names():
        return
    ApiToken = apps.get_model("accounts", "ApiToken")
    table = connection.ops.quote_name(LEGACY_TABLE)
    key = connection.ops.quote_name("key")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {key}, user_id, created FROM {table}")  # noqa: S608
        rows = cursor.fetchall()
        ApiToken.objects.using(connection.alias).bulk_create(
            ApiToken(
                user_id=user_id,
                digest=hashlib.sha256(plain.encode()).hexdigest(),
                prefix=plain[:6],
                created_at=created,
            )
            for plain, user_id, created in rows
        )
        cursor.execute(f"DELETE FROM {table}")  # noqa: S608


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_profile_display_zone"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ApiToken",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("digest", models.CharField(editable=False, max_length=64, unique=True)),
                ("prefix", models.CharField(editable=False, max_length=8)),
                (
                    "created_at",
                    models.DateTimeField(default=django.utils.timezone.now, editable=False),
                ),
                (
                    "user",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="api_token",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
        ),
        migrations.RunPython(hash_legacy_tokens, migrations.RunPython.noop, elidable=False),
    ]
