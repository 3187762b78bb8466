"""The engine's bulk SQL, where the ORM's generic path cost most of a hot second's CPU:
update many rows each with its own values, insert many rows returning their ids, read joined
rows as model instances, and pass a list of ids as one parameter (bench/README.md has the
profiles).

Django's `bulk_update` builds one `CASE WHEN id=… THEN …` per field and row; for the engine's
batches (hundreds of rows, several fields) compiling it was about half of a worker's CPU
(bench/README.md, engine v2 profile). `UPDATE … FROM (VALUES …)` says the same in one short
statement, works on PostgreSQL and SQLite (3.33+), and can carry a condition and RETURNING.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence

from django.db import NotSupportedError, connection, connections, models
from django.db.models import Lookup, signals
from django.db.models.base import ModelState
from django.db.transaction import TransactionManagementError
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
    bench/README.md, "Engine v2, fifth follow-up") and its statement changes with the
    list's length, so it cannot be compiled once (`JoinedQuery`). `= ANY(array)` says the
    same in one fixed statement.
    """

    lookup_name = "any"
    prepare_rhs = False

    def get_prep_lookup(self):
        field = getattr(self.lhs, "output_field", None)
        if not isinstance(getattr(field, "target_field", field), models.IntegerField):
            raise TypeError(f"__any takes integer keys, not {type(field).__name__} ones")
        # An Ids is already clean: JoinedQuery's markers, or a list the ORM copied.
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


