"""The API's timeslot and delivery lists page by keyset cursor: every row once, in order,
ties on the key included; previous links go back; a bad cursor is a 400; any page costs
the queries of the first."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ground.pagination import KeysetPagination
from publishing.models import Delivery
from tests.api.test_endpoints import API, api, channel, user, ws  # noqa: F401  (fixtures)
from tests.factories import DeliveryFactory, SocialAccountFactory, TimeslotFactory

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def walk(api, url: str, **params) -> tuple[list[int], list[dict]]:  # noqa: F811
    ids, pages = [], []
    response = api.get(url, params)
    while True:
        assert response.status_code == 200, response.content
        body = response.json()
        assert "count" not in body
        pages.append(body)
        ids += [row["id"] for row in body["results"]]
        if not body["next"]:
            return ids, pages
        response = api.get(body["next"])


def test_timeslots_walk_every_row_once_in_order_across_ties(api, channel):  # noqa: F811
    # Seven slots in the same second (a hot minute), then others: the cursor holds the id.
    slots = [TimeslotFactory(channel=channel, publish_at=T0) for _ in range(7)]
    slots += [
        TimeslotFactory(channel=channel, publish_at=T0 + dt.timedelta(minutes=n)) for n in (5, 1)
    ]
    expected = [s.id for s in sorted(slots, key=lambda s: (s.publish_at, s.id))]
    ids, pages = walk(api, f"{API}/timeslots/", page_size=3)
    assert ids == expected
    assert len(pages) == 3 and pages[0]["previous"] is None
    # Back from the last page: the page before it, in the same order.
    back = api.get(pages[2]["previous"]).json()
    assert [row["id"] for row in back["results"]] == expected[3:6]
    assert back["next"] and back["previous"]
    first = api.get(back["previous"]).json()
    assert [row["id"] for row in first["results"]] == expected[:3]
    assert first["previous"] is None


def test_deliveries_walk_newest_first_across_ties(api, channel):  # noqa: F811
    account = SocialAccountFactory(workspace=channel.workspace)
    made = [
        DeliveryFactory(timeslot=TimeslotFactory(channel=channel), account=account)
        for _ in range(5)
    ]
    # Three created in the same microsecond: ordered by id, descending.
    Delivery.objects.filter(id__in=[d.id for d in made[:3]]).update(created_at=T0)
    rows = Delivery.objects.order_by("-created_at", "-id").values_list("id", flat=True)
    ids, pages = walk(api, f"{API}/deliveries/", page_size=2)
    assert ids == list(rows)
    assert [len(p["results"]) for p in pages] == [2, 2, 1]


def test_a_filter_keeps_its_place_in_the_cursor_links(api, channel):  # noqa: F811
    for n in range(4):
        TimeslotFactory(channel=channel, publish_at=T0 + dt.timedelta(hours=n), status="canceled")
    TimeslotFactory(channel=channel, publish_at=T0)
    ids, pages = walk(api, f"{API}/timeslots/", page_size=3, status="canceled")
    assert len(ids) == 4 and "status=canceled" in pages[0]["next"]


@pytest.mark.parametrize(
    "params",
    [
        {"cursor": "not-a-cursor"},
        {"cursor": KeysetPagination.encode(backwards=False, value=T0, row_id=1)[:-3]},
        {"cursor": "WyJ4IiwgIjIwMjYtMTItMDFUMDk6MDA6MDArMDA6MDAiLCAxXQ"},  # ["x", ...]
        {"cursor": "WyJmIiwgIjIwMjYtMTItMDFUMDk6MDA6MDAiLCAxXQ"},  # no offset
        {"cursor": "WyJmIiwgIjIwMjYtMTItMDFUMDk6MDA6MDArMDA6MDAiLCAtMV0"},  # id -1
        {"page_size": "0"},
        {"page_size": "201"},
        {"page_size": "ten"},
    ],
)
@pytest.mark.parametrize("name", ["timeslots", "deliveries"])
def test_a_bad_cursor_or_page_size_is_a_400(api, name, params):  # noqa: F811
    response = api.get(f"{API}/{name}/", params)
    assert response.status_code == 400, response.content
    assert set(response.json()) <= {"cursor", "page_size"}


@pytest.mark.parametrize("name", ["timeslots", "deliveries"])
def test_a_later_page_costs_the_queries_of_the_first(api, channel, name):  # noqa: F811
    for n in range(12):
        DeliveryFactory(
            timeslot=TimeslotFactory(channel=channel, publish_at=T0 + dt.timedelta(minutes=n))
        )
    url = f"{API}/{name}/"
    with CaptureQueriesContext(connection) as first:
        body = api.get(url, {"page_size": 5}).json()
    with CaptureQueriesContext(connection) as later:
        last = api.get(api.get(body["next"]).json()["next"]).json()
    assert len(last["results"]) == 2 and last["next"] is None
    assert len(later.captured_queries) == 2 * len(first.captured_queries)
    # No page counts the list.
    assert not any("COUNT(" in q["sql"].upper() for q in first.captured_queries)
