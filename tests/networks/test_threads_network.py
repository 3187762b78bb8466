"""Threads (Meta) against its fake on 127.0.0.1 (tests/networks/fake_threads.py): connecting
with OAuth, the container flow for text, images and carousels, reply chains, the first
comment, Meta's errors, the 250-posts cap, a lost answer that must not post twice, and the
long-lived token's refresh. (tests/networks/test_threads.py is about our own thread posts.)"""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from accounts.models import SocialAccount
from networks import AuthFailed, RateLimited, Rejected, Transient, get_provider
from networks.contract import CommentsOnPosts
from networks.thread import PartlySent
from networks.threads.errors import classify
from tests.factories import SocialAccountFactory
from tests.networks import fake_threads as fakes
from tests.networks.fake_http import Scripted
from tests.networks.test_contract import add_ready_image, make_delivery
from tests.networks.test_telegram import assert_never_logged

fake_threads = fakes.fake_threads
pytestmark = pytest.mark.django_db
network = get_provider("threads")


@pytest.fixture
def profile(fake_threads):
    return fake_threads.add_user("queueloop")


@pytest.fixture
def account(profile):
    user_id, token = profile
    return SocialAccountFactory(
        provider="threads",
        handle="queueloop",
        external_id=user_id,
        credentials={"access_token": token},
        options={"user_id": user_id, "username": "queueloop"},
    )


def publish_path(account) -> str:
    return f"/v1.0/{account.external_id}/threads_publish"


def meta_error(code: int, message: str, **more) -> dict:
    return {"error": {"message": message, "type": "THApiException", "code": code, **more}}


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PUBLIC_BASE_URL = "https://queueloop.example"


# --- Connecting -------------------------------------------------------------------------


def test_connect_signs_in_with_oauth_and_stores_a_long_lived_token_encrypted(
    web, member, fake_threads, logs
):
    user_id, _ = fake_threads.add_user("alice")

    start = web.get(reverse("threads_connect"))

    assert start.status_code == 302
    sent = urlsplit(start["Location"])
    query = parse_qs(sent.query)
    assert f"{sent.scheme}://{sent.netloc}{sent.path}" == "https://threads.net/oauth/authorize"
    assert query["scope"] == [
        "threads_basic,threads_content_publish,threads_manage_replies,threads_manage_insights"
    ]
    assert query["response_type"] == ["code"]
    fake_threads.redirect_uri = query["redirect_uri"][0]
    code = fake_threads.authorization_code(user_id)

    back = web.get(reverse("threads_connect_callback"), {"code": code, "state": query["state"][0]})

    assert back.status_code == 302, back.content.decode()[:1000]
    account = SocialAccount.objects.get(provider="threads")
    assert (account.handle, account.external_id, account.workspace) == (
        "alice",
        user_id,
        member.workspace,
    )
    token = account.credentials["access_token"]
    assert fake_threads.tokens[token]["long"] is True
    assert account.credentials["expires_at"] - account.credentials["issued_at"] == 5183944
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM accounts_socialaccount")
        assert token not in cursor.fetchone()[0]
    assert_never_logged(logs, [token, code, fakes.APP_SECRET])


def test_a_callback_whose_state_does_not_match_stores_nothing(web, fake_threads):
    user_id, _ = fake_threads.add_user("alice")
    web.get(reverse("threads_connect"))

    back = web.get(
        reverse("threads_connect_callback"),
        {"code": fake_threads.authorization_code(user_id), "state": "forged"},
    )

    assert back.status_code == 400
    assert "state mismatch" in back.content.decode()
    assert not SocialAccount.objects.filter(provider="threads").exists()


def test_connect_says_what_to_set_when_the_app_keys_are_missing(web, settings):
    settings.THREADS_APP_ID = ""

    response = web.get(reverse("threads_connect"))

    assert response.status_code == 503
    assert "THREADS_APP_ID" in response.content.decode()


# --- Publishing -------------------------------------------------------------------------


def test_a_text_post_is_a_container_then_its_publication(fake_threads, account):
    delivery = make_delivery(account, "Hello Threads 👋")

    published = network.publish(delivery)

    [post] = fake_threads.posts_of(account.external_id)
    assert post["text"] == "Hello Threads 👋" and post["media_type"] == "TEXT"
    assert published.external_id == post["id"]
    assert published.url == post["permalink"]
    [create] = fake_threads.calls_to("POST", f"/v1.0/{account.external_id}/threads")
    assert create.headers["authorization"] == f"Bearer {account.credentials['access_token']}"
    delivery.refresh_from_db()
    assert delivery.network_state["part0"]["container"] == post["container"]