# Field classes whose get_db_prep_save returns a value of this exact type unchanged. A hot
# second's batches prepare ~20,000 values; Django's generic path (get_prep_value, to_python,
# the backend's adapter) cost more than the rest of building the statement (bench/README.md,
# "Engine v2, third follow-up").
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
    batch of deliveries that showed in the profiles (bench/README.md, "Where the time
    goes"). Here only the given fields and the defaults are prepared, once per row.
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
    if connection.vendor == "postgresql" and defaults:
        # The defaults are the same in every row: quoted once by the driver itself (its
        # mogrify) and repeated as that literal, not adapted again for every row (11 of a
        # delivery's 17 values: bench/README.md, "Engine v2, fourth follow-up"). Its % signs are
        # doubled, as the statement still takes the rows' own values as parameters.
        literal = connection.ops.compose_sql(", ".join(["%s"] * len(defaults)), default_values)
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
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [r[0] for r in cursor.fetchall()]


def joined_instances(
    queryset: models.QuerySet, *, fields: dict[str, Sequence[str]]
) -> list[models.Model]:
    """The queryset's rows as instances, the forward relations in `fields` cached on them, as
    `select_related(...).only(...)` gives, but built from plain rows.

    `fields` maps a relation path ("" for the queryset's model, then "account", "timeslot",
    "timeslot__channel": a parent before its children) to the attnames to load, each list
    starting with the primary key. A delivery chunk built four instances a row through
    Model.__init__ and select_related's populators: a third of loading the chunk
    (bench/README.md). The rows come from `values_list`, so every field's converters still
    apply (decryption, SQLite's datetimes); fields not listed stay deferred and load on
    access, as with `only()`. A model with init receivers (an ImageField's dimensions, say)
    or its own `__init__` or `from_db` is built by `from_db`, so nothing it expects is
    skipped. Paths are forward foreign keys to a primary key, as select_related follows.
    """
    plan = _Plan(queryset.model, fields)
    return plan.instances(queryset.values_list(*plan.columns), db=queryset.db)


class JoinedQuery:
    """`joined_instances` for a query the engine runs once per chunk: compiled once per
    process and database, then run with new lists of keys.

    `build(*lists)` returns the queryset, filtering each list with `__any` (one parameter
    whatever its length, so the statement never changes). The first run compiles it with
    marker lists in their places; later runs only put the lists there. Compiling the
    delivery chunk's joined SELECT again for every chunk showed in the chunk's CPU
    (bench/README.md, "Engine v2, fifth follow-up").

    So `build` must hand its lists to `__any` untouched and depend on nothing else that
    changes (no slice, no length, no clock): only the lists are replayed. Plain columns only:
    no annotations, whose values_list order the ORM rearranges. A `select_for_update` query
    is refused outside a transaction on every run, not only the compiling one.
    """

    _NOT_ANY = "every list must reach the statement through an __any lookup"

    def __init__(self, build: Callable[..., models.QuerySet], *, fields: dict[str, Sequence[str]]):
        self.build, self.fields = build, fields
        self._compiled: dict[tuple[str, str], tuple] = {}

    def _compile(self, count: int) -> tuple:
        # A marker list holds one unique object: the ORM copies lists as it builds a filter,
        # so a marker is found in the parameters by what it holds, not by itself.
        markers = [Ids([object()]) for _ in range(count)]
        try:
            queryset = self.build(*markers)
        except (TypeError, ValueError) as exc:  # a lookup other than __any prepared a marker
            raise ValueError(self._NOT_ANY) from exc
        query = queryset.query
        if query.annotation_select or query.extra_select:
            raise ValueError("JoinedQuery reads plain columns only")
        if query.is_sliced:
            raise ValueError("JoinedQuery replays only its lists: no slice")
        plan = _Plan(queryset.model, self.fields)
        compiler = queryset.values_list(*plan.columns).query.get_compiler(using=queryset.db)
        sql, params = compiler.as_sql()
        slots = [
            (pos, i)
            for pos, param in enumerate(params)
            for i, marker in enumerate(markers)
            if isinstance(param, list) and len(param) == 1 and param[0] is marker[0]
        ]
        if sorted({i for _, i in slots}) != list(range(count)):
            raise ValueError(self._NOT_ANY)
        expressions = [s[0] for s in compiler.select[: compiler.col_count]]
        locks = query.select_for_update
        return count, locks, queryset.db, sql, list(params), slots, expressions, plan

    def fetch(self, *lists: Sequence[int]) -> list[models.Model]:
        key = (connection.alias, connection.vendor)
        compiled = self._compiled.get(key)
        if compiled is None:  # two threads may both compile once: the same result
            compiled = self._compiled[key] = self._compile(len(lists))
        count, locks, db, sql, params, slots, expressions, plan = compiled
        if len(lists) != count:
            raise TypeError(f"this query takes {count} list(s), not {len(lists)}")
        params = list(params)
        for pos, i in slots:
            params[pos] = Ids.of(lists[i])
        conn = connections[db]
        if locks and conn.get_autocommit():
            # The ORM checks this when it compiles: here only the first run compiles.
            raise TransactionManagementError(
                "select_for_update cannot be used outside of a transaction."
            )
        with conn.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        # The converters values_list would apply, asked of this thread's connection.
        converters = [
            (i, fns, e)
            for i, e in enumerate(expressions)
            if (fns := conn.ops.get_db_converters(e) + e.get_db_converters(conn))
        ]
        if converters:
            rows = [list(row) for row in rows]
            for row in rows:
                for i, fns, e in converters:
                    value = row[i]
                    for fn in fns:
                        value = fn(value, e, conn)
                    row[i] = value
        return plan.instances(rows, db=db)

    def grouped(self, keys: Iterable[int], *, by: str) -> dict[int, list[models.Model]]:
        """One run for these keys, its rows listed under their `by` attribute, in the
        query's order (a chunk's images, a batch's variations, each per post)."""
        groups: dict[int, list[models.Model]] = defaultdict(list)
        keys = sorted(set(keys))
        for obj in self.fetch(keys) if keys else []:
            groups[getattr(obj, by)].append(obj)
        return groups


class _Plan:
    """Which columns to select for `fields`, and how each row becomes linked instances."""

    def __init__(self, root: type[models.Model], fields: dict[str, Sequence[str]]):
        self.columns: list[str] = []
        index: dict[tuple[str, str], int] = {}  # (path, attname) -> its column in the row
        self.shapes: list[tuple] = []
        for path, attnames in fields.items():
            model, link = root, None
            if path:
                parent, _, name = path.rpartition("__")
                owner = next((s[1] for s in self.shapes if s[0] == parent), None)
                field = owner._meta.get_field(name) if owner else None
                if (
                    field is None
                    or not field.many_to_one
                    or field.target_field.model is not field.related_model
                    or not field.target_field.primary_key
                ):
                    # Only what select_related would follow from a key column to a primary key.
                    raise ValueError(
                        f"{path!r}: not a foreign key to a primary key after its parent"
                    )
                model, link = field.related_model, (parent, field)
            attnames = list(attnames)
            if attnames[0] != model._meta.pk.attname:
                raise ValueError(f"fields[{path!r}] must start with {model._meta.pk.attname!r}")
            for i, attname in enumerate(attnames):
                if i == 0 and link and (link[0], link[1].attname) in index:
                    # The related row's key is the parent's foreign key: read once (the ORM
                    # selects one column for both, and a window query's wrapper keeps one).
                    index[(path, attname)] = index[(link[0], link[1].attname)]
                    continue
                index[(path, attname)] = len(self.columns)
                self.columns.append(f"{path}__{attname}" if path else attname)
            positions = [index[(path, a)] for a in attnames]
            self.shapes.append((path, model, attnames, positions, link))

    def instances(self, rows, *, db: str) -> list[models.Model]:
        # Asked once per run, not per row: has_listeners walks the signal's receivers. A
        # model with its own __init__ or from_db is built through them too.
        hooked = {
            model
            for _, model, *_ in self.shapes
            if signals.pre_init.has_listeners(model)
            or signals.post_init.has_listeners(model)
            or model.__init__ is not models.Model.__init__
            or model.from_db.__func__ is not models.Model.from_db.__func__
        }

        def build(model, attnames, values):
            if model in hooked:
                given = dict(zip(attnames, values, strict=True))
                ordered = [f.attname for f in model._meta.concrete_fields if f.attname in given]
                return model.from_db(db, ordered, [given[a] for a in ordered])
            obj = model.__new__(model)
            obj.__dict__.update(zip(attnames, values, strict=True))
            state = obj._state = ModelState()
            state.adding, state.db = False, db
            return obj

        out: list[models.Model] = []
        for row in rows:
            built: dict[str, models.Model | None] = {}
            for path, model, attnames, positions, link in self.shapes:
                values = [row[i] for i in positions]
                obj = None if values[0] is None else build(model, attnames, values)
                built[path] = obj
                if link is not None and built[link[0]] is not None:
                    link[1].set_cached_value(built[link[0]], obj)
            out.append(built[""])
        return out


def union_of_slices(parts: Sequence[models.QuerySet]) -> list:
    """The rows of several ordered, sliced querysets of one model ("each channel's first
    n"): one UNION ALL query where the database allows a LIMIT inside a compound statement
    (PostgreSQL), else one query per part (SQLite, the zero-setup default, refuses it)."""
    if not parts:
        return []
    if connections[parts[0].db].features.supports_slicing_ordering_in_compound:
        return list(parts[0].union(*parts[1:], all=True)) if len(parts) > 1 else list(parts[0])
    return [row for part in parts for row in part]


# A key and a limit no real row or slice uses: first_n_per_key finds them in the SQL
# Django compiled and puts the LATERAL join's columns in their place.
_KEY_SENTINEL = -7_351_902_468_113
_LIMIT_SENTINEL = 987_654_319


def _lateral_part(qs: models.QuerySet, key: str) -> tuple[str, list]:
    sql, params = qs.filter(**{key: _KEY_SENTINEL})[:_LIMIT_SENTINEL].query.sql_with_params()
    pieces = sql.split("%s")
    if len(pieces) != len(params) + 1 or list(params).count(_KEY_SENTINEL) != 1:
        raise NotSupportedError("first_n_per_key: unexpected SQL shape")
    at = list(params).index(_KEY_SENTINEL)
    sql = "%s".join(pieces[: at + 1]) + "k.key" + "%s".join(pieces[at + 1 :])
    limit = f"LIMIT {_LIMIT_SENTINEL}"
    if sql.count(limit) != 1:
        raise NotSupportedError("first_n_per_key: unexpected SQL shape")
    return sql.replace(limit, "LIMIT k.n"), [p for i, p in enumerate(params) if i != at]


def first_n_per_key(
    querysets: Sequence[models.QuerySet],
    *,
    key: str,
    counts: dict[int, int],
    merged_order: str = "",
) -> list:
    """For each key value k of `counts` (say a channel id), the first counts[k] rows of
    each of `querysets` (ordered querysets of one model, no select_related) with
    `key == k`: model instances, in no particular order.

    On PostgreSQL one statement whatever the number of keys: the querysets are compiled
    once each and run per key through `CROSS JOIN LATERAL` over `unnest()` of the keys
    and limits, so each key costs one limited index scan and nothing is compiled per key.
    With `merged_order` (an ORDER BY over the selected columns, e.g. two querysets that are
    two index ranges of one order), only the first counts[k] rows of their union come back.
    Elsewhere (SQLite) one ordered, sliced query per key and queryset, not merged: the
    caller keeps the first counts[k] itself."""
    counts = {k: n for k, n in counts.items() if n > 0}
    if not counts or not querysets:
        return []
    model = querysets[0].model
    db = querysets[0].db
    if connections[db].vendor != "postgresql":
        return union_of_slices(
            [qs.filter(**{key: k})[:n] for k, n in counts.items() for qs in querysets]
        )
    parts = [_lateral_part(qs, key) for qs in querysets]
    # Only SQL that Django compiled goes into the text; every value stays a parameter.
    inner = " UNION ALL ".join(f"({sql})" for sql, _ in parts)
    if merged_order:
        # merged_order is a constant of the calling code, never input.
        inner = f"SELECT * FROM ({inner}) AS u ORDER BY {merged_order} LIMIT k.n"  # noqa: S608
    sql = (
        "SELECT x.* FROM unnest(%s::bigint[], %s::bigint[]) AS k(key, n) "  # noqa: S608
        f"CROSS JOIN LATERAL ({inner}) AS x"
    )
    params = [list(counts), list(counts.values())]
    for _, part_params in parts:
        params += part_params
    return list(model.objects.db_manager(db).raw(sql, params))
