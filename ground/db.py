"""The engine's bulk SQL, where the ORM's generic path cost most of a hot second's CPU:
update many rows each with its own values, insert many rows returning their ids, and pass a
list of ids as one parameter (bench/README.md has the profiles); plus the few helpers the
apps' plain SQL modules (publishing/sql.py, channels/sql.py, scheduling/sql.py) share to run
a statement on PostgreSQL and SQLite alike and read its values back.

Only documented means: SQL through `connection.cursor().execute(sql, params)`, a registered
Lookup, the model fields' documented `get_db_prep_save`, the drivers' adapters. Nothing here
reads Django's compiled SQL or its compiler.

Django's `bulk_update` builds one `CASE WHEN id=… THEN …` per field and row; for the engine's
batches (hundreds of rows, several fields) compiling it was about half of a worker's CPU
(bench/README.md, engine v2 profile). `UPDATE … FROM (VALUES …)` says the same in one short
statement, works on PostgreSQL and SQLite (3.33+), and can carry a condition and RETURNING.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Callable, Sequence

from django.db import NotSupportedError, connection, models
from django.db.models import Lookup
from django.utils import timezone


class Ids(list):
    """Integer keys that travel as ONE statement parameter: a PostgreSQL array literal, or a
    JSON array for SQLite's json_each. Written from ints only, so nothing can be injected."""

    @classmethod
    def of(cls, values) -> Ids:
        """The keys as `__in` would take them: an instance by its pk, None dropped, and a
        key no 64-bit column can hold dropped too (it matches no row; as an array element
        PostgreSQL would refuse the whole statement)."""
        keys = cls()
        for value in values:
            key = getattr(value, "pk", value)
            if key is not None and _BIGINT[0] <= (key := int(key)) <= _BIGINT[1]:
                keys.append(key)
        return keys


_BIGINT = (-(2**63), 2**63 - 1)


try:  # the driver is only there when PostgreSQL is configured
    from psycopg2.extensions import AsIs, register_adapter

    register_adapter(
        Ids,
        lambda ids: AsIs("'{%s}'::bigint[]" % ",".join([str(int(i)) for i in ids])),  # noqa: UP031
    )
except ImportError:  # pragma: no cover
    pass
sqlite3.register_adapter(Ids, lambda ids: json.dumps([int(i) for i in ids]))


class AnyOf(Lookup):
    """`field__any=[...]`: the row's key is one of these ints, as `__in` says, but with the
    list as one parameter.

    `__in` prepares every element through the field (the engine passes ~10 keys a slot:
    bench/README.md, "Engine v2, fifth follow-up") and its statement changes with the list's
    length. `= ANY(array)` says the same in one fixed statement. A registered Lookup is Django's
    documented extension point (docs: "Custom Lookups"); the plain SQL modules pass an `Ids` to
    `= ANY(%s)` the same way.
    """

    lookup_name = "any"
    prepare_rhs = False

    def get_prep_lookup(self):
        field = getattr(self.lhs, "output_field", None)
        if not isinstance(getattr(field, "target_field", field), models.IntegerField):
            raise TypeError(f"__any takes integer keys, not {type(field).__name__} ones")
        # An Ids is already clean (a list the ORM copied, or the caller's own Ids).
        return self.rhs if type(self.rhs) is Ids else Ids.of(self.rhs)

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s)", [*params, self.rhs]
        if connection.vendor != "sqlite":
            raise NotSupportedError("__any is written for PostgreSQL and SQLite")
        sql = f"{lhs} IN (SELECT value FROM json_each(%s))"  # noqa: S608 (a column, then %s)
        return sql, [*params, self.rhs]


# Keys: integer columns (AutoField and BigAutoField are IntegerFields) and foreign keys.
models.IntegerField.register_lookup(AnyOf)
models.ForeignKey.register_lookup(AnyOf)


# --- For the plain SQL modules ---------------------------------------------------------------


def any_of(column: str) -> str:
    """SQL for "column is one of the ints of one `Ids` parameter" (as `__any` writes it).
    `column` is a constant of the calling module, never input."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)"
    if connection.vendor != "sqlite":
        raise NotSupportedError("the plain SQL modules are written for PostgreSQL and SQLite")
    return f"{column} IN (SELECT value FROM json_each(%s))"  # noqa: S608 (a column, then %s)


def table(model: type[models.Model]) -> str:
    """The model's table, quoted as the ORM writes it (standard SQL double quotes: both
    backends), so the statement reads like the ORM's in logs and pg_stat_activity."""
    return f'"{model._meta.db_table}"'


def fetch(sql: str, params: Sequence = ()) -> list[tuple]:
    """Run one statement through the documented cursor; its rows as tuples."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def aware(value) -> dt.datetime | None:
    """A datetime column read by plain SQL: PostgreSQL gives an aware datetime, SQLite the
    stored UTC text (Django stores naive UTC there when USE_TZ)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def db_datetime(value: dt.datetime):
    """An aware datetime as a statement parameter, in the form Django stores it (UTC text
    on SQLite, the datetime itself on PostgreSQL): the field's documented get_db_prep_value,
    told the value is already a datetime (prepared=True skips only the to_python step)."""
    return _DATETIME.get_db_prep_value(value, connection, prepared=True)


_DATETIME = models.DateTimeField()


def json_value(value):
    """A JSON column read by plain SQL: text on both backends as Django configures them."""
    return json.loads(value) if isinstance(value, str | bytes) else value


# Field classes whose get_db_prep_save returns a value of this exact type unchanged. A hot
# second's batches prepare ~20,000 values; Django's generic path (get_prep_value, to_python,
# the backend's adapter) cost more than the rest of building the statement (bench/README.md).
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
    the backend's adapter applies to it: get_db_prep_value with prepared=True)."""
    slow = field.get_db_prep_save
    # A plain foreign key saves its target's value (an integer primary key).
    target = field.target_field if type(field) is models.ForeignKey else field
    plain = _PASS_THROUGH.get(type(target))
    if plain is not None:
        return lambda v: v if v is None or type(v) is plain else slow(v, connection)
    if type(field) is models.DateTimeField:

        def prepare(v):
            if type(v) is dt.datetime and v.tzinfo is not None:
                return field.get_db_prep_value(v, connection, prepared=True)
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

    `bulk_create` prepares every field of every object (pre_save, get_db_prep_save): for a batch
    of deliveries that was most of its cost (bench/README.md, "Engine v2"). Here only the given
    fields and the defaults are prepared, once per row.
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
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and defaults:
            # The defaults are the same in every row: quoted once by the driver itself
            # (psycopg2's documented `cursor.mogrify`) and repeated as that literal, not
            # adapted again for every row (11 of a delivery's 17 values: bench/README.md,
            # "Engine v2, fourth follow-up"). Its % signs are doubled, as the statement still takes
            # the rows' own values as parameters.
            literal = cursor.mogrify(", ".join(["%s"] * len(defaults)), default_values)
            if isinstance(literal, bytes):
                literal = literal.decode()
            marks = "(" + ", ".join(["%s"] * len(fields) + [literal.replace("%", "%%")]) + ")"
            default_values = []
        else:
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
        cursor.execute(sql, params)
        return [r[0] for r in cursor.fetchall()]