def test_the_length_counts_an_emoji_as_its_bytes():
    assert network.text_length("a" * 496 + "👋") == 500
    [error] = network.validate("a" * 497 + "👋")
    assert "501" in error and "500" in error


def test_one_image_goes_by_its_public_signed_url_with_its_alt_text(fake_threads, account, media):
    delivery = make_delivery(account, "One picture")
    add_ready_image(delivery.post, 0)

    network.publish(delivery)

    [post] = fake_threads.posts_of(account.external_id)
    assert post["media_type"] == "IMAGE"
    [(url, alt)] = post["images"]
    assert url.startswith("https://queueloop.example/media/posts/") and "&s=" in url
    assert alt == "Alt 0"


def test_several_images_go_as_a_carousel(fake_threads, account, media):
    delivery = make_delivery(account, "Three pictures")
    for n in range(3):
        add_ready_image(delivery.post, n)

    network.publish(delivery)

    [post] = fake_threads.posts_of(account.external_id)
    assert post["media_type"] == "CAROUSEL"
    assert [alt for _url, alt in post["images"]] == ["Alt 0", "Alt 1", "Alt 2"]


def test_images_without_a_public_address_are_refused_before_anything(
    fake_threads, account, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PUBLIC_BASE_URL = ""
    delivery = make_delivery(account, "A picture")
    add_ready_image(delivery.post, 0)

    with pytest.raises(Rejected, match="PUBLIC_BASE_URL"):
        network.publish(delivery)

    assert fake_threads.posts == [] and fake_threads.containers == {}


def test_an_image_still_being_prepared_is_published_later_from_the_same_container(
    fake_threads, account, media
):
    fake_threads.image_status = "IN_PROGRESS"
    delivery = make_delivery(account, "Slow picture")
    add_ready_image(delivery.post, 0)

    with pytest.raises(Transient) as caught:
        network.publish(delivery)
    assert caught.value.maybe_sent is False
    [container] = fake_threads.containers.values()
    container["status"] = "FINISHED"
    network.publish(delivery)

    assert len(fake_threads.containers) == 1
    assert len(fake_threads.posts_of(account.external_id)) == 1


def test_a_carousels_images_being_prepared_are_waited_for_and_not_made_again(
    fake_threads, account, media
):
    fake_threads.image_status = "IN_PROGRESS"
    delivery = make_delivery(account, "Slow carousel")
    for n in range(2):
        add_ready_image(delivery.post, n)

    with pytest.raises(Transient, match="still preparing the images"):
        network.publish(delivery)
    for container in fake_threads.containers.values():
        container["status"] = "FINISHED"
    delivery.refresh_from_db()
    network.publish(delivery)

    assert len(fake_threads.containers) == 3  # two items and the carousel, made once
    [post] = fake_threads.posts_of(account.external_id)
    assert post["media_type"] == "CAROUSEL"


def test_a_thread_is_a_reply_chain(fake_threads, account):
    delivery = make_delivery(account, "One", parts=["Two", "Three"])

    network.publish(delivery)

    one, two, three = fake_threads.posts_of(account.external_id)
    assert [one["text"], two["text"], three["text"]] == ["One", "Two", "Three"]
    assert (one["reply_to_id"], two["reply_to_id"], three["reply_to_id"]) == (
        "",
        one["id"],
        two["id"],
    )


def test_a_thread_resumes_after_the_last_part_that_went_out(fake_threads, account):
    delivery = make_delivery(account, "One", parts=["Two", "Three"])
    fake_threads.script("POST", publish_path(account), Scripted(503, passes=1))

    with pytest.raises(Transient, match="Part 1 of 3 went out"):
        network.publish(delivery)
    network.publish(delivery)

    assert [p["text"] for p in fake_threads.posts_of(account.external_id)] == [
        "One",
        "Two",
        "Three",
    ]


def test_a_refused_post_shows_metas_message(fake_threads, account):
    fake_threads.script(
        "POST",
        f"/v1.0/{account.external_id}/threads",
        Scripted(400, meta_error(100, "Param text contains a link that is not allowed")),
    )

    with pytest.raises(Rejected, match="Param text contains a link that is not allowed"):
        network.publish(make_delivery(account, "Refused"))

    assert fake_threads.posts == []


def test_a_revoked_token_asks_for_a_reconnect_with_metas_message(fake_threads, account):
    fake_threads.tokens.clear()

    with pytest.raises(AuthFailed, match=r"Invalid OAuth access token.*reconnect"):
        network.publish(make_delivery(account, "Nope"))


def test_a_later_part_refused_for_good_leaves_the_post_partly_sent(fake_threads, account):
    fake_threads.script(
        "POST",
        f"/v1.0/{account.external_id}/threads",
        Scripted(400, meta_error(100, "Invalid parameter"), passes=1),
    )

    with pytest.raises(PartlySent, match="Part 1 of 2 went out"):
        network.publish(make_delivery(account, "One", parts=["Two"]))


def test_a_rate_limit_is_waited_out_and_the_same_container_published(fake_threads, account):
    delivery = make_delivery(account, "Busy")
    fake_threads.script(
        "POST",
        publish_path(account),
        Scripted(400, meta_error(4, "Application request limit reached")),
    )

    with pytest.raises(RateLimited) as caught:
        network.publish(delivery)
    assert caught.value.reset_at > dt.datetime.now(dt.UTC)
    assert fake_threads.posts == []
    with time_machine.travel(caught.value.reset_at + dt.timedelta(seconds=1)):
        network.publish(delivery)

    assert len(fake_threads.containers) == 1
    assert len(fake_threads.posts_of(account.external_id)) == 1


def test_a_container_left_unpublished_past_24_hours_is_made_again(fake_threads, account):
    delivery = make_delivery(account, "Late")
    fake_threads.script("POST", publish_path(account), Scripted(503))
    with pytest.raises(Transient):
        network.publish(delivery)

    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(hours=25)):
        network.publish(delivery)

    assert len(fake_threads.containers) == 2
    assert len(fake_threads.posts_of(account.external_id)) == 1


