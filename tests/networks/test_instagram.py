"""Instagram at the Graph API's HTTP boundary (tests/networks/fake_meta_graph.py on
127.0.0.1): one image and carousels in containers, the container kept before publishing so a
retry never makes a second post, the 24-hour publishing limit, captions' limits, Meta's
errors, the first comment and the no-image case. Connecting: test_meta_connect.py."""

from __future__ import annotations

import datetime as dt
import io

import pytest
import time_machine
from PIL import Image

from networks import RateLimited, Rejected, Transient, get_provider
from networks.instagram import adapter
from publishing.models import Delivery
from publishing.services import delivery_send
from scheduling.models import Timeslot
from tests.factories import ChannelFactory, MembershipFactory, PostFactory, SocialAccountFactory
from tests.networks import fake_meta_graph as fakes
from tests.networks.fake_http import Scripted

fake_meta = fakes.fake_meta
pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)
BASE = "https://queueloop.example"


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def site(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PUBLIC_BASE_URL = BASE


@pytest.fixture
def page(fake_meta):
    return fake_meta.add_page("Queue Loop News", instagram="queueloop")


@pytest.fixture
def ig(page):
    return page["instagram"]


@pytest.fixture
def account(page, ig):
    acc = SocialAccountFactory(
        provider="instagram",
        handle="queueloop",
        external_id=ig,
        credentials={"page_token": page["token"]},
        options={"ig_user_id": ig, "username": "queueloop", "page_id": page["id"]},
    )
    MembershipFactory(workspace=acc.workspace, user__email="owner@example.com")
    return acc


@pytest.fixture
def network():
    return get_provider("instagram")


def add_image(post, n: int, *, fmt="JPEG"):
    from posts.images import post_image_add
    from posts.tasks import process_image

    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 80, 40)).save(out, format=fmt)
    image = post_image_add(
        post=post, data=out.getvalue(), filename=f"{n}.{fmt.lower()}", alt_text=f"Alt {n}"
    )
    process_image(image.id)


def make_delivery(account, text: str = "Hello, Instagram", *, images: int = 1) -> Delivery:
    channel = ChannelFactory(workspace=account.workspace, with_sandbox=False)
    channel.accounts.add(account)
    post = PostFactory(workspace=account.workspace, text=text)
    for n in range(images):
        add_image(post, n)
    slot = Timeslot.objects.create(
        channel=channel, post=post, publish_at=dt.datetime.now(dt.UTC), status="publishing"
    )
    return Delivery.objects.create(timeslot=slot, account=account, post=post, text=text)


def reload(obj):
    obj.refresh_from_db()
    return obj


def tails(fake) -> list[str]:
    return [f"{c.method} {c.path.rsplit('/', 1)[-1]}" for c in fake.calls]


# --- Publishing --------------------------------------------------------------------------


def test_one_image_is_a_container_then_published(network, account, fake_meta, ig):
    delivery = make_delivery(account, "A picture #queueloop")

    published = network.publish(delivery)

    [limit, create, status, publish, permalink] = fake_meta.calls
    assert limit.path == fake_meta.path(f"{ig}/content_publishing_limit")
    assert create.path == fake_meta.path(f"{ig}/media")
    image_url = create.form["image_url"][0]
    # The stored file's signed fetch URL, on the site's public address.
    assert image_url.startswith(f"{BASE}/media/") and "&s=" in image_url
    assert create.form["caption"] == ["A picture #queueloop"]
    assert create.form["alt_text"] == ["Alt 0"]
    container = reload(delivery).network_state["ig_container"]
    assert status.path == fake_meta.path(container)
    assert publish.path == fake_meta.path(f"{ig}/media_publish")
    assert publish.form["creation_id"] == [container]
    [media] = fake_meta.media_of(ig)
    assert (published.external_id, published.url) == (media["id"], media["permalink"])
    assert permalink.path == fake_meta.path(media["id"])


