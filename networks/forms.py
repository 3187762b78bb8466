"""What the connect forms of several networks share."""

from __future__ import annotations

import re

from django import forms

LANGUAGE_HELP = "Optional: the language to tag posts with (ISO 639-1, such as en or de)."


def clean_language(value: str) -> str:
    value = value.strip().lower()
    if value and not re.fullmatch(r"[a-z]{2,3}(-[a-z0-9]{2,8})?", value):
        raise forms.ValidationError("Use a language code such as en, de or pt-br.")
    return value
