"""Shared pieces of the REST API that know no app: the strict JSON parser, Django errors
as 400s, input fields and query-string helpers. Workspace scoping (roles, the scoped
viewset) is accounts.api_scoping.
"""

from __future__ import annotations

import datetime as dt
import json
import re

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework import serializers
from rest_framework.exceptions import APIException, ParseError, ValidationError
from rest_framework.fields import empty
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser

from ground import timebounds


class StrictJSONParser(JSONParser):
    """JSON, refusing unpaired surrogates ("\\ud800"): valid JSON syntax, but no text can
    hold them, and echoing one back in an error message would crash the renderer."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
            text = json.dumps(data, ensure_ascii=False)
        except RecursionError:
            # [[[[...]]]] thousands deep: no field of ours nests more than twice.
            raise ParseError("JSON parse error - nested too deeply.") from None
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ParseError("JSON parse error - unpaired surrogate in a string.") from None
        if "\\u0000" in text.replace("\\\\", ""):
            # PostgreSQL text cannot hold NUL (the middleware refuses it in forms and URLs).
            raise ParseError("JSON parse error - a string contains a NUL character.")
        return data


API_PARSERS = [StrictJSONParser, FormParser, MultiPartParser]


def django_error_to_drf(exc: DjangoValidationError) -> ValidationError:
    return ValidationError(serializers.as_serializer_error(exc))


# --- Input helpers -------------------------------------------------------------------------

NAIVE_MESSAGE = (
    "Include a time zone offset, for example 2026-06-01T14:00:00+02:00 or "
    "2026-06-01T12:00:00Z: a time without one is ambiguous."
)


# "13:30:00 01:00" at the end of a value: a time, a space, then what can only be a UTC
# offset. Form encoding (curl --data) decodes a raw "+" as a space, so the "+" is restored.
# A "-" offset survives form encoding and a date-time has no other space after its time.
_OFFSET_AFTER_SPACE = re.compile(r"(\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?) (\d{2}(?::?\d{2})?)$")


def restore_offset_plus(value: str) -> str:
    """'2026-12-01 13:30:00 01:00' -> '2026-12-01 13:30:00+01:00' (see above)."""
    return _OFFSET_AFTER_SPACE.sub(r"\1+\2", value.strip())


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 date-time that must carry its UTC offset: a naive time is refused."""

    default_error_messages = {"naive": NAIVE_MESSAGE}

    def to_internal_value(self, value):
        if isinstance(value, str):
            value = restore_offset_plus(value)
        return super().to_internal_value(value)

    def enforce_timezone(self, value):
        if timezone.is_naive(value):
            self.fail("naive")
        try:
            timebounds.validate_moment(value)
        except DjangoValidationError as exc:
            raise ValidationError(exc.messages) from None
        return super().enforce_timezone(value)


class WallClockDateTimeField(AwareDateTimeField):
    """An ISO 8601 date-time with an offset, or without one: then it stays naive, a
    wall-clock time the caller reads in a zone of its choosing (a channel's)."""

    def enforce_timezone(self, value):
        if timezone.is_naive(value):
            return value
        return super().enforce_timezone(value)


class FormBooleanField(serializers.BooleanField):
    """A boolean that keeps its default when form data leaves it out.

    (DRF reads a missing checkbox as False, so a form-encoded POST without is_active would
    create an inactive schedule.)
    """

    default_empty_html = empty


class StringListField(serializers.ListField):
    """A list of strings from JSON, or from form data by repeating the field.

    A single string is accepted as a one-item list; with `split_commas`, "a,b" is two items
    (slugs never contain commas), so `curl --data channels=tech,news` works too.
    """

    def __init__(self, *, split_commas: bool = False, **kwargs):
        self.split_commas = split_commas
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, str):
            data = [data]
        values = super().to_internal_value(data)
        if self.split_commas:
            values = [part.strip() for v in values for part in v.split(",") if part.strip()]
        return values


def _is_number(value: str) -> bool:
    return value.isascii() and value.isdigit() and len(value) <= 18


def query_int(params, name: str) -> int | None:
    value = params.get(name)
    if value in (None, ""):
        return None
    if not _is_number(value):
        raise ValidationError({name: f"{name} must be a number."})
    return int(value)


def query_datetime(params, name: str) -> dt.datetime | None:
    value = params.get(name)
    if value in (None, ""):
        return None
    try:
        # A "+" in a query string arrives as a space when the client did not escape it.
        parsed = parse_datetime(value.replace(" ", "+"))
    except ValueError:
        parsed = None
    if parsed is None:
        raise ValidationError({name: f"{name} must be an ISO 8601 date-time."})
    if timezone.is_naive(parsed):
        raise ValidationError({name: NAIVE_MESSAGE})
    try:
        # A filter may reach back before 2000, but must convert to UTC for the database.
        timebounds.to_utc(parsed)
    except DjangoValidationError as exc:
        raise ValidationError({name: exc.messages}) from None
    return parsed


def query_choices(params, name: str, choices) -> list[str]:
    """A comma-separated list of allowed values (?status=failed,partial)."""
    value = params.get(name)
    if not value:
        return []
    allowed = {c for c, _ in choices}
    values = [v.strip() for v in value.split(",") if v.strip()]
    bad = [v for v in values if v not in allowed]
    if bad:
        raise ValidationError(
            {name: f"Unknown {name}: {', '.join(bad)}. Choose from {', '.join(sorted(allowed))}."}
        )
    return values


def filter_channel(qs, params, field: str = "channel"):
    """?channel=<id> or ?channel=<slug>."""
    value = params.get("channel")
    if not value:
        return qs
    if _is_number(value):
        return qs.filter(**{f"{field}_id": query_int(params, "channel")})
    return qs.filter(**{f"{field}__slug": value})


class Conflict(APIException):
    """409: the request is well formed but the object's state refuses it (a channel that
    has published cannot be deleted)."""

    status_code = 409
    default_detail = "The object's state does not allow this."
    default_code = "conflict"


def form_errors_to_drf(form) -> ValidationError:
    """A Django form's errors as DRF's 400 body ({field: [messages]}, form-wide ones under
    non_field_errors): the API validates with the web UI's own forms where they exist."""
    errors = {
        ("non_field_errors" if name == "__all__" else name): list(messages)
        for name, messages in form.errors.items()
    }
    return ValidationError(errors)
