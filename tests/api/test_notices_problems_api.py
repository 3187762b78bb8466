"""Notices and problems through the API (issue 29, item 1), as the dashboard has them:
notices read, filtered and dismissed (one, or all); the deliveries that need a person
listed with their kind, and acted on with the dashboard's own services (retry now, give up,
mark sent / failed, retry). Another workspace's ids are 404; a viewer reads only."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts.models import Membership, Notice
from publishing.models import Delivery
from scheduling.models import Timeslot
from tests.api.test_endpoints import API, client_for, member
from tests.factories import (
    ChannelFactory,
    DeliveryFactory,
    NoticeFactory,
    TimeslotFactory,
    WorkspaceFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def ws():
    return WorkspaceFactory(slug="acme")


@pytest.fixture
def api(ws):
    return client_for(member(ws, Membership.Role.EDITOR))


@pytest.fixture
def viewer(ws):
    return client_for(member(ws, Membership.Role.VIEWER))


@pytest.fixture
def foreign():
    rival = WorkspaceFactory(slug="rival")
    slot = TimeslotFactory(channel=ChannelFactory(workspace=rival), status="partial")
    return {
        "notice": NoticeFactory(workspace=rival),
        "delivery": DeliveryFactory(timeslot=slot, status=Delivery.Status.UNCONFIRMED),
    }


# --- Notices -------------------------------------------------------------------------------


def test_notices_list_filter_and_dismiss(api, ws, foreign):
    shown = NoticeFactory(workspace=ws, kind=Notice.Kind.TIMESLOT_FAILED)
    NoticeFactory(workspace=ws, dismissed_at=timezone.now())

    listed = api.get(f"{API}/notices/").json()
    assert listed["count"] == 2  # never the other workspace's
    assert [
        n["id"] for n in api.get(f"{API}/notices/", {"dismissed": "false"}).json()["results"]
    ] == [shown.id]
    assert api.get(f"{API}/notices/", {"kind": "timeslot_failed"}).json()["count"] == 1
    assert api.get(f"{API}/notices/", {"kind": "bogus"}).status_code == 400

    dismissed = api.post(f"{API}/notices/{shown.id}/dismiss/")
    assert dismissed.status_code == 200 and dismissed.json()["dismissed_at"]
    shown.refresh_from_db()
    first = shown.dismissed_at
    api.post(f"{API}/notices/{shown.id}/dismiss/")
    shown.refresh_from_db()
    assert shown.dismissed_at == first  # again: the first time stays


def test_dismiss_all_dismisses_only_this_workspaces(api, ws, foreign):
    NoticeFactory.create_batch(3, workspace=ws)
    response = api.post(f"{API}/notices/dismiss_all/", {}, format="json")
    assert response.status_code == 200 and response.json() == {"dismissed": 3}
    foreign["notice"].refresh_from_db()
    assert foreign["notice"].dismissed_at is None
    rival = api.post(f"{API}/notices/dismiss_all/", {"workspace": "rival"}, format="json")
    assert rival.status_code == 400


def test_notices_of_another_workspace_and_a_viewer(api, viewer, ws, foreign):
    notice = NoticeFactory(workspace=ws)
    assert api.get(f"{API}/notices/{foreign['notice'].id}/").status_code == 404
    assert api.post(f"{API}/notices/{foreign['notice'].id}/dismiss/").status_code == 404
    assert viewer.get(f"{API}/notices/{notice.id}/").status_code == 200
    assert viewer.post(f"{API}/notices/{notice.id}/dismiss/").status_code == 403
    assert viewer.post(f"{API}/notices/dismiss_all/", {}, format="json").status_code == 403
    notice.refresh_from_db()
    assert notice.dismissed_at is None


# --- Problems ----------------------------------------------------------------------------------


@pytest.fixture
def problems(ws):
    channel = ChannelFactory(workspace=ws)
    recent = timezone.now() - dt.timedelta(hours=1)
    unconfirmed = DeliveryFactory(
        timeslot=TimeslotFactory(channel=channel, publish_at=recent, status="partial"),
        status=Delivery.Status.UNCONFIRMED,
        attempts=1,
    )
    failed = DeliveryFactory(
        timeslot=TimeslotFactory(channel=channel, publish_at=recent, status="failed"),
        status=Delivery.Status.FAILED,
        attempts=1,
        last_error="Refused",
    )
    fine = DeliveryFactory(
        timeslot=TimeslotFactory(channel=channel, publish_at=recent, status="published"),
        status=Delivery.Status.SENT,
    )
    return {"unconfirmed": unconfirmed, "failed": failed, "fine": fine}


def test_problems_list_the_deliveries_that_need_a_person(api, problems, foreign):
    response = api.get(f"{API}/problems/")
    assert response.status_code == 200, response.content
    kinds = {row["id"]: row["kind"] for row in response.json()}
    assert kinds == {problems["unconfirmed"].id: "unconfirmed", problems["failed"].id: "failed"}
    assert api.get(f"{API}/problems/", {"limit": "0"}).status_code == 400
    assert len(api.get(f"{API}/problems/", {"limit": "1"}).json()) == 1


def test_an_unconfirmed_delivery_is_marked_sent(api, problems):
    delivery = problems["unconfirmed"]
    response = api.post(f"{API}/deliveries/{delivery.id}/mark_sent/")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "sent"
    # Again: it is no longer unconfirmed, a 409 that changes nothing.
    again = api.post(f"{API}/deliveries/{delivery.id}/mark_sent/")
    assert again.status_code == 409 and "nothing was changed" in again.json()["detail"]


def test_a_failed_delivery_is_retried(api, problems):
    delivery = problems["failed"]
    response = api.post(f"{API}/deliveries/{delivery.id}/retry/")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "pending"
    assert api.post(f"{API}/deliveries/{problems['fine'].id}/retry/").status_code == 409


def test_problem_actions_on_another_workspace_or_as_viewer(api, viewer, problems, foreign):
    for name in ("retry_now", "give_up", "mark_sent", "mark_failed", "retry"):
        assert api.post(f"{API}/deliveries/{foreign['delivery'].id}/{name}/").status_code == 404
        assert viewer.post(f"{API}/deliveries/{problems['failed'].id}/{name}/").status_code == 403
    assert viewer.get(f"{API}/problems/").status_code == 200
    foreign["delivery"].refresh_from_db()
    problems["failed"].refresh_from_db()
    assert foreign["delivery"].status == Delivery.Status.UNCONFIRMED
    assert problems["failed"].status == Delivery.Status.FAILED
    assert Timeslot.objects.filter(status="failed").count() == 1
