"""Every registered network through the same cases (networks/contract.py): its shape and
capabilities, length counting, validation, publishing against its loopback fake, a call the
fake refuses (classified into the contract's error classes) and the account check.

The cases are parametrized over the registry (networks/registry.py), not over a table of
their own: a network registered without a Harness (tests/networks/accounts_on_fakes.py)
fails every case, with a message that says what to add (networks/README.md, "Adding a
network").
"""

from __future__ import annotations

import datetime as dt
import io

import pytest
from PIL import Image

from accounts import providers
from accounts.models import SocialAccount
from networks import ProviderError, Rejected, Transient, get_provider, registry
from networks.contract import (
    Capabilities,
    CommentsOnPosts,
    Counts,
    LengthCounting,
    Network,
    ReportsMetrics,
)
from networks.thread import comment_on
from posts.media import MAX_IMAGES
from publishing.delivery import delivery_send
from publishing.models import Delivery
from scheduling.models import Timeslot
from tests.factories import ChannelFactory, PostFactory, SocialAccountFactory
from tests.networks.accounts_on_fakes import HARNESSES, harness_for
from tests.networks.fake_bluesky import fake_bluesky  # noqa: F401 (a fixture)
from tests.networks.fake_discord import fake_discord  # noqa: F401 (a fixture)
from tests.networks.fake_linkedin import fake_linkedin  # noqa: F401 (a fixture)
from tests.networks.fake_mastodon import fake_mastodon  # noqa: F401 (a fixture)
from tests.networks.fake_meta_graph import fake_meta  # noqa: F401 (a fixture)
from tests.networks.fake_telegram import fake_telegram  # noqa: F401 (a fixture)
from tests.networks.fake_threads import fake_threads  # noqa: F401 (a fixture)
from tests.networks.fake_x import fake_x  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db

NAMES = list(registry.NETWORKS)
FLAG = "\U0001f1e9\U0001f1ea"  # 🇩🇪: two code points, one grapheme
LONG_URL = "https://example.com/" + "a" * 100


# What each way of counting makes of the same texts.
COUNTS = {
    LengthCounting.CHARACTERS: {"hello": 5, FLAG: 2, LONG_URL: 120},
    LengthCounting.WEIGHTED: {"hello": 5, FLAG: 2, LONG_URL: 23, "日本": 4},
    LengthCounting.MASTODON: {"hello": 5, FLAG: 1, LONG_URL: 23},
    LengthCounting.GRAPHEMES: {"hello": 5, FLAG: 1, LONG_URL: 120},
    # Two regional indicators of 4 UTF-8 bytes each; CJK is one character each.
    LengthCounting.EMOJI_BYTES: {"hello": 5, FLAG: 8, LONG_URL: 120, "日本": 2},
}


def jpeg(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 80, 40)).save(out, format="JPEG")
    return out.getvalue()


def add_ready_image(post, n: int):
    """post_image_add, then the worker's job (posts.process_image) run here: ready."""
    from posts.images import post_image_add
    from posts.tasks import process_image

    image = post_image_add(
        post=post, data=jpeg(40 + n, 30), filename=f"{n}.jpg", alt_text=f"Alt {n}"
    )
    process_image(image.id)


def make_delivery(
    account: SocialAccount,
    text: str,
    *,
    parts: list[str] | None = None,
    images: int | None = None,
    comment: str = "",
):
    """A delivery of a new post; a network whose every post needs an image
    (capabilities.requires_image) gets one unless `images` says how many."""
    channel = ChannelFactory(workspace=account.workspace, with_sandbox=False)
    channel.accounts.add(account)
    post = PostFactory(workspace=account.workspace, text=text, thread_parts=parts or [])
    if images is None:
        images = 1 if get_provider(account.provider).capabilities.requires_image else 0
    for n in range(images):
        add_ready_image(post, n)
    slot = Timeslot.objects.create(
        channel=channel, post=post, publish_at=dt.datetime.now(dt.UTC), status="publishing"
    )
    return Delivery.objects.create(
        timeslot=slot,
        account=account,
        post=post,
        text=text,
        thread_parts=parts or [],
        comment=comment,
        comment_status=Delivery.CommentStatus.DUE if comment else "",
    )


# --- The cases ---------------------------------------------------------------------------


def test_every_registered_network_has_a_harness():
    assert sorted(HARNESSES) == sorted(registry.NETWORKS), (
        "tests/networks/test_contract.py needs one harness per registered network"
    )


