"""LinkedIn at its HTTP boundary: publishing (text, images, the first comment), its errors,
token refresh and the account check against a fake LinkedIn on 127.0.0.1
(tests/networks/fake_linkedin.py), through the guarded transport; deliveries go through
publishing.services.delivery_send as the Celery task runs them. Connecting:
test_linkedin_connect.py."""

from __future__ import annotations

import datetime as dt
import io

import pytest
import time_machine
from django.core.management import call_command
from PIL import Image

from accounts.models import SocialAccount
from networks import AuthFailed, Rejected, Transient, get_provider
from networks.linkedin import api, tokens
from networks.linkedin.text import escape
from publishing.models import Delivery
from publishing.services import deliveries_recover, delivery_send
from scheduling.models import Timeslot
from tests.factories import ChannelFactory, MembershipFactory, PostFactory, SocialAccountFactory
from tests.networks import fake_linkedin as fakes
from tests.networks.fake_http import Scripted

fake_linkedin = fakes.fake_linkedin
pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def assert_never_logged(caplog, secrets: list[str]) -> None:
    everything = "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records)
    assert [s for s in secrets if s in everything] == []


def linkedin_account(fake, *, page: str = "", scope: str = "", **issue) -> SocialAccount:
    """A member (or, with `page`, one of their pages) connected with a fresh token."""
    sub = fake.add_member("Ada Lovelace")
    member = f"urn:li:person:{sub}"
    if page:
        author = fake.add_page(page, page.lower().replace(" ", "-"), admins=[sub])
        scope = scope or "openid profile w_member_social w_organization_social r_organization_admin"
    else:
        author = member
        scope = scope or "openid profile w_member_social"
    account = SocialAccountFactory(
        provider="linkedin",
        handle=page or "Ada Lovelace",
        external_id=author,
        credentials=tokens.credentials_from_token(fake.issue(sub, scope, **issue)),
        options={
            "author": author,
            "kind": "organization" if page else "member",
            "name": page or "Ada Lovelace",
            "member": member,
        },
    )
    MembershipFactory(workspace=account.workspace, user__email="owner@example.com")
    return account


@pytest.fixture
def account(fake_linkedin, clock):
    return linkedin_account(fake_linkedin)


@pytest.fixture
def network():
    return get_provider("linkedin")


def make_delivery(account, text: str = "Hello, LinkedIn", *, parts=None) -> Delivery:
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
    Image.new("RGB", (40 + n, 30), (200, 80, 40)).save(out, format=fmt)
    image = post_image_add(
        post=post, data=out.getvalue(), filename=f"{n}.{fmt.lower()}", alt_text=f"Alt {n}"
    )
    process_image(image.id)


def reload(obj):
    obj.refresh_from_db()
    return obj


# --- Publishing --------------------------------------------------------------------------


def test_text_goes_out_with_the_posts_api_as_literal_text(network, account, fake_linkedin, logs):
    text = "Q4 (draft) is *done* — see you @ 5_pm ~ #launch"

    published = network.publish(make_delivery(account, text))

    [call] = fake_linkedin.calls
    assert (call.method, call.path) == ("POST", "/rest/posts")
    assert call.headers["x-restli-protocol-version"] == "2.0.0"
    body = call.json
    assert body["author"] == account.external_id
    assert body["commentary"] == escape(text)
    assert body["commentary"].endswith("#launch")  # a hashtag stays a hashtag
    assert body["lifecycleState"] == "PUBLISHED" and body["visibility"] == "PUBLIC"
    [post] = fake_linkedin.posts
    assert post["text"] == text  # LinkedIn shows it as written, nothing cut at the "("
    assert published.external_id == post["urn"]
    assert published.url == f"https://www.linkedin.com/feed/update/{post['urn']}/"
    assert_never_logged(logs, fake_linkedin.issued)


def test_unescaped_text_would_be_cut_at_the_first_reserved_character():
    # What the fake reads (LinkedIn's little parser): proof the escaping above matters.
    assert fakes.read_little("Q4 (draft)") == "Q4 "
    assert fakes.read_little(escape("Q4 (draft) \\o/")) == "Q4 (draft) \\o/"


def test_the_version_header_is_the_setting(network, account, fake_linkedin, settings):
    settings.LINKEDIN_VERSION = "202601"

    network.publish(make_delivery(account))

    assert {c.headers["linkedin-version"] for c in fake_linkedin.calls} == {"202601"}
    assert fake_linkedin.posts[0]["version"] == "202601"


