"""The 404 and 500 pages are styled like the rest of the site."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from accounts.models import Membership
from queueloop.urls import server_error
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner():
    return MembershipFactory(role=Membership.Role.OWNER)


@pytest.fixture
def web(client, owner):
    client.force_login(owner.user)
    return client


def test_404_and_500_pages_are_styled(web):
    r = web.get("/no-such-page/")
    assert r.status_code == 404 and b"app.css" in r.content and b"<h1>Not found</h1>" in r.content
    response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    assert b"app.css" in response.content and b"Something went wrong" in response.content
