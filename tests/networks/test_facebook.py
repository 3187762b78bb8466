"""Facebook Pages at the Graph API's HTTP boundary (tests/networks/fake_meta_graph.py on
127.0.0.1, through the guarded transport): text with its link, one image, several images,
Meta's errors classified, a rate limit waited out, the lost answer (never a second post),
the first comment and the account check with its tokens. Deliveries go through
publishing.services.delivery_send as the worker runs them. Connecting: test_meta_connect.py.
"""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
import time_machine
from PIL import Image

from accounts.models import SocialAccount
from networks import AuthFailed, Rejected, get_provider
from networks.contract import CommentsOnPosts
from networks.meta import graph
from publishing.models import Delivery
from publishing.services import deliveries_recover, delivery_send
from scheduling.models import Timeslot
from tests.factories import ChannelFactory, MembershipFactory, PostFactory, SocialAccountFactory
from tests.networks import fake_meta_graph as fakes
from tests.networks.fake_http import Scripted
from tests.networks.test_telegram import assert_never_logged

fake_meta = fakes.fake_meta
pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def page(fake_meta):
    return fake_meta.add_page("Queue Loop News")


@pytest.fixture
def account(page):
    acc = SocialAccountFactory(
        provider="facebook",
        handle=page["name"],
        external_id=page["id"],
        credentials={"page_token": page["token"]},
        options={"page_id": page["id"], "page_name": page["name"]},
    )
    MembershipFactory(workspace=acc.workspace, user__email="owner@example.com")
    return acc


@pytest.fixture
def network():
    return get_provider("facebook")


def make_delivery(account, text: str = "Hello, Facebook", *, parts=None) -> Delivery:
    channel = ChannelFactory(workspace=account.workspace, with_sandbox=False)
    channel.accounts.add(account)
    post = PostFactory(workspace=account.workspace, text=text, thread_parts=parts or [])
    slot = Timeslot.objects.create(
        channel=channel, post=post, publish_at=dt.datetime.now(dt.UTC), status="publishing"
    )
    return Delivery.objects.create(
        timeslot=slot, account=account, post=post, text=text, thread_parts=parts or []
    )


def add_image(post, n: int, *, fmt="JPEG"):
    from posts.images import post_image_add
    from posts.tasks import process_image

    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 80, 40)).save(out, format=fmt)
    image = post_image_add(
        post=post, data=out.getvalue(), filename=f"{n}.{fmt.lower()}", alt_text=f"Alt {n}"
    )
    process_image(image.id)


def reload(obj):
    obj.refresh_from_db()
    return obj


def meta_error(code: int, message: str, subcode: int | None = None) -> dict:
    body = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbC"}
    if subcode:
        body["error_subcode"] = subcode
    return {"error": body}


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


# --- Publishing --------------------------------------------------------------------------


def test_text_goes_to_the_feed_with_its_first_link(network, account, fake_meta, page, caplog):
    caplog.set_level("DEBUG")
    text = "Read the notes: https://queueloop.example/notes."

    published = network.publish(make_delivery(account, text))

    [call] = fake_meta.calls
    assert call.path == fake_meta.path(f"{page['id']}/feed")
    assert call.headers["authorization"] == f"Bearer {page['token']}"
    assert call.form["message"] == [text]
    assert call.form["link"] == ["https://queueloop.example/notes"]
    # appsecret_proof: the token's HMAC with the app secret (META_APP_SECRET is set).
    assert call.form["appsecret_proof"] == [graph.appsecret_proof(page["token"])]
    [post] = fake_meta.posts_of(page["id"])
    assert published.external_id == post["id"]
    page_part, post_part = post["id"].split("_")
    assert published.url == f"https://www.facebook.com/{page_part}/posts/{post_part}"
    assert_never_logged(caplog, [page["token"], fakes.APP_SECRET])