def test_several_images_are_a_carousel(network, account, fake_meta, ig):
    delivery = make_delivery(account, "A carousel", images=3)

    network.publish(delivery)

    creates = fake_meta.calls_to("POST", fake_meta.path(f"{ig}/media"))
    assert [c.form.get("is_carousel_item") for c in creates] == [["true"]] * 3 + [None]
    state = reload(delivery).network_state
    assert creates[3].form["media_type"] == ["CAROUSEL"]
    assert creates[3].form["children"] == [",".join(state["ig_children"])]
    assert creates[3].form["caption"] == ["A carousel"]
    [media] = fake_meta.media_of(ig)
    assert [i["alt_text"] for i in media["images"]] == ["Alt 0", "Alt 1", "Alt 2"]
    assert media["caption"] == "A carousel"


def test_a_lost_publish_answer_is_retried_without_a_second_post(account, fake_meta, ig, clock):
    publish = fake_meta.path(f"{ig}/media_publish")
    # Instagram publishes the container, then the connection drops before its answer.
    fake_meta.script("POST", publish, Scripted(drop=True, after=True))
    delivery = make_delivery(account)

    # Idempotent: the delivery is retried, not left unconfirmed.
    assert delivery_send(delivery_id=delivery.id) == "pending"
    clock.move_to(T0 + dt.timedelta(minutes=2))
    assert delivery_send(delivery_id=delivery.id) == "sent"

    [media] = fake_meta.media_of(ig)
    delivery = reload(delivery)
    assert delivery.external_id == media["id"] and delivery.url == media["permalink"]
    # One container, published once: the retry read its status (PUBLISHED), made none.
    assert len(fake_meta.containers) == 1
    assert len(fake_meta.calls_to("POST", publish)) == 1
    assert len(fake_meta.calls_to("POST", fake_meta.path(f"{ig}/media"))) == 1


def test_a_container_kept_by_an_attempt_that_died_is_published_not_made_again(
    network, account, fake_meta, ig
):
    # The worker died after the container was made and kept, before media_publish.
    fake_meta.script("POST", fake_meta.path(f"{ig}/media_publish"), Scripted(drop=True))
    delivery = make_delivery(account)
    with pytest.raises(Transient):
        network.publish(delivery)
    assert fake_meta.media_of(ig) == []

    network.publish(reload(delivery))

    assert len(fake_meta.containers) == 1
    assert len(fake_meta.media_of(ig)) == 1


def test_a_container_still_being_fetched_is_tried_again(network, account, fake_meta, ig):
    delivery = make_delivery(account)
    original = fake_meta.handle

    def processing(request):
        reply = original(request)
        if request.method == "POST" and request.path.endswith("/media"):
            fake_meta.containers[reply.body["id"]]["status_code"] = "IN_PROGRESS"
        return reply

    fake_meta.handle = processing
    with pytest.raises(Transient) as caught:
        network.publish(delivery)
    assert "still fetching" in caught.value.message and not caught.value.maybe_sent
    fake_meta.handle = original
    container = reload(delivery).network_state["ig_container"]
    fake_meta.containers[container]["status_code"] = "FINISHED"

    network.publish(reload(delivery))

    assert len(fake_meta.containers) == 1 and len(fake_meta.media_of(ig)) == 1


def test_a_full_24_hour_quota_waits_and_never_refuses(account, fake_meta, ig, clock):
    fake_meta.quota_usage[ig] = fakes.PUBLISH_QUOTA
    delivery = make_delivery(account)

    assert delivery_send(delivery_id=delivery.id) == "pending"

    delivery = reload(delivery)
    assert delivery.next_attempt_at == T0 + adapter.QUOTA_WAIT
    assert "limit of 100 posts in 24 hours" in delivery.last_error
    assert fake_meta.containers == {}
    fake_meta.quota_usage[ig] = 99
    clock.move_to(T0 + adapter.QUOTA_WAIT + dt.timedelta(seconds=1))
    assert delivery_send(delivery_id=delivery.id) == "sent"
    assert len(fake_meta.media_of(ig)) == 1


