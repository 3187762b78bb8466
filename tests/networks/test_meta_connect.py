"""Connecting Facebook Pages and Instagram accounts through the one Facebook Login flow,
against the fake Graph API on 127.0.0.1 (tests/networks/fake_meta_graph.py): the dialog's
address and state, code → long-lived user token → the Pages' tokens, the person's pick,
the tokens stored encrypted and never logged."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from accounts.models import Membership, SocialAccount
from tests.factories import MembershipFactory
from tests.networks import fake_meta_graph as fakes
from tests.networks.test_telegram import assert_never_logged

fake_meta = fakes.fake_meta
pytestmark = pytest.mark.django_db


@pytest.fixture
def owner():
    return MembershipFactory(role=Membership.Role.OWNER)


@pytest.fixture
def web(owner):
    client = Client()
    client.force_login(owner.user)
    return client


def sign_in(web, network: str, code: str):
    """Start the flow, then come back from Meta's dialog with `code` and its state."""
    start = web.post(reverse(f"{network}_connect"))
    assert start.status_code == 302, start.content.decode()[:1000]
    dialog = urlsplit(start["Location"])
    query = parse_qs(dialog.query)
    assert f"{dialog.scheme}://{dialog.netloc}{dialog.path}" == (
        "https://www.facebook.com/v25.0/dialog/oauth"
    )
    assert query["client_id"] == [fakes.APP_ID]
    callback = reverse(f"{network}_connect_callback")
    assert query["redirect_uri"] == [f"http://testserver{callback}"]
    return web.get(callback, {"code": code, "state": query["state"][0]}), query


def test_facebook_pages_are_picked_and_stored_with_encrypted_tokens(web, owner, fake_meta, caplog):
    caplog.set_level("DEBUG")
    code = fake_meta.add_user("Alice")
    news = fake_meta.add_page("Queue Loop News", owner_code=code)
    fake_meta.add_page("Queue Loop Jobs", owner_code=code)
    fake_meta.add_page("Somebody else's", owner_code=None)

    back, query = sign_in(web, "facebook", code)

    assert set(query["scope"][0].split(",")) == {
        "pages_show_list",
        "pages_read_engagement",
        "pages_manage_posts",
    }
    assert back.status_code == 302 and back["Location"] == reverse("facebook_connect_pick")
    pick = web.get(back["Location"]).content.decode()
    assert "Queue Loop News" in pick and "Queue Loop Jobs" in pick
    assert "Somebody else" not in pick

    done = web.post(reverse("facebook_connect_pick"), {"chosen": [news["id"]]})

    assert done.status_code == 302
    account = SocialAccount.objects.get(provider="facebook")
    assert account.workspace == owner.workspace
    assert (account.handle, account.external_id) == ("Queue Loop News", news["id"])
    assert account.credentials["page_token"] == news["token"]
    long_token = account.credentials["user_token"]
    assert fake_meta.users[long_token]["long"] is True  # the exchanged, long-lived one
    assert account.credentials["user_token_expires_at"] > 0
    assert account.options == {"page_id": news["id"], "page_name": "Queue Loop News"}
    exchange = [c for c in fake_meta.calls if c.query.get("grant_type") == "fb_exchange_token"]
    assert len(exchange) == 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM accounts_socialaccount")
        stored = cursor.fetchone()[0]
    assert news["token"] not in stored and long_token not in stored
    assert_never_logged(caplog, [*fake_meta.issued, fakes.APP_SECRET])


def test_instagram_accounts_behind_the_pages_are_offered(web, owner, fake_meta, settings):
    settings.PUBLIC_BASE_URL = "https://queueloop.example"
    code = fake_meta.add_user("Alice")
    with_ig = fake_meta.add_page("Queue Loop News", owner_code=code, instagram="queueloop")
    fake_meta.add_page("No Instagram", owner_code=code)

    back, query = sign_in(web, "instagram", code)

    assert "instagram_content_publish" in query["scope"][0].split(",")
    pick = web.get(back["Location"]).content.decode()
    assert "@queueloop" in pick and "No Instagram" not in pick

    web.post(reverse("instagram_connect_pick"), {"chosen": [with_ig["instagram"]]})

    account = SocialAccount.objects.get(provider="instagram")
    assert (account.handle, account.external_id) == ("queueloop", with_ig["instagram"])
    assert account.options["page_id"] == with_ig["id"]
    assert account.credentials["page_token"] == with_ig["token"]


def test_the_instagram_page_says_public_base_url_is_required(web, fake_meta, settings):
    settings.PUBLIC_BASE_URL = ""
    settings.MEDIA_URL = "/media/"

    body = web.get(reverse("instagram_connect")).content.decode()

    assert "PUBLIC_BASE_URL" in body
    assert "Instagram cannot fetch this site's images" in body


def test_a_state_that_does_not_match_stores_nothing(web, fake_meta):
    code = fake_meta.add_user()
    web.post(reverse("facebook_connect"))

    response = web.get(reverse("facebook_connect_callback"), {"code": code, "state": "forged"})

    assert response.status_code == 400
    assert "stale or was not started here" in response.content.decode()
    assert fake_meta.calls == []
    assert not SocialAccount.objects.filter(provider="facebook").exists()


def test_a_code_meta_refuses_shows_metas_message(web, fake_meta):
    back, _ = sign_in(web, "facebook", "a-code-meta-never-gave")

    assert back.status_code == 400
    assert "This authorization code has been used." in back.content.decode()


def test_without_an_app_the_page_says_what_to_set(web, settings, fake_meta):
    settings.META_APP_ID = ""

    page = web.get(reverse("facebook_connect"))
    start = web.post(reverse("facebook_connect"))

    assert "META_APP_ID" in page.content.decode()
    assert start.status_code == 503 and "META_APP_ID" in start.content.decode()
