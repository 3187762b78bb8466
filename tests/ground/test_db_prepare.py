"""ground.db prepares the engine's bulk statements' values faster than the ORM's generic
path: it must give exactly what the field's own get_db_prep_save gives, and never skip a
field that transforms (the encrypted credentials are a TextField subclass)."""

import datetime as dt
import uuid

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, models

from accounts.models import SocialAccount
from channels.models import QueueEntry
from ground.db import _PASS_THROUGH, _preparer
from publishing.models import Delivery
from scheduling.models import Timeslot

VALUES = (
    None,
    0,
    7,
    "text",
    "",
    True,
    False,
    dt.datetime(2026, 12, 6, 15, 0, 1, 250000, tzinfo=dt.UTC),
    dt.datetime(2026, 12, 6, 16, 0, tzinfo=dt.timezone(dt.timedelta(hours=1))),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
)


def _fast(field: models.Field) -> bool:
    target = field.target_field if type(field) is models.ForeignKey else field
    return type(target) in _PASS_THROUGH or type(field) is models.DateTimeField


@pytest.mark.django_db
@pytest.mark.parametrize("model", [Delivery, Timeslot, QueueEntry, SocialAccount])
def test_prepared_values_equal_the_fields_own(model):
    fast = [f for f in model._meta.concrete_fields if _fast(f)]
    assert fast  # the engine's tables have plain columns: the fast path is exercised
    for field in fast:
        prepare = _preparer(field)
        for value in VALUES:
            try:
                want = field.get_db_prep_save(value, connection)
            except (TypeError, ValueError, ValidationError):
                with pytest.raises((TypeError, ValueError, ValidationError)):
                    prepare(value)
                continue
            got = prepare(value)
            assert (type(got), got) == (type(want), want), (field, value)


@pytest.mark.django_db
def test_a_transforming_text_subclass_is_never_passed_through():
    field = SocialAccount._meta.get_field("credentials")
    assert isinstance(field, models.TextField) and type(field) is not models.TextField
    prepared = _preparer(field)({"token": "secret-value"})
    assert "secret-value" not in str(prepared)  # encrypted, as the field itself does
    # A str is a plain TextField's own type; for this subclass it must still be encrypted.
    prepared = _preparer(field)("secret-text")
    assert "secret-text" not in str(prepared)