def test_one_image_is_one_photo_post_with_its_caption_and_alt_text(
    network, account, fake_meta, page
):
    delivery = make_delivery(account, "A picture")
    add_image(delivery.post, 0)

    published = network.publish(delivery)

    [call] = fake_meta.calls
    assert call.path == fake_meta.path(f"{page['id']}/photos")
    [post] = fake_meta.posts_of(page["id"])
    assert post["message"] == "A picture"
    assert [p["alt"] for p in post["photos"]] == ["Alt 0"]
    assert post["photos"][0]["data"].startswith(b"\xff\xd8")  # the JPEG itself
    assert published.external_id == post["id"]


def test_several_images_are_uploaded_unpublished_then_attached_to_one_post(
    network, account, fake_meta, page
):
    delivery = make_delivery(account, "An album")
    for n in range(3):
        add_image(delivery.post, n, fmt="PNG" if n == 2 else "JPEG")

    network.publish(delivery)

    paths = [c.path.rsplit("/", 1)[-1] for c in fake_meta.calls]
    assert paths == ["photos", "photos", "photos", "feed"]
    assert all(c.form.get("published") is None for c in fake_meta.calls[3:])
    uploads = fake_meta.calls[:3]
    assert [c.multipart()["published"][2] for c in uploads] == [b"false"] * 3
    feed = fake_meta.calls[3].form
    assert [json.loads(feed[f"attached_media[{n}]"][0]) for n in range(3)] == [
        {"media_fbid": photo_id} for photo_id in fake_meta.photos
    ]
    [post] = fake_meta.posts_of(page["id"])
    assert post["message"] == "An album"
    assert [p["alt"] for p in post["photos"]] == ["Alt 0", "Alt 1", "Alt 2"]


def test_a_thread_is_refused_before_anything_is_sent(network, account, fake_meta):
    with pytest.raises(Rejected) as refused:
        network.publish(make_delivery(account, "One", parts=["Two"]))

    assert "Facebook Pages have no threads" in refused.value.message
    assert fake_meta.calls == []
    assert network.capabilities.threads is False


def test_the_pages_own_limit_is_63206_characters(network, account):
    assert network.validate("a" * 63_206, account=account) == []
    [error] = network.validate("a" * 63_207, account=account)
    assert "63206" in error and "63207" in error


# --- Errors, through the delivery as the worker runs it ---------------------------------


def test_a_refused_call_shows_metas_message(account, fake_meta, page, clock):
    fake_meta.script(
        "POST",
        fake_meta.path(f"{page['id']}/feed"),
        Scripted(400, meta_error(100, "(#100) The post's link is not allowed", 1_609_005)),
    )
    delivery = make_delivery(account)

    assert delivery_send(delivery_id=delivery.id) == "failed"

    error = reload(delivery).last_error
    assert "Facebook refused the post: (#100) The post's link is not allowed" in error
    assert "code 100/1609005" in error
    assert fake_meta.posts_of(page["id"]) == []


def test_an_invalid_token_marks_the_account_for_reconnecting_with_metas_words(
    account, fake_meta, page, clock
):
    fake_meta.revoke(page["token"])
    delivery = make_delivery(account)

    assert delivery_send(delivery_id=delivery.id) == "failed"

    account = reload(account)
    assert account.status == SocialAccount.Status.NEEDS_RECONNECT
    assert "The session has been invalidated" in account.last_error


def test_a_rate_limit_is_waited_out_then_the_post_goes(account, fake_meta, page, clock):
    usage = {
        page["id"]: [{"type": "pages", "call_count": 100, "estimated_time_to_regain_access": 7}]
    }
    fake_meta.script(
        "POST",
        fake_meta.path(f"{page['id']}/feed"),
        Scripted(
            400,
            meta_error(32, "Page request limit reached"),
            headers={"X-Business-Use-Case-Usage": json.dumps(usage)},
        ),
    )
    delivery = make_delivery(account)

    assert delivery_send(delivery_id=delivery.id) == "pending"

    delivery = reload(delivery)
    assert delivery.next_attempt_at == T0 + dt.timedelta(minutes=7)
    assert "Page request limit reached" in delivery.last_error
    clock.move_to(T0 + dt.timedelta(minutes=8))
    assert delivery_send(delivery_id=delivery.id) == "sent"
    assert len(fake_meta.posts_of(page["id"])) == 1