# --- The 250-posts cap ------------------------------------------------------------------


def test_a_profile_at_its_cap_waits_and_nothing_is_published(fake_threads, account):
    fake_threads.extra_usage[account.external_id] = 250
    delivery = make_delivery(account, "Over the cap")

    with pytest.raises(RateLimited, match="250 of 250 posts in the last 24 h") as caught:
        network.publish(delivery)

    assert caught.value.reset_at > dt.datetime.now(dt.UTC)
    assert fake_threads.posts == []
    assert fake_threads.calls_to("POST", publish_path(account)) == []
    assert "250 of 250 posts in the last 24 h" in network.check(account)
    fake_threads.extra_usage[account.external_id] = 249  # the window moved on
    network.publish(delivery)
    assert len(fake_threads.posts_of(account.external_id)) == 1


def test_check_says_who_and_how_much_of_the_cap_is_used(fake_threads, account, web, member):
    account.workspace = member.workspace
    account.save()
    fake_threads.extra_usage[account.external_id] = 12

    assert network.check(account) == (
        "Signed in to Threads as @queueloop; 12 of 250 posts in the last 24 h."
    )
    body = web.get(reverse("account_list")).content.decode()
    start = body.index(f'<tr id="account-{account.id}">')
    assert "12 of 250 posts in the last 24 h" in body[start : body.index("</tr>", start)]


# --- At most once -----------------------------------------------------------------------


def test_a_lost_answer_after_the_post_was_made_publishes_nothing_new(fake_threads, account):
    delivery = make_delivery(account, "Said once")
    fake_threads.script("POST", publish_path(account), Scripted(drop=True, after=True))

    with pytest.raises(Transient) as caught:
        network.publish(delivery)
    assert caught.value.maybe_sent is True
    delivery.refresh_from_db()  # a new attempt reads what the last one kept
    published = network.publish(delivery)

    [post] = fake_threads.posts_of(account.external_id)
    assert published.external_id == post["id"]
    assert published.url == post["permalink"]
    assert len(fake_threads.calls_to("POST", publish_path(account))) == 1
    assert len(fake_threads.containers) == 1


def test_a_repeat_after_a_full_answer_calls_no_publish_at_all(fake_threads, account):
    delivery = make_delivery(account, "Once")
    first = network.publish(delivery)
    delivery.refresh_from_db()

    again = network.publish(delivery)

    assert again == first
    assert len(fake_threads.calls_to("POST", publish_path(account))) == 1
    assert len(fake_threads.posts) == 1


