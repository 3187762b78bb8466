"""Trigram indexes for the posts list's search (`text ILIKE '%term%'` on posts and their
variations), PostgreSQL only.

Django compiles `icontains` to `UPPER(col::text) LIKE UPPER('%term%')`, which no B-tree
serves; a GIN index of pg_trgm's `gin_trgm_ops` on that same expression does. pg_trgm is
a contrib extension (trusted since PostgreSQL 13: a database owner may create it). Where
it cannot be created the migration leaves search unindexed, as before, instead of
failing the deploy; SQLite (the zero-setup default) has no such index.
"""

from django.db import migrations, transaction

INDEXES = {
    "post_text_trgm_idx": "posts_post",
    "variation_text_trgm_idx": "posts_variation",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(using=schema_editor.connection.alias):
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except Exception:  # no privilege or no contrib package: search stays a scan
        return
    for name, table in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} "
            "USING gin ((UPPER(text::text)) gin_trgm_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("posts", "0004_post_image_background_processing")]

    operations = [migrations.RunPython(create, drop)]
