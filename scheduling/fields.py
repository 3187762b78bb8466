"""A schedule's rule column: django-recurrence's field, each stored text parsed once.

A calendar page reads every schedule of the workspace (an agency has hundreds), twice when
it also shows the problems ahead (scheduling/lint.py), and parsing the stored rule text
was a quarter of such a page (bench/README.md, agency). The text is the whole input of the
parse, so the parsed value is kept per process by its text (bounded).

The parsed value is shared by every row holding that text, so it is read-only: nothing
here edits a Recurrence in place (scheduling/rules.py only reads it); a change assigns a
new value, which is what the schedule form and the services do.
"""

from __future__ import annotations

from functools import lru_cache

import recurrence
import recurrence.fields


@lru_cache(maxsize=4096)
def _parsed(text: str, include_dtstart: bool) -> recurrence.Recurrence:
    return recurrence.deserialize(text, include_dtstart)


class RecurrenceField(recurrence.fields.RecurrenceField):
    def from_db_value(self, value, *args, **kwargs):
        if value is None or isinstance(value, recurrence.Recurrence):
            return value
        return _parsed(value or "", self.include_dtstart)


# A parsed value's text again (the expansion cache's key, scheduling/selectors.py): kept
# by the value's identity, with the value itself, so an id is never reused while its entry
# lives. Values parsed once above are the same object on every read.
_TEXTS: dict[int, tuple[recurrence.Recurrence, str]] = {}
_TEXTS_MAX = 4096


def rule_text(value: recurrence.Recurrence) -> str:
    hit = _TEXTS.get(id(value))
    if hit is not None and hit[0] is value:
        return hit[1]
    text = recurrence.serialize(value)
    if len(_TEXTS) >= _TEXTS_MAX:
        _TEXTS.clear()
    _TEXTS[id(value)] = (value, text)
    return text