def test_a_published_container_whose_post_is_not_found_is_never_published_again(
    fake_threads, account
):
    delivery = make_delivery(account, "Hidden")
    fake_threads.script("POST", publish_path(account), Scripted(drop=True, after=True))
    with pytest.raises(Transient):
        network.publish(delivery)
    fake_threads.posts[0]["text"] = "changed by Threads"

    with pytest.raises(Transient, match="PUBLISHED") as caught:
        network.publish(delivery)

    assert caught.value.maybe_sent is True
    assert len(fake_threads.posts) == 1
    assert len(fake_threads.calls_to("POST", publish_path(account))) == 1


# --- The first comment ------------------------------------------------------------------


def test_the_first_comment_is_a_reply_to_the_post_published_once(fake_threads, account):
    delivery = make_delivery(account, "The post")
    published = network.publish(delivery)
    on = {"id": published.external_id, "url": published.url}
    fake_threads.script("POST", publish_path(account), Scripted(drop=True, after=True))

    with pytest.raises(Transient):
        network.publish_comment(delivery, "Links in the comment", on=on)
    delivery.refresh_from_db()
    comment = network.publish_comment(delivery, "Links in the comment", on=on)

    post, reply = fake_threads.posts_of(account.external_id)
    assert reply["text"] == "Links in the comment" and reply["reply_to_id"] == post["id"]
    assert comment["id"] == reply["id"]
    assert delivery.network_state["comment"]["media"] == reply["id"]


def test_threads_keeps_the_first_comment_protocol():
    assert network.capabilities.first_comment
    assert isinstance(network, CommentsOnPosts)


@pytest.mark.parametrize(
    ("status", "code", "subcode", "expected"),
    [
        (400, 190, None, AuthFailed),
        (403, 10, None, AuthFailed),
        (400, 200, None, AuthFailed),
        (400, 4, None, RateLimited),
        (400, 17, None, RateLimited),
        (400, 32, None, RateLimited),
        (400, 613, None, RateLimited),
        (400, 24, 4279009, Transient),
        (500, 2, None, Transient),
        (400, 100, 33, Rejected),
    ],
)
def test_metas_error_codes_are_classified(status, code, subcode, expected):
    body = meta_error(code, "Meta says so", **({"error_subcode": subcode} if subcode else {}))

    error = classify(status, body, what="the post", maybe_sent=False)

    assert type(error) is expected
    assert "Meta says so" in error.message and f"code {code}" in error.message


# --- Tokens -----------------------------------------------------------------------------


def test_a_token_near_its_end_is_refreshed_by_the_account_check(fake_threads, profile):
    user_id, token = profile
    issued = fake_threads.tokens[token]
    account = SocialAccountFactory(
        provider="threads",
        handle="queueloop",
        external_id=user_id,
        credentials={
            "access_token": token,
            "issued_at": int(issued["issued_at"]),
            "expires_at": int(issued["expires_at"]),
        },
        options={"user_id": user_id, "username": "queueloop"},
    )
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=55)

    with time_machine.travel(later):
        call_command("check_accounts", "--account", str(account.id))

    account.refresh_from_db()
    new = account.credentials["access_token"]
    assert new != token and fake_threads.tokens[new]["long"]
    assert account.credentials["expires_at"] > later.timestamp() + 59 * 24 * 3600
    assert account.status == SocialAccount.Status.ACTIVE


def test_a_token_that_expired_asks_for_a_reconnect(fake_threads, account):
    account.credentials = {**account.credentials, "expires_at": 1}
    account.save()

    with pytest.raises(AuthFailed, match="reconnect"):
        network.publish(make_delivery(account, "Too late"))


# --- Through the delivery code ----------------------------------------------------------


def test_a_worker_retries_a_lost_answer_and_the_delivery_ends_sent_with_one_post(
    fake_threads, account
):
    from publishing import services
    from publishing.models import Delivery

    delivery = make_delivery(account, "Through the worker")
    fake_threads.script("POST", publish_path(account), Scripted(drop=True, after=True))

    services.deliveries_send(delivery_ids=[delivery.id])
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PENDING, delivery.last_error
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)):
        services.deliveries_send(delivery_ids=[delivery.id])

    delivery.refresh_from_db()
    [post] = fake_threads.posts_of(account.external_id)
    assert delivery.status == Delivery.Status.SENT, delivery.last_error
    assert delivery.external_id == post["id"]
    assert len(fake_threads.calls_to("POST", publish_path(account))) == 1