def test_a_retired_version_is_refused_with_what_the_operator_must_do(
    network, account, fake_linkedin, settings
):
    fake_linkedin.active_versions = {"202601"}
    settings.LINKEDIN_VERSION = "202401"

    with pytest.raises(Rejected) as refused:
        network.publish(make_delivery(account))

    assert "Requested version 202401 is not active" in refused.value.message
    assert "LINKEDIN_VERSION" in refused.value.message
    assert fake_linkedin.posts == []


def test_one_image_goes_as_media_with_its_alt_text(
    network, account, fake_linkedin, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    delivery = make_delivery(account, "A picture")
    add_image(delivery.post, 0)

    network.publish(delivery)

    assert [(c.method, c.path) for c in fake_linkedin.calls] == [
        ("POST", "/rest/images"),
        ("PUT", fake_linkedin.calls[1].path),
        ("POST", "/rest/posts"),
    ]
    assert fake_linkedin.calls[0].query == {"action": "initializeUpload"}
    assert fake_linkedin.calls[0].json == {
        "initializeUploadRequest": {"owner": account.external_id}
    }
    content = fake_linkedin.calls[2].json["content"]
    assert set(content) == {"media"} and content["media"]["altText"] == "Alt 0"
    [image] = fake_linkedin.posts[0]["images"]
    assert Image.open(io.BytesIO(image["data"])).size == (40, 30)


def test_several_images_go_as_a_multi_image_post(
    network, account, fake_linkedin, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    delivery = make_delivery(account, "Pictures")
    for n in range(3):
        add_image(delivery.post, n, fmt="WEBP" if n == 2 else "JPEG")

    network.publish(delivery)

    [post] = fake_linkedin.posts
    assert [i["alt_text"] for i in post["images"]] == ["Alt 0", "Alt 1", "Alt 2"]
    # LinkedIn takes JPEG, PNG and GIF: the WebP goes as a PNG.
    assert [i["content_type"] for i in post["images"]] == ["image/jpeg", "image/jpeg", "image/png"]


def test_a_retry_reuses_the_images_already_uploaded(
    account, fake_linkedin, settings, tmp_path, clock
):
    settings.MEDIA_ROOT = tmp_path / "media"
    delivery = make_delivery(account, "Pictures")
    for n in range(2):
        add_image(delivery.post, n)
    fake_linkedin.script("POST", "/rest/posts", Scripted(502, b"<html>Bad Gateway</html>"))

    assert delivery_send(delivery_id=delivery.id) == "pending"
    clock.move_to(T0 + dt.timedelta(minutes=5))
    assert delivery_send(delivery_id=delivery.id) == "sent"

    assert len(fake_linkedin.calls_to("POST", "/rest/images")) == 2
    [post] = fake_linkedin.posts
    assert [i["urn"] for i in post["images"]] == reload(delivery).network_state["linkedin_images"]


def test_a_page_posts_as_the_organization(network, fake_linkedin, clock):
    page = linkedin_account(fake_linkedin, page="Queue Loop Inc")

    network.publish(make_delivery(page, "From the page"))

    [post] = fake_linkedin.posts
    assert post["author"].startswith("urn:li:organization:")
    assert post["author"] == page.external_id


def test_a_thread_is_refused_before_anything_is_sent(network, account, fake_linkedin):
    with pytest.raises(Rejected) as refused:
        network.publish(make_delivery(account, "One", parts=["Two"]))

    assert "LinkedIn has no threads" in refused.value.message
    assert fake_linkedin.calls == []


def test_a_text_over_3000_characters_is_refused_with_the_numbers(network, account):
    [error] = network.validate("a" * 3001, account=account)

    assert "3000" in error and "3001" in error
    assert network.validate("a" * 3000, account=account) == []


# --- The first comment ----------------------------------------------------------------


def test_the_first_comment_goes_under_the_post(network, account, fake_linkedin):
    delivery = make_delivery(account)
    published = network.publish(delivery)

    ref = network.publish_comment(
        delivery, "Link: https://example.com (and more)", on={"id": published.external_id}
    )

    call = fake_linkedin.calls[-1]
    assert call.path == f"/rest/socialActions/{published.external_id}/comments".replace(":", "%3A")
    [comment] = fake_linkedin.comments
    assert comment["object"] == published.external_id
    assert comment["actor"] == account.external_id
    assert comment["message"]["text"] == "Link: https://example.com (and more)"
    assert ref["id"] == comment["$URN"]
    assert ref["url"].startswith(published.url + "?commentUrn=urn%3Ali%3Acomment%3A")


def test_a_first_comment_whose_answer_was_lost_may_have_been_made(network, account, fake_linkedin):
    delivery = make_delivery(account)
    published = network.publish(delivery)
    path = f"/rest/socialActions/{published.external_id.replace(':', '%3A')}/comments"
    fake_linkedin.script("POST", path, Scripted(drop=True, after=True))

    with pytest.raises(Transient) as caught:
        network.publish_comment(delivery, "First!", on={"id": published.external_id})

    assert caught.value.maybe_sent is True  # not idempotent: never repeated blindly
    assert len(fake_linkedin.comments) == 1


# --- Errors, through the delivery as the worker runs it ---------------------------------


def test_a_refused_post_shows_linkedins_message(account, fake_linkedin):
    fake_linkedin.script(
        "POST",
        "/rest/posts",
        Scripted(
            422,
            {
                "status": 422,
                "message": "Content is a duplicate of urn:li:share:7300000000000000001",
                "code": "DUPLICATE_POST",
            },
        ),
    )
    delivery = make_delivery(account)

    assert delivery_send(delivery_id=delivery.id) == "failed"

    assert (
        "LinkedIn refused the post (422): Content is a duplicate of urn:li:share:"
        in reload(delivery).last_error
    )
    assert fake_linkedin.posts == []


def test_429_is_waited_out_then_sent(account, fake_linkedin, clock):
    fake_linkedin.script(
        "POST", "/rest/posts", Scripted(429, {"status": 429, "message": "Too Many Requests"})
    )
    delivery = make_delivery(account)

    assert delivery_send(delivery_id=delivery.id) == "pending"

    delivery = reload(delivery)
    assert delivery.next_attempt_at == T0 + api.RATE_LIMIT_WAIT
    assert "Too Many Requests" in delivery.last_error
    clock.move_to(T0 + api.RATE_LIMIT_WAIT + dt.timedelta(seconds=1))
    assert delivery_send(delivery_id=delivery.id) == "sent"
    assert len(fake_linkedin.posts) == 1


def test_a_429_just_before_midnight_waits_for_the_daily_reset():
    # LinkedIn's daily quotas reset at midnight UTC, and it sends no reset header.
    late = dt.datetime(2026, 12, 7, 23, 55, tzinfo=dt.UTC)

    assert api.rate_limit_reset(late) == dt.datetime(2026, 12, 8, 0, 1, tzinfo=dt.UTC)
    assert api.rate_limit_reset(T0) == T0 + api.RATE_LIMIT_WAIT


def test_a_lost_answer_ends_unconfirmed_and_is_never_sent_again(account, fake_linkedin, clock):
    # LinkedIn makes the post, then the connection drops before its answer.
    fake_linkedin.script("POST", "/rest/posts", Scripted(drop=True, after=True))
    delivery = make_delivery(account)

    assert delivery_send(delivery_id=delivery.id) == "unconfirmed"

    assert "may have been made" in reload(delivery).last_error
    clock.move_to(T0 + dt.timedelta(minutes=10))
    assert delivery_send(delivery_id=delivery.id) == "not claimed"
    deliveries_recover(now=T0 + dt.timedelta(minutes=10))
    assert reload(delivery).status == Delivery.Status.UNCONFIRMED
    assert len(fake_linkedin.calls_to("POST", "/rest/posts")) == 1
    assert len(fake_linkedin.posts) == 1


def test_a_gateway_error_made_no_post_and_is_retried(account, fake_linkedin, clock):
    fake_linkedin.script("POST", "/rest/posts", Scripted(503, b"<html>Service Unavailable</html>"))
    delivery = make_delivery(account)

    assert delivery_send(delivery_id=delivery.id) == "pending"

    assert "answered 503" in reload(delivery).last_error
    fake_linkedin.script("POST", "/rest/posts", Scripted(500, {"status": 500, "message": "x"}))
    assert delivery_send(delivery_id=make_delivery(account, "Second").id) == "unconfirmed"


def test_a_connection_refused_sent_nothing(network, account, fake_linkedin):
    fake_linkedin.stop()

    with pytest.raises(Transient) as caught:
        network.publish(make_delivery(account))

    assert caught.value.maybe_sent is False
    assert "nothing was sent" in caught.value.message


def test_a_revoked_token_without_refresh_marks_the_account_for_reconnecting(fake_linkedin, clock):
    fake_linkedin.grant_refresh = False
    account = linkedin_account(fake_linkedin)
    fake_linkedin.revoke(account.credentials["access_token"])
    delivery = make_delivery(account)

    assert delivery_send(delivery_id=delivery.id) == "failed"

    assert reload(account).status == SocialAccount.Status.NEEDS_RECONNECT
    assert "Invalid access token" in reload(delivery).last_error
    assert "reconnect" in reload(delivery).last_error


def test_a_page_the_member_no_longer_administers_needs_reconnecting(network, fake_linkedin, clock):
    page = linkedin_account(fake_linkedin, page="Queue Loop Inc")
    fake_linkedin.acls.clear()

    with pytest.raises(AuthFailed) as failed:
        network.publish(make_delivery(page))

    assert "403" in failed.value.message


# --- Tokens -------------------------------------------------------------------------------


def test_a_token_near_expiry_is_refreshed_before_posting(network, account, fake_linkedin, clock):
    old = account.credentials["access_token"]
    clock.move_to(T0 + dt.timedelta(days=54))  # expires in 6 days: within the margin

    network.publish(make_delivery(account))

    stored = reload(account).credentials
    assert stored["access_token"] != old
    assert stored["refresh_token"] == account.credentials["refresh_token"]
    assert stored["expires_at"] == int((T0 + dt.timedelta(days=114)).timestamp())
    assert [(c.method, c.path) for c in fake_linkedin.calls] == [
        ("POST", "/oauth/v2/accessToken"),
        ("POST", "/rest/posts"),
    ]
    assert fake_linkedin.calls[1].bearer == stored["access_token"]


def test_a_401_refreshes_once_and_posts_once(network, account, fake_linkedin):
    fake_linkedin.revoke(account.credentials["access_token"])

    network.publish(make_delivery(account))

    assert len(fake_linkedin.posts) == 1
    assert len(fake_linkedin.calls_to("POST", "/oauth/v2/accessToken")) == 1


def test_a_refused_refresh_does_not_stop_a_post_while_the_token_works_but_check_says_so(
    network, account, fake_linkedin, clock
):
    fake_linkedin.refresh_tokens.clear()  # the refresh token expired or was revoked
    clock.move_to(T0 + dt.timedelta(days=55))

    network.publish(make_delivery(account))

    assert len(fake_linkedin.posts) == 1
    with pytest.raises(AuthFailed) as failed:
        network.check(account)
    assert "LinkedIn refused to refresh the access token" in failed.value.message
    assert "refresh token is invalid, expired or revoked" in failed.value.message


def test_check_refreshes_a_refused_token_once(network, account, fake_linkedin):
    fake_linkedin.revoke(account.credentials["access_token"])

    assert network.check(account).startswith("Signed in to LinkedIn as Ada Lovelace")

    assert len(fake_linkedin.calls_to("GET", "/v2/userinfo")) == 2
    assert reload(account).credentials["access_token"] in fake_linkedin.tokens


def test_check_accounts_refreshes_a_token_near_expiry(account, fake_linkedin, clock):
    old = account.credentials["access_token"]
    clock.move_to(T0 + dt.timedelta(days=55))
    out = io.StringIO()

    call_command("check_accounts", stdout=out)

    assert "Signed in to LinkedIn as Ada Lovelace" in out.getvalue()
    assert reload(account).credentials["access_token"] != old
    assert reload(account).status == SocialAccount.Status.ACTIVE


def test_an_expired_token_without_refresh_asks_for_reconnecting(network, fake_linkedin, clock):
    fake_linkedin.grant_refresh = False
    account = linkedin_account(fake_linkedin)
    assert "reconnect before then" in network.check(account)
    clock.move_to(T0 + dt.timedelta(days=61))

    with pytest.raises(AuthFailed) as failed:
        network.check(account)

    assert "expired on 2027-02-05" in failed.value.message
    assert fake_linkedin.calls_to("GET", "/v2/userinfo") == fake_linkedin.calls[:1]


# --- The account check ------------------------------------------------------------------


def test_check_says_who_the_member_is(network, account, fake_linkedin):
    assert network.check(account) == (
        f"Signed in to LinkedIn as Ada Lovelace ({account.external_id})."
    )


def test_check_says_which_page_and_that_the_member_still_administers_it(
    network, fake_linkedin, clock
):
    page = linkedin_account(fake_linkedin, page="Queue Loop Inc")

    assert network.check(page).startswith("Posting to LinkedIn as the page Queue Loop Inc")

    fake_linkedin.acls.clear()
    with pytest.raises(AuthFailed) as failed:
        network.check(page)
    assert "no longer one of its administrators" in failed.value.message


def test_a_host_the_policy_refuses_is_never_called(network, account, fake_linkedin, settings):
    settings.INSTANCE_ALLOWED_HOSTS = []

    with pytest.raises(Rejected) as refused:
        network.publish(make_delivery(account))

    assert "INSTANCE_ALLOWED_HOSTS" in refused.value.message
    assert fake_linkedin.calls == []