@pytest.mark.parametrize("name", NAMES)
def test_the_network_keeps_the_contract(name):
    network = get_provider(name)

    assert isinstance(network, Network)
    assert network.name == name
    assert isinstance(network.capabilities, Capabilities)
    assert network.idempotent is network.capabilities.idempotent
    assert network.limit_for(None) == network.max_length > 0
    assert isinstance(network.capabilities.length_counting, LengthCounting)
    if not network.capabilities.images:
        assert network.capabilities.max_images == 0
    if network.capabilities.first_comment:
        # A network that says it posts first comments has the call for it.
        assert isinstance(network, CommentsOnPosts)
    # Accounts accept the name, with the registry's label.
    assert (name, registry.NETWORKS[name].label) in providers.choices()


@pytest.mark.parametrize("name", NAMES)
def test_length_is_counted_as_the_capabilities_say(name):
    network = get_provider(name)

    for text, length in COUNTS[network.capabilities.length_counting].items():
        assert network.text_length(text) == length, text


@pytest.mark.parametrize("name", NAMES)
def test_validate_refuses_a_text_over_the_limit_with_the_numbers(name, request):
    network = get_provider(name)
    account = harness_for(name, request).account
    limit = network.limit_for(account)

    assert network.validate("a" * limit, account=account) == []
    [error] = network.validate("a" * (limit + 1), account=account)
    assert str(limit) in error and str(limit + 1) in error, error
    assert network.validate("  ", account=account) == ["The text is empty."]


@pytest.mark.parametrize("name", NAMES)
def test_publish_posts_once_on_the_fake(name, request):
    network = get_provider(name)
    harness = harness_for(name, request)
    delivery = make_delivery(harness.account, f"Hello from the {name} contract")

    published = network.publish(delivery)

    assert harness.posted() == [f"Hello from the {name} contract"]
    assert isinstance(published.external_id, str)
    if network.capabilities.idempotent:
        # A repeated call (a retry after a lost answer) cannot post twice.
        network.publish(delivery)
        assert len(harness.posted()) == 1


# The networks whose APIs give a bot or a webhook no counts of its messages.
NO_METRICS = {"telegram", "discord", "webhook"}


@pytest.mark.parametrize("name", NAMES)
def test_a_network_with_metrics_reads_the_post_it_published(name, request):
    network = get_provider(name)
    if name in NO_METRICS:
        # results/collector.py marks their deliveries unsupported (no call is made).
        assert not isinstance(network, ReportsMetrics)
        return
    assert isinstance(network, ReportsMetrics), f"{name} reads no counts (ReportsMetrics)"
    harness = harness_for(name, request)
    published = network.publish(make_delivery(harness.account, f"Counted on {name}"))

    answer = network.metrics(harness.account, [published.external_id])

    counts = answer[published.external_id]
    assert isinstance(counts, Counts)
    # Nobody reacted on a fake (the sandbox makes its counts up): whole numbers, never None
    # for likes and replies.
    assert isinstance(counts.likes, int) and counts.likes >= 0
    assert isinstance(counts.replies, int) and counts.replies >= 0


@pytest.mark.parametrize("name", NAMES)
def test_a_thread_goes_out_part_by_part(name, request):
    network = get_provider(name)
    if not network.capabilities.threads:
        pytest.skip(f"{name} has no threads")
    harness = harness_for(name, request)
    delivery = make_delivery(harness.account, "Part one", parts=["Part two"])

    network.publish(delivery)

    posted = harness.posted()
    if len(posted) == 1:
        # The network shows a thread as one post (the sandbox's timeline row), in order.
        assert posted[0].index("Part one") < posted[0].index("Part two"), posted
    else:
        assert posted == ["Part one", "Part two"]


@pytest.mark.parametrize("name", NAMES)
def test_images_go_with_the_first_part_with_their_alt_texts(name, request, settings, tmp_path):
    network = get_provider(name)
    if not network.capabilities.images:
        pytest.skip(f"{name} takes no images")
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PUBLIC_BASE_URL = "https://queueloop.example"  # the webhook's absolute URLs
    harness = harness_for(name, request)
    # As many as the network takes and a post may hold (posts.media.MAX_IMAGES).
    count = min(network.capabilities.max_images, MAX_IMAGES)
    delivery = make_delivery(harness.account, "With pictures", images=count)

    network.publish(delivery)

    assert harness.posted() == ["With pictures"]
    if network.capabilities.alt_text:
        assert harness.alt_texts() == [f"Alt {n}" for n in range(count)]


