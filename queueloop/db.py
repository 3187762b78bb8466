"""One SQL statement the ORM does not write: update many rows, each with its own values.

Django's `bulk_update` builds one `CASE WHEN id=… THEN …` per field and row; for the engine's
batches (hundreds of rows, several fields) compiling it was about half of a worker's CPU
(bench/README.md, engine v2 profile). `UPDATE … FROM (VALUES …)` says the same in one short
statement, works on PostgreSQL and SQLite (3.33+), and can carry a condition and RETURNING.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from django.db import connection, models
from django.utils import timezone

# Field classes whose get_db_prep_save returns a value of this exact type unchanged. A hot
# second's batches prepare ~20,000 values; Django's generic path (get_prep_value, to_python,
# the backend's adapter) cost 2-3 us each, more than the rest of building the statement.
# Exact classes, never subclasses: a subclass may transform (EncryptedJSONField is a
# TextField that encrypts), so it always takes its own get_db_prep_save.
_PASS_THROUGH: dict[type[models.Field], type] = {
    **dict.fromkeys(
        (
            models.AutoField,
            models.BigAutoField,
            models.SmallAutoField,
            models.IntegerField,
            models.BigIntegerField,
            models.SmallIntegerField,
            models.PositiveIntegerField,
            models.PositiveBigIntegerField,
            models.PositiveSmallIntegerField,
        ),
        int,
    ),
    **dict.fromkeys((models.CharField, models.TextField, models.SlugField), str),
    models.BooleanField: bool,
}


def _preparer(field: models.Field) -> Callable[[object], object]:
    """`field.get_db_prep_save`, with the generic path skipped where it changes nothing: None,
    a value of the column's own plain type, or an aware datetime for a DateTimeField (only
    the backend's adapter applies to it)."""
    slow = field.get_db_prep_save
    # A plain foreign key saves its target's value (an integer primary key).
    target = field.target_field if type(field) is models.ForeignKey else field
    plain = _PASS_THROUGH.get(type(target))
    if plain is not None:
        return lambda v: v if v is None or type(v) is plain else slow(v, connection)
    if type(field) is models.DateTimeField:
        adapt = connection.ops.adapt_datetimefield_value

        def prepare(v):
            if type(v) is dt.datetime and v.tzinfo is not None:
                return adapt(v)
            return slow(v, connection)

        return prepare
    return lambda v: slow(v, connection)


def update_from_values(
    model: type[models.Model],
    rows: Sequence[dict],
    *,
    fields: Sequence[str],
    where: str = "",
    where_params: Sequence = (),
) -> list[int]:
    """Set `fields` on each row {"id": …, field: value, …}; return the ids changed.

    `where` is an extra SQL condition on the target table `t` (e.g. "t.status = %s").
    Values are prepared by each field as the ORM would (JSON, UUIDs, aware datetimes);
    only column names and placeholders are formatted into the statement.
    """
    if not rows:
        return []
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    pk = meta.pk
    postgres = connection.vendor == "postgresql"

    def cast(field, placeholder: str) -> str:
        # PostgreSQL types VALUES columns from their literals (text for a datetime string,
        # unknown for NULL): cast to the column's type. SQLite converts by affinity.
        return f"CAST({placeholder} AS {field.db_type(connection)})" if postgres else placeholder

    width = ", ".join([cast(pk, "%s")] + [cast(f, "%s") for f in columns])
    values = ", ".join([f"({width})"] * len(rows))
    if postgres:
        alias = "v(" + ", ".join(["id"] + [f"c{i}" for i in range(len(columns))]) + ")"
        refs = ["v.id"] + [f"v.c{i}" for i in range(len(columns))]
    else:  # SQLite names VALUES columns itself and takes no column list on an alias
        alias = "v"
        refs = [f"v.column{i + 1}" for i in range(len(columns) + 1)]
    sets = ", ".join(f"{f.column} = {refs[i + 1]}" for i, f in enumerate(columns))
    keys = [f.attname if f.attname in rows[0] else f.name for f in columns]
    prepare = [_preparer(f) for f in columns]
    params: list = []
    for row in rows:
        params.append(row["id"])
        params.extend(p(row[k]) for p, k in zip(prepare, keys, strict=True))
    condition = f" AND ({where})" if where else ""
    # PostgreSQL needs the alias (v has an id too); SQLite refuses a qualified name here.
    returning = f"t.{pk.column}" if postgres else pk.column
    sql = (
        f"UPDATE {meta.db_table} AS t SET {sets} "  # noqa: S608
        f"FROM (VALUES {values}) AS {alias} "
        f"WHERE t.{pk.column} = {refs[0]}{condition} RETURNING {returning}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *where_params])
        return [r[0] for r in cursor.fetchall()]


def insert_returning_ids(model: type[models.Model], rows: Sequence[dict]) -> list[int]:
    """INSERT many rows of `model` (each a dict of field name → value, every other field
    taking its default) and return their new ids, in order.

    `bulk_create` prepares every field of every object (pre_save, get_db_prep_save): for a
    batch of deliveries that was ~0.9 ms a row (bench/README.md). Here only the given fields
    and the defaults are prepared, once per row.
    """
    if not rows:
        return []
    meta = model._meta
    names = list(rows[0])
    fields = [meta.get_field(n) for n in names]
    defaults = [
        f
        for f in meta.concrete_fields
        if not f.primary_key and f.name not in names and f.attname not in names
    ]
    now = timezone.now()
    default_values = [
        f.get_db_prep_save(
            now
            if getattr(f, "auto_now_add", False) or getattr(f, "auto_now", False)
            # Django's own default: the field's default, else "" for text, else None.
            else f.get_default(),
            connection,
        )
        for f in defaults
    ]
    columns = ", ".join(f.column for f in fields + defaults)
    marks = "(" + ", ".join(["%s"] * (len(fields) + len(defaults))) + ")"
    prepare = [_preparer(f) for f in fields]
    params: list = []
    for row in rows:
        params.extend(p(row[name]) for p, name in zip(prepare, names, strict=True))
        params.extend(default_values)
    sql = (
        f"INSERT INTO {meta.db_table} ({columns}) "  # noqa: S608
        f"VALUES {', '.join([marks] * len(rows))} RETURNING {meta.pk.column}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [r[0] for r in cursor.fetchall()]