def test_metas_rate_limit_code_is_rate_limited(network, account, fake_meta, ig, clock):
    fake_meta.script(
        "POST",
        fake_meta.path(f"{ig}/media"),
        Scripted(
            400,
            {"error": {"message": "Application request limit reached", "code": 4, "type": "x"}},
        ),
    )

    with pytest.raises(RateLimited) as limited:
        network.publish(make_delivery(account))

    assert limited.value.reset_at > T0


def test_a_refused_container_shows_metas_message(account, fake_meta, ig, clock):
    fake_meta.script(
        "POST",
        fake_meta.path(f"{ig}/media"),
        Scripted(
            400,
            {
                "error": {
                    "message": "The aspect ratio is not supported.",
                    "type": "OAuthException",
                    "code": 36003,
                    "error_subcode": 2207009,
                }
            },
        ),
    )
    delivery = make_delivery(account)

    assert delivery_send(delivery_id=delivery.id) == "failed"

    error = reload(delivery).last_error
    assert "Instagram refused the image container: The aspect ratio is not supported." in error
    assert fake_meta.media_of(ig) == []


# --- What Instagram takes ----------------------------------------------------------------


def test_captions_take_2200_characters_and_30_hashtags(network, account):
    assert network.validate("a" * 2200, account=account) == []
    [too_long] = network.validate("a" * 2201, account=account)
    assert "2200" in too_long and "2201" in too_long and "caption" in too_long
    tags = " ".join(f"#tag{n}" for n in range(31))
    assert network.validate(tags[: tags.rindex(" ")], account=account) == []
    assert network.validate(tags, account=account) == [
        "Instagram takes at most 30 hashtags in a caption; this one has 31."
    ]


def test_a_post_without_an_image_is_refused_and_nothing_is_sent(network, account, fake_meta):
    with pytest.raises(Rejected) as refused:
        network.publish(make_delivery(account, images=0))

    assert refused.value.message == adapter.NEEDS_IMAGE
    assert fake_meta.calls == []
    assert network.capabilities.requires_image is True


def test_without_a_public_address_nothing_is_sent(network, account, fake_meta, settings):
    settings.PUBLIC_BASE_URL = ""

    with pytest.raises(Rejected) as refused:
        network.publish(make_delivery(account))

    assert "PUBLIC_BASE_URL" in refused.value.message
    assert fake_meta.calls == []


def test_a_png_is_refused_as_instagram_takes_jpeg_only(network, account, fake_meta):
    delivery = make_delivery(account, images=0)
    add_image(delivery.post, 0, fmt="PNG")

    with pytest.raises(Rejected) as refused:
        network.publish(delivery)

    assert "JPEG images only" in refused.value.message
    assert fake_meta.calls == []


# --- The first comment and the check ---------------------------------------------------


def test_the_first_comment_goes_once_even_after_a_lost_answer(network, account, fake_meta, ig):
    delivery = make_delivery(account)
    published = network.publish(delivery)
    on = {"id": published.external_id, "url": published.url}
    comments = fake_meta.path(f"{published.external_id}/comments")
    fake_meta.script("POST", comments, Scripted(drop=True, after=True))

    with pytest.raises(Transient) as lost:
        network.publish_comment(delivery, "#queueloop #scheduling", on=on)
    assert lost.value.maybe_sent is True
    ref = network.publish_comment(reload(delivery), "#queueloop #scheduling", on=on)

    [comment] = fake_meta.comments
    assert comment["text"] == "#queueloop #scheduling" and comment["on"] == on["id"]
    assert ref["id"] == comment["id"]
    assert len(fake_meta.calls_to("POST", comments)) == 1


def test_check_names_the_account(network, account, fake_meta):
    message = network.check(account)

    assert message.startswith("Posting to Instagram as @queueloop.")
    assert "Tokens valid" in message
