"""/settings/tokens/: make a token (shown once), use it on the API, revoke it."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token

from accounts.models import Membership
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def member():
    return MembershipFactory(role=Membership.Role.VIEWER)  # a token is anyone's own


def test_create_shows_the_key_once_and_it_works_on_the_api(web, member, client):
    page = web.get(reverse("api_tokens")).content.decode()
    assert "You have no API token." in page
    r = web.post(reverse("api_token_create"))
    assert r.status_code == 200 and r["Cache-Control"].startswith("max-age=0")
    key = Token.objects.get(user=member.user).key
    assert f'value="{key}"' in r.content.decode()
    later = web.get(reverse("api_tokens")).content.decode()
    assert key not in later and f"{key[:6]}…" in later
    api = client.__class__()
    ok = api.get("/api/v1/workspaces/", HTTP_AUTHORIZATION=f"Token {key}")
    assert ok.status_code == 200 and member.workspace.slug in ok.content.decode()


def test_replacing_and_revoking_stop_the_old_key(web, member, client):
    web.post(reverse("api_token_create"))
    old = Token.objects.get(user=member.user).key
    web.post(reverse("api_token_create"))
    new = Token.objects.get(user=member.user).key
    assert new != old
    api = client.__class__()
    assert api.get("/api/v1/workspaces/", HTTP_AUTHORIZATION=f"Token {old}").status_code == 401
    r = web.post(reverse("api_token_revoke"), follow=True)
    assert "API token revoked" in r.content.decode()
    assert not Token.objects.filter(user=member.user).exists()
    assert api.get("/api/v1/workspaces/", HTTP_AUTHORIZATION=f"Token {new}").status_code == 401
    r = web.post(reverse("api_token_revoke"), follow=True)
    assert "You had no API token." in r.content.decode()


def test_tokens_are_personal_and_reached_from_the_profile(web, member):
    other = MembershipFactory(workspace=member.workspace)
    Token.objects.create(user=other.user)
    page = web.get(reverse("api_tokens")).content.decode()
    assert "You have no API token." in page
    web.post(reverse("api_token_revoke"))
    assert Token.objects.filter(user=other.user).exists()
    assert reverse("api_tokens") in web.get(reverse("profile")).content.decode()
    assert reverse("profile") in web.get(reverse("dashboard")).content.decode()


def test_get_on_the_post_urls_changes_nothing(web, member):
    assert web.get(reverse("api_token_create")).status_code == 405
    assert not Token.objects.filter(user=member.user).exists()
