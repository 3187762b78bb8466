"""Connecting LinkedIn through the web UI: OAuth 2.0's 3-legged flow against the fake
LinkedIn on 127.0.0.1 (tests/networks/fake_linkedin.py) — the member's own profile, or a
page they administer picked from the list LinkedIn gives. Tokens are stored encrypted and
never logged; nothing is stored when a step fails."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.db import connection
from django.test import Client
from django.urls import reverse

from accounts.models import Membership, SocialAccount
from networks import get_provider
from tests.factories import MembershipFactory
from tests.networks import fake_linkedin as fakes
from tests.networks.test_linkedin import assert_never_logged

fake_linkedin = fakes.fake_linkedin
pytestmark = pytest.mark.django_db


@pytest.fixture
def owner():
    return MembershipFactory(role=Membership.Role.OWNER)


@pytest.fixture
def web(owner):
    client = Client()
    client.force_login(owner.user)
    return client


def sign_in(web, fake, *, pages: bool = False):
    """Start on Queue Loop, sign in on the fake's authorization page, come back: the
    callback's response and the authorization URL's parameters."""
    start = reverse("linkedin_connect_start") + ("?pages=1" if pages else "")
    response = web.get(start)
    assert response.status_code == 302, response.content.decode()[:1000]
    authorize = response["Location"]
    assert authorize.startswith(f"{fake.url}/oauth/v2/authorization?")
    answer = requests.get(authorize, allow_redirects=False, timeout=5)
    assert answer.status_code == 302
    back = urlsplit(answer.headers["Location"])
    assert back.path == reverse("linkedin_connect_callback")
    callback = web.get(back.path, {k: v[0] for k, v in parse_qs(back.query).items()})
    return callback, {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}


def test_the_profile_connects_in_one_go_with_its_tokens_encrypted(web, owner, fake_linkedin, logs):
    sub = fake_linkedin.add_member("Ada Lovelace")
    fake_linkedin.signed_in = sub

    response, asked = sign_in(web, fake_linkedin)

    assert asked["scope"] == "openid profile w_member_social"
    assert asked["redirect_uri"] == "http://testserver/connect/linkedin/callback/"
    assert len(asked["state"]) >= 32
    assert response.status_code == 302 and response["Location"] == reverse("account_list")
    account = SocialAccount.objects.get(provider="linkedin")
    assert account.workspace == owner.workspace
    assert account.external_id == f"urn:li:person:{sub}"
    assert account.handle == "Ada Lovelace"
    assert account.options["kind"] == "member"
    stored = account.credentials
    assert stored["access_token"] in fake_linkedin.tokens
    assert stored["refresh_token"] in fake_linkedin.refresh_tokens
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM accounts_socialaccount")
        assert stored["access_token"] not in cursor.fetchone()[0]
    assert_never_logged(logs, [*fake_linkedin.issued, fakes.CLIENT_SECRET])
    # The stored account posts.
    assert get_provider("linkedin").check(account).startswith("Signed in to LinkedIn as Ada")


def test_a_page_is_picked_from_the_pages_the_member_administers(web, owner, fake_linkedin):
    sub = fake_linkedin.add_member("Ada Lovelace")
    inc = fake_linkedin.add_page("Queue Loop Inc", "queueloop", admins=[sub])
    labs = fake_linkedin.add_page("Queue Loop Labs", "queueloop-labs", admins=[sub])
    fake_linkedin.add_page("Someone Else", "else", admins=[sub], role="ANALYST")
    fake_linkedin.signed_in = sub

    response, asked = sign_in(web, fake_linkedin, pages=True)

    assert asked["scope"] == (
        "openid profile w_member_social w_organization_social r_organization_admin "
        "r_organization_social"
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("linkedin_connect_choose")
    assert SocialAccount.objects.count() == 0  # nothing stored before the choice
    [acls] = fake_linkedin.calls_to("GET", "/rest/organizationAcls")
    assert acls.query == {"q": "roleAssignee", "role": "ADMINISTRATOR", "state": "APPROVED"}
    page = web.get(reverse("linkedin_connect_choose")).content.decode()
    assert "My profile: <strong>Ada Lovelace</strong>" in page
    assert "Queue Loop Inc" in page and "Queue Loop Labs" in page
    assert "Someone Else" not in page  # an analyst, not an administrator

    chosen = web.post(reverse("linkedin_connect_choose"), {"author": labs})

    assert chosen.status_code == 302
    account = SocialAccount.objects.get(provider="linkedin")
    assert account.external_id == labs != inc
    assert account.handle == "queueloop-labs"
    assert account.options["kind"] == "organization"
    assert account.options["member"] == f"urn:li:person:{sub}"
    assert (
        get_provider("linkedin")
        .check(account)
        .startswith("Posting to LinkedIn as the page Queue Loop Labs")
    )
    # The choice is used up.
    again = web.post(reverse("linkedin_connect_choose"), {"author": inc})
    assert again.status_code == 400
    assert "start connecting again" in again.content.decode()


def test_a_choice_not_offered_is_refused(web, fake_linkedin):
    sub = fake_linkedin.add_member()
    fake_linkedin.signed_in = sub
    sign_in(web, fake_linkedin, pages=True)

    response = web.post(reverse("linkedin_connect_choose"), {"author": "urn:li:organization:1"})

    assert response.status_code == 400
    assert "Pick your profile or one of the pages listed" in response.content.decode()
    assert SocialAccount.objects.count() == 0


def test_a_state_that_does_not_match_stores_nothing(web, fake_linkedin):
    fake_linkedin.add_member()
    web.get(reverse("linkedin_connect_start"))

    response = web.get(reverse("linkedin_connect_callback"), {"code": "x", "state": "forged"})

    assert response.status_code == 400
    assert "state mismatch" in response.content.decode()
    assert SocialAccount.objects.count() == 0


def test_a_cancelled_sign_in_says_so(web, fake_linkedin):
    fake_linkedin.signed_in = None  # the member clicks Cancel on LinkedIn

    response, _ = sign_in(web, fake_linkedin)

    assert response.status_code == 400
    assert "LinkedIn access was not granted" in response.content.decode()


def test_without_keys_the_page_says_what_the_operator_must_set(web, settings):
    settings.LINKEDIN_CLIENT_ID = ""

    page = web.get(reverse("linkedin_connect")).content.decode()
    started = web.get(reverse("linkedin_connect_start"))

    assert "LINKEDIN_CLIENT_ID" in page
    assert started.status_code == 503
    assert "LINKEDIN_CLIENT_SECRET" in started.content.decode()


def test_connecting_again_updates_the_account(web, fake_linkedin):
    sub = fake_linkedin.add_member("Ada Lovelace")
    fake_linkedin.signed_in = sub
    sign_in(web, fake_linkedin)
    first = SocialAccount.objects.get().credentials["access_token"]

    sign_in(web, fake_linkedin)

    account = SocialAccount.objects.get()
    assert account.credentials["access_token"] != first
