"""The Accounts page: Connect with X offered only when X is configured, and the webhook's
name field saying what it takes."""

from __future__ import annotations

import pytest
from django.test import override_settings
from django.urls import reverse

from accounts.models import Membership, SocialAccount
from tests.factories import (
    MembershipFactory,
    SocialAccountFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner():
    return MembershipFactory(role=Membership.Role.OWNER)


@pytest.fixture
def web(client, owner):
    client.force_login(owner.user)
    return client


@override_settings(X_CLIENT_ID="")
def test_connect_with_x_is_not_offered_when_x_is_not_configured(web):
    page = web.get(reverse("account_list")).content.decode()
    assert "Connect with X" not in page
    assert "X_CLIENT_ID" in page and "X_CLIENT_SECRET" in page
    assert "Paste OAuth 1.0a keys" in page


@override_settings(X_CLIENT_ID="client-123")
def test_connect_with_x_is_offered_when_configured(web):
    page = web.get(reverse("account_list")).content.decode()
    assert "Connect with X" in page and "X_CLIENT_ID" not in page


def test_the_webhook_name_says_what_it_is(web):
    page = web.get(reverse("account_list")).content.decode()
    assert "Short name (letters, digits, dashes)" in page
    r = web.post(
        reverse("account_add_webhook"),
        {"handle": "Team chat!", "url": "https://203.0.113.5/hook", "secret": "s" * 20},
    )
    assert r.status_code == 400  # not a slug: a clear message, nothing saved
    assert "letters, numbers, underscores or hyphens" in r.content.decode()
    assert not SocialAccount.objects.filter(provider="webhook").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Membership.Role.VIEWER, Membership.Role.APPROVER])
def test_viewers_do_not_see_webhook_urls(client, role):
    viewer = MembershipFactory(role=role)
    SocialAccountFactory(
        workspace=viewer.workspace,
        provider="webhook",
        handle="hook",
        credentials={"url": "https://hooks.example.com/in?token=SECRET123", "secret": "s" * 20},
    )
    client.force_login(viewer.user)
    body = client.get(reverse("account_list")).content.decode()
    assert "@hook" in body or "hook" in body
    assert "hooks.example.com" not in body and "SECRET123" not in body
