"""Keyset ("cursor") pagination for the API's long lists: timeslots and deliveries.

A page-number page counts the whole filtered list (a three-table join over a year of
history) and skips `OFFSET (page - 1) * size` rows, so the last page of 800k deliveries
reads all of them. A keyset page instead starts *after the last row of the page before*:
`WHERE (key, id) > (last key, last id) ORDER BY key, id LIMIT size + 1`, which an index on
`(key, id)` answers by reading `size + 1` entries wherever the page is. Nothing is
counted: a page says only whether another follows (`next`) or precedes (`previous`).

Why not DRF's CursorPagination: it puts only the first ordering field in the cursor and
skips the rows that tie on it with an OFFSET, so a second holding thousands of slots (a
hot minute) is walked row by row; here the cursor holds the row's id as well.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections import OrderedDict

from django.db import connections
from django.db.models import BooleanField, Q
from django.db.models.expressions import RawSQL
from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

INVALID_CURSOR = "Invalid cursor: use the `next` or `previous` link of a page as it is."


class KeysetPagination(BasePagination):
    """Pages over `ordering = (key, "id")`, ascending or descending (both fields alike).

    The view's queryset must be ordered by exactly these fields: the cursor compares the
    row `(key, id)` with the last one shown, as one row-value comparison that PostgreSQL
    serves with an index condition on `(key, id)` (SQLite has row values too).
    """

    page_size = 50
    max_page_size = 200
    cursor_query_param = "cursor"
    page_size_query_param = "page_size"
    key: str = "created_at"
    descending = True

    # --- cursor encoding --------------------------------------------------------------

    @staticmethod
    def encode(*, backwards: bool, value: dt.datetime, row_id: int) -> str:
        raw = json.dumps(["b" if backwards else "f", value.isoformat(), row_id])
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @staticmethod
    def decode(cursor: str) -> tuple[bool, dt.datetime, int]:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            direction, value, row_id = json.loads(raw)
            at = parse_datetime(value)
        except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
            raise ValidationError({"cursor": [INVALID_CURSOR]}) from None
        if (
            direction not in ("f", "b")
            or at is None
            or at.tzinfo is None
            or type(row_id) is not int
            or not 0 < row_id < 2**63
        ):
            raise ValidationError({"cursor": [INVALID_CURSOR]})
        return direction == "b", at, row_id

    # --- paging -------------------------------------------------------------------------

    def _page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None or raw == "":
            return self.page_size
        if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            raise ValidationError(
                {"page_size": [f"A whole number from 1 to {self.max_page_size}."]}
            )
        return int(raw)

    def _after(self, queryset, *, greater: bool, value: dt.datetime, row_id: int):
        table = queryset.model._meta.db_table
        column = queryset.model._meta.get_field(self.key).column
        sign = ">" if greater else "<"
        field = queryset.model._meta.get_field(self.key)
        # As the database stores it (SQLite: a UTC text), so the raw comparison agrees.
        stored = field.get_db_prep_value(value, connections[queryset.db])
        # The row comparison is what the index serves; the plain bound beside it lets any
        # planner start its range scan there too.
        bound = Q(**{f"{self.key}__gte" if greater else f"{self.key}__lte": value})
        quote = connections[queryset.db].ops.quote_name
        t, c = quote(table), quote(column)
        # Names from the model's own meta, values as parameters: nothing from the request.
        row = RawSQL(  # noqa: S611
            f"({t}.{c}, {t}.{quote('id')}) {sign} (%s, %s)",
            (stored, row_id),
            output_field=BooleanField(),
        )
        return queryset.filter(bound).filter(row)

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        size = self._page_size(request)
        cursor = request.query_params.get(self.cursor_query_param)
        backwards = False
        if cursor:
            backwards, value, row_id = self.decode(cursor)
            # Forwards in a descending list means smaller keys; backwards, larger.
            greater = (not self.descending) != backwards
            queryset = self._after(queryset, greater=greater, value=value, row_id=row_id)
        if backwards:
            queryset = queryset.reverse()
        rows = list(queryset[: size + 1])
        more = len(rows) > size
        rows = rows[:size]
        if backwards:
            rows.reverse()
        self.has_next = bool(rows) and (more if not backwards else True)
        self.has_previous = bool(rows) and (more if backwards else bool(cursor))
        self.first, self.last = (rows[0], rows[-1]) if rows else (None, None)
        return rows

    def _link(self, *, backwards: bool, row) -> str | None:
        url = self.request.build_absolute_uri()
        if row is None:
            return None
        cursor = self.encode(backwards=backwards, value=getattr(row, self.key), row_id=row.id)
        return replace_query_param(url, self.cursor_query_param, cursor)

    def get_next_link(self) -> str | None:
        return self._link(backwards=False, row=self.last) if self.has_next else None

    def get_previous_link(self) -> str | None:
        if not self.has_previous:
            return None
        return self._link(backwards=True, row=self.first)

    def get_paginated_response(self, data):
        return Response(
            OrderedDict(
                [
                    ("next", self.get_next_link()),
                    ("previous", self.get_previous_link()),
                    ("results", data),
                ]
            )
        )

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["results"],
            "properties": {
                "next": {
                    "type": "string",
                    "nullable": True,
                    "format": "uri",
                    "description": "The next page (null on the last one).",
                },
                "previous": {
                    "type": "string",
                    "nullable": True,
                    "format": "uri",
                    "description": "The page before (null on the first one).",
                },
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "An opaque position: take it from a page's next/previous link.",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Rows per page, 1 to {self.max_page_size} "
                f"(default {self.page_size}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size},
            },
        ]


class DeliveryPagination(KeysetPagination):
    key = "created_at"
    descending = True


class TimeslotPagination(KeysetPagination):
    key = "publish_at"
    descending = False