@pytest.mark.parametrize("name", NAMES)
def test_a_first_comment_lands_once_as_a_reply_to_the_post(name, request):
    network = get_provider(name)
    if not network.capabilities.first_comment:
        pytest.skip(f"{name} has no first comment")
    assert isinstance(network, CommentsOnPosts)
    harness = harness_for(name, request)
    assert harness.replies is not None, f"the {name} harness needs replies="
    parts = ["Its second part"] if network.capabilities.threads else None
    delivery = make_delivery(harness.account, "The post", parts=parts, comment="#c")
    published = network.publish(delivery)
    # As the chunk records it: the delivery's external_id and url are the first part's.
    delivery.external_id, delivery.url = published.external_id, published.url
    on = comment_on(delivery)

    ref = network.publish_comment(delivery, "#c", on=on)

    assert isinstance(ref["id"], str) and ref["id"] and ref["id"] != on["id"]
    # Under the first part (where the thread's second part also replies), once.
    assert harness.replies(on)[-1:] == ["#c"]
    assert harness.replies(on).count("#c") == 1
    if network.capabilities.idempotent:
        # A repeat after a lost answer (its key comes from the delivery and "comment").
        again = network.publish_comment(delivery, "#c", on=on)
        assert again["id"] == ref["id"]
        assert harness.replies(on).count("#c") == 1


@pytest.mark.parametrize("name", NAMES)
def test_a_first_comment_too_long_is_refused_before_any_call(name, request):
    network = get_provider(name)
    if not network.capabilities.first_comment:
        pytest.skip(f"{name} has no first comment")
    harness = harness_for(name, request)
    delivery = make_delivery(harness.account, "The post", comment="long")
    published = network.publish(delivery)
    # As the chunk records it: the delivery's external_id and url are the first part's.
    delivery.external_id, delivery.url = published.external_id, published.url
    on = comment_on(delivery)
    too_long = "a" * (network.limit_for(harness.account) + 1)

    with pytest.raises(Rejected, match=r"(?i)first comment"):
        network.publish_comment(delivery, too_long, on=on)

    assert harness.replies(on) == []


@pytest.mark.parametrize("name", NAMES)
def test_a_refused_call_is_classified(name, request):
    network = get_provider(name)
    harness = harness_for(name, request)
    harness.refuse()
    text = harness.notes.get("text", "Refused, we hope")

    with pytest.raises(ProviderError) as caught:
        network.publish(make_delivery(harness.account, text))

    assert isinstance(caught.value, harness.refused_as), caught.value
    assert caught.value.message
    assert harness.posted() == []
    if isinstance(caught.value, Transient):
        assert caught.value.maybe_sent is False or network.capabilities.idempotent


@pytest.mark.parametrize("name", NAMES)
def test_check_says_who_the_account_is(name, request):
    network = get_provider(name)
    harness = harness_for(name, request)

    message = network.check(harness.account)

    assert isinstance(message, str) and message


def test_the_accounts_page_has_a_connect_box_per_registered_network(web):
    from django.urls import reverse

    body = web.get(reverse("account_list")).content.decode()

    for name in registry.NETWORKS:
        assert f'<h3><span class="provider provider-{name}">' in body, name
    for listing in registry.NETWORKS.values():
        if listing.urls:
            assert f"/connect/{listing.urls.split('.')[1]}/" in body, listing


@pytest.mark.parametrize("name", NAMES)
def test_an_account_that_needs_reconnecting_is_offered_its_connect_flow(name, web, member):
    from django.urls import reverse

    if not registry.NETWORKS[name].urls:
        pytest.skip(f"{name} has no connect flow")
    account = SocialAccountFactory(
        workspace=member.workspace,
        provider=name,
        handle="again",
        status=SocialAccount.Status.NEEDS_RECONNECT,
    )

    body = web.get(reverse("account_list")).content.decode()

    start = body.index(f'<tr id="account-{account.id}">')
    row = body[start : body.index("</tr>", start)]
    assert ">Reconnect</a>" in row and f"/connect/{name}/" in row, row


@pytest.mark.parametrize("name", NAMES)
def test_an_answer_lost_after_the_post_was_made_never_posts_twice(name, request):
    """The README's "At most once, per network" table, row by row: the network posted, its
    answer was lost, and the engine retries as it would. An idempotent network is called
    again and the repeat is recognised (`sent`); any other is never called again
    (`unconfirmed`). Either way the fake holds the post once."""
    harness = harness_for(name, request)
    if harness.lose_answer is None:
        pytest.skip(f"{name} has no answer to lose (its calls are rows in our own database)")
    network = get_provider(name)
    text = f"Lost answer on {name}"
    delivery = make_delivery(harness.account, text)
    harness.lose_answer()

    delivery_send(delivery_id=delivery.id)
    delivery.refresh_from_db()
    if delivery.status == Delivery.Status.PENDING:
        # A retry, when the engine's backoff says.
        delivery_send(
            delivery_id=delivery.id, now=delivery.next_attempt_at + dt.timedelta(seconds=1)
        )
        delivery.refresh_from_db()

    assert harness.posted() == [text]
    if network.capabilities.idempotent:
        assert delivery.status == Delivery.Status.SENT, delivery.last_error
    else:
        assert delivery.status == Delivery.Status.UNCONFIRMED, delivery.last_error
