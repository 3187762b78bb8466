"""A Django ValidationError as the list of messages a page shows (forms' non-field errors,
the CSV import's row errors)."""

from __future__ import annotations

from django.core.exceptions import ValidationError


def error_messages(exc: ValidationError) -> list[str]:
    """All messages of a ValidationError (dict or list), for a form's non-field errors."""
    if hasattr(exc, "error_dict"):
        return [
            m if field == "__all__" else f"{field.replace('_', ' ').capitalize()}: {m}"
            for field, errors in exc.message_dict.items()
            for m in errors
        ]
    return exc.messages
