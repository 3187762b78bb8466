"""CSV export defuses every cell a spreadsheet could run as a formula, and the import takes
the guard off again. Before, `=`, `+`, `-`, `@`, TAB and CR were caught only as the very
first character: not after a leading space or no-break space, nor in full-width form."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from bulk import imports
from bulk.import_rows import needs_formula_guard
from tests.factories import ChannelFactory, MembershipFactory, QueueEntryFactory

pytestmark = pytest.mark.django_db

DANGEROUS = [
    "=1+1",
    " =1+1",  # a leading space (the probe)
    "\u00a0=1+1",  # a no-break space (the probe)
    "\uff1d1+1",  # full-width equals (the probe)
    "\uff0b1",  # full-width plus
    "\uff0d1",  # full-width hyphen-minus
    "\uff20SUM(A1)",  # full-width commercial at
    "\u3000=1+1",  # ideographic space
    "\u2003\t=1+1",  # em space, then a tab
    "\u200b=1+1",  # zero-width space
    "\ufeff@SUM(A1)",  # a byte-order mark
    "\ufe661+1",  # small equals sign
    "\t1",
    "\r1",
    "'=1+1",  # looks guarded already: keeps its own apostrophe on the way back
]
FULL_WIDTH_HELLO = "\uff48\uff45\uff4c\uff4c\uff4f"
HARMLESS = ["Hello", " hello", "'quoted'", "a = b", "1+1", "#tag", FULL_WIDTH_HELLO]


@pytest.mark.parametrize("text", DANGEROUS)
def test_a_cell_that_could_run_as_a_formula_is_guarded(text):
    assert needs_formula_guard(text)


@pytest.mark.parametrize("text", HARMLESS)
def test_ordinary_text_is_left_alone(text):
    assert not needs_formula_guard(text)


def test_the_export_guards_them_and_the_import_takes_the_guard_off(web, member):
    tech = ChannelFactory(workspace=member.workspace, name="#tech", slug="tech")
    texts = DANGEROUS + HARMLESS
    for position, text in enumerate(texts, start=1):
        QueueEntryFactory(channel=tech, post__text=text, position=position)

    response = web.get(reverse("channel_export_queue", args=[tech.id]))
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    rows = list(csv.DictReader(io.StringIO(body.decode(), newline="")))
    exported = [r["text"] for r in rows]
    assert exported == ["'" + t for t in DANGEROUS] + HARMLESS

    other = MembershipFactory()
    ChannelFactory(workspace=other.workspace, name="#tech", slug="tech")
    job = imports.import_preview(
        workspace=other.workspace, user=other.user, filename="q.csv", data=body
    )
    imported = [r.data["text"] for r in job.rows.order_by("line")]
    assert imported == texts