def test_a_lost_answer_ends_unconfirmed_and_makes_no_second_post(account, fake_meta, page, clock):
    feed = fake_meta.path(f"{page['id']}/feed")
    # Facebook makes the post, then the connection drops before its answer.
    fake_meta.script("POST", feed, Scripted(drop=True, after=True))
    delivery = make_delivery(account)

    assert delivery_send(delivery_id=delivery.id) == "unconfirmed"

    assert "may have gone out" in reload(delivery).last_error
    clock.move_to(T0 + dt.timedelta(minutes=10))
    assert delivery_send(delivery_id=delivery.id) == "not claimed"
    deliveries_recover(now=T0 + dt.timedelta(minutes=10))
    assert reload(delivery).status == Delivery.Status.UNCONFIRMED
    assert len(fake_meta.calls_to("POST", feed)) == 1
    assert len(fake_meta.posts_of(page["id"])) == 1


def test_a_server_error_on_the_post_may_have_posted(network, account, fake_meta, page):
    fake_meta.script(
        "POST",
        fake_meta.path(f"{page['id']}/feed"),
        Scripted(500, meta_error(2, "An unexpected error has occurred.")),
    )

    with pytest.raises(Exception) as caught:
        network.publish(make_delivery(account))

    assert caught.value.maybe_sent is True
    assert network.idempotent is False


# --- The first comment ------------------------------------------------------------------


def test_the_first_comment_goes_under_the_post(network, account, fake_meta, page):
    delivery = make_delivery(account)
    published = network.publish(delivery)

    assert isinstance(network, CommentsOnPosts)
    ref = network.publish_comment(
        delivery,
        "Links in the comments: https://queueloop.example",
        on={"id": published.external_id},
    )

    [comment] = fake_meta.comments
    assert comment["on"] == published.external_id
    assert comment["text"] == "Links in the comments: https://queueloop.example"
    assert ref["id"] == comment["id"]


# --- The account check and its tokens -----------------------------------------------------


def test_check_names_the_page_and_its_tokens(network, account, fake_meta, page):
    message = network.check(account)

    assert message.startswith("Posting to the Facebook Page “Queue Loop News”.")
    assert "Tokens valid" in message
    [debug] = fake_meta.calls_to("GET", fake_meta.path("debug_token"))
    assert debug.query["input_token"] == page["token"]


def test_check_refuses_a_token_meta_calls_invalid(network, account, fake_meta, page):
    fake_meta.script(
        "GET",
        fake_meta.path(page["id"]),
        Scripted(400, meta_error(190, "Error validating access token: Session has expired", 463)),
    )

    with pytest.raises(AuthFailed) as refused:
        network.check(account)

    assert "Session has expired" in refused.value.message


def test_check_refreshes_a_user_token_near_its_expiry(network, account, fake_meta, page, clock):
    code = fake_meta.add_user("Alice")
    user_token = fake_meta.codes[code]
    page_record = fake_meta.pages[page["id"]]
    page_record["owner"] = fake_meta.users[user_token]["id"]
    soon = int((T0 + dt.timedelta(days=3)).timestamp())
    account.credentials = {
        **account.credentials,
        "user_token": user_token,
        "user_token_expires_at": soon,
    }
    account.save()

    message = network.check(account)

    account = reload(account)
    assert "Tokens refreshed" in message
    assert account.credentials["user_token"] != user_token
    assert fake_meta.users[account.credentials["user_token"]]["long"] is True
    assert account.credentials["user_token_expires_at"] == int(T0.timestamp()) + fakes.LONG_LIVED
    assert account.credentials["page_token"] == page["token"]


def test_check_accounts_marks_a_page_whose_token_died_for_reconnecting(account, fake_meta, page):
    from django.core.management import CommandError, call_command

    fake_meta.revoke(page["token"])

    with pytest.raises(CommandError):
        call_command("check_accounts", "--account", str(account.id))

    account = reload(account)
    assert account.status == SocialAccount.Status.NEEDS_RECONNECT
    assert "Error validating access token" in account.last_error
