"""The CSV import preview says in which zone a pinned time is read: a wall-clock
`publish_at` is each channel's own time, so the preview shows the zone and its offset on
that date (DST included), never a bare 2027-03-10T13:30:00. Through the web pages."""

from __future__ import annotations

import datetime as dt
import html

import pytest
import time_machine
from django.urls import reverse

from bulk.models import ImportJob
from tests.bulk.test_import import csv_bytes, upload
from tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock():
    with time_machine.travel(dt.datetime(2027, 3, 1, 9, 0, tzinfo=dt.UTC), tick=False):
        yield


def preview_page(web, rows) -> str:
    response = upload(web, csv_bytes(rows))
    job = ImportJob.objects.get()
    assert response.status_code == 302
    page = web.get(reverse("import_detail", args=[job.id]))
    assert page.status_code == 200
    return html.unescape(page.content.decode())


def test_a_pinned_time_is_shown_in_its_channels_zone_with_the_offset(clock, web, member):
    ChannelFactory(workspace=member.workspace, name="#tech", slug="tech", timezone="Europe/Berlin")
    page = preview_page(web, [["Pinned in Berlin", "", "tech", "2027-03-10 13:30", "", ""]])
    assert "2027-03-10T13:30:00" not in page
    assert "Wed 10 Mar 2027, 13:30" in page
    assert "Europe/Berlin (UTC+01:00)" in page
    # The machine-readable instant is the real one: 13:30 in Berlin is 12:30 UTC.
    assert 'datetime="2027-03-10T12:30:00+00:00"' in page


def test_each_channel_shows_its_own_offset_on_that_date(clock, web, member):
    """20 March 2027: New York is already on daylight time (from 14 March), Berlin not yet
    (from 28 March)."""
    ChannelFactory(workspace=member.workspace, name="#tech", slug="tech", timezone="Europe/Berlin")
    ChannelFactory(
        workspace=member.workspace, name="#news", slug="news", timezone="America/New_York"
    )
    page = preview_page(web, [["Both", "", "tech; news", "2027-03-20 09:00", "", ""]])
    assert "Europe/Berlin (UTC+01:00) · #tech" in page
    assert "America/New_York (UTC-04:00) · #news" in page
    assert page.count("Sat 20 Mar 2027, 09:00") == 2


def test_an_exact_instant_is_shown_in_the_channels_zone(clock, web, member):
    ChannelFactory(workspace=member.workspace, name="#tech", slug="tech", timezone="Europe/Berlin")
    page = preview_page(web, [["Exact", "", "tech", "2027-03-10T13:30:00Z", "", ""]])
    assert "Wed 10 Mar 2027, 14:30" in page and "Europe/Berlin (UTC+01:00)" in page


def test_the_preview_reads_the_channels_in_one_query(
    clock, web, member, django_assert_max_num_queries
):
    ChannelFactory(workspace=member.workspace, name="#tech", slug="tech", timezone="Europe/Berlin")
    rows = [[f"Post {i}", "", "tech", f"2027-03-1{i} 10:00", "", ""] for i in range(5)]
    upload(web, csv_bytes(rows))
    job = ImportJob.objects.get()
    url = reverse("import_detail", args=[job.id])
    web.get(url)
    with django_assert_max_num_queries(12) as captured:
        web.get(url)
    assert sum("channels_channel" in q["sql"] for q in captured.captured_queries) <= 2
