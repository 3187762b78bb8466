"""Every registered network through the same cases (networks/contract.py): its shape and
capabilities, length counting, validation, publishing against its loopback fake, a call the
fake refuses (classified into the contract's error classes) and the account check.

The cases are parametrized over the registry (networks/registry.py), not over this file's
table: a network registered without a Harness below fails every case, with a message that
says what to add (networks/README.md, "Adding a network").
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from PIL import Image

from accounts import providers
from accounts.models import SocialAccount
from networks import AuthFailed, ProviderError, Rejected, Transient, get_provider, registry
from networks.contract import Capabilities, CommentsOnPosts, LengthCounting, Network
from networks.thread import comment_on
from posts.media import MAX_IMAGES
from publishing.delivery import delivery_send
from publishing.models import Delivery
from scheduling.models import Timeslot
from tests.factories import ChannelFactory, PostFactory, SocialAccountFactory, XAccountFactory
from tests.networks.fake_bluesky import fake_bluesky  # noqa: F401 (a fixture)
from tests.networks.fake_discord import (
    UNKNOWN_WEBHOOK,
    fake_discord,  # noqa: F401 (a fixture)
)
from tests.networks.fake_http import Scripted
from tests.networks.fake_linkedin import fake_linkedin  # noqa: F401 (a fixture)
from tests.networks.fake_mastodon import fake_mastodon  # noqa: F401 (a fixture)
from tests.networks.fake_meta_graph import fake_meta  # noqa: F401 (a fixture)
from tests.networks.fake_telegram import fake_telegram  # noqa: F401 (a fixture)
from tests.networks.fake_threads import fake_threads  # noqa: F401 (a fixture)
from tests.networks.fake_x import fake_x  # noqa: F401 (a fixture)
from tests.receiver import Receiver

pytestmark = pytest.mark.django_db

NAMES = list(registry.NETWORKS)
APP_PASSWORD = "abcd-efgh-ijkl-mnop"
FLAG = "\U0001f1e9\U0001f1ea"  # 🇩🇪: two code points, one grapheme
LONG_URL = "https://example.com/" + "a" * 100


@dataclass
class Harness:
    """One network's account on its fake, and how to read and script that fake."""

    account: SocialAccount
    # The texts the fake holds as posted, in order.
    posted: Callable[[], list[str]]
    # Make the fake refuse the next publish; the error class the network must raise.
    refuse: Callable[[], None]
    refused_as: type[ProviderError]
    # The alt texts of the images the fake holds with the first post, in order (networks
    # whose capabilities say images and alt_text).
    alt_texts: Callable[[], list[str]] | None = None
    # What refuse() tells the refused-call case (the sandbox: the text to publish).
    notes: dict = field(default_factory=dict)
    # Make the fake post the next publish and then lose its answer (the connection drops or
    # times out after the network acted): README, "At most once, per network". None when
    # there is no answer to lose (the sandbox is a row in our own database).
    lose_answer: Callable[[], None] | None = None
    # The texts the fake holds as replies to the post `on` refers to (networks whose
    # capabilities say first_comment).
    replies: Callable[[dict], list[str]] | None = None


# --- One harness per network: its fake (tests/), an account on it, a scripted refusal ----


def x_harness(request) -> Harness:
    fake = request.getfixturevalue("fake_x")
    keys = fake.issue_oauth1_keys("1001")
    account = XAccountFactory(handle="queueloop", credentials={"auth": "oauth1", **keys})
    return Harness(
        account=account,
        posted=lambda: [t["text"] for t in fake.tweets("1001")],
        refuse=lambda: fake.script("POST", "/2/tweets", 401, {"title": "Unauthorized"}),
        refused_as=AuthFailed,
        lose_answer=lambda: fake.hang_on("POST", "/2/tweets"),
        alt_texts=lambda: [m["alt_text"] for m in fake.tweets("1001")[0]["media"]],
        replies=lambda on: [t["text"] for t in fake.tweets("1001") if t["in_reply_to"] == on["id"]],
    )


def mastodon_harness(request) -> Harness:
    fake = request.getfixturevalue("fake_mastodon")
    account_id, token = fake.add_account("alice")
    account = SocialAccountFactory(
        provider=SocialAccount.Provider.MASTODON,
        handle="alice@fake.social",
        external_id=f"{account_id}@fake.social",
        credentials={"access_token": token},
        options={"instance": fake.url, "max_characters": 500},
    )
    return Harness(
        account=account,
        posted=lambda: [s["text"] for s in fake.statuses],
        refuse=lambda: fake.script(
            "POST", "/api/v1/statuses", Scripted(401, {"error": "The access token is invalid"})
        ),
        refused_as=AuthFailed,
        lose_answer=lambda: fake.script(
            "POST", "/api/v1/statuses", Scripted(drop=True, after=True)
        ),
        alt_texts=lambda: [m["description"] for m in fake.statuses[0]["media_attachments"]],
        replies=lambda on: [s["text"] for s in fake.statuses if s["in_reply_to_id"] == on["id"]],
    )


def bluesky_harness(request) -> Harness:
    from networks.bluesky import adapter

    fake = request.getfixturevalue("fake_bluesky")
    did = fake.add_account("alice.test", APP_PASSWORD)
    _, info = adapter.sign_in(fake.url, "alice.test", APP_PASSWORD)
    account = SocialAccountFactory(
        provider=SocialAccount.Provider.BLUESKY,
        handle="alice.test",
        external_id=did,
        credentials={
            "identifier": "alice.test",
            "app_password": APP_PASSWORD,
            "session": info["session"],
        },
        options={"service": fake.url},
    )
    return Harness(
        account=account,
        posted=lambda: [p["text"] for p in fake.posts_of(did)],
        refuse=lambda: fake.script(
            "POST",
            "/xrpc/com.atproto.repo.createRecord",
            Scripted(401, {"error": "AccountTakedown", "message": "Account taken down"}),
        ),
        refused_as=AuthFailed,
        lose_answer=lambda: fake.script(
            "POST", "/xrpc/com.atproto.repo.createRecord", Scripted(drop=True, after=True)
        ),
        alt_texts=lambda: [i["alt"] for i in fake.posts_of(did)[0]["embed"]["images"]],
        replies=lambda on: [
            p["text"]
            for p in fake.posts_of(did)
            if (p.get("reply") or {}).get("root", {}).get("uri") == on["uri"]
            and p["reply"]["parent"]["uri"] == on["uri"]
        ],
    )


def telegram_harness(request) -> Harness:
    fake = request.getfixturevalue("fake_telegram")
    token = fake.add_bot("queueloop_bot")
    chat_id = fake.add_channel("queueloop_news")
    fake.set_member(chat_id, token)
    account = SocialAccountFactory(
        provider="telegram",
        handle="queueloop_news",
        external_id=str(chat_id),
        credentials={"bot_token": token},
        options={
            "chat_id": str(chat_id),
            "chat_type": "channel",
            "chat_username": "queueloop_news",
        },
    )
    return Harness(
        account=account,
        # An album's later photos carry no caption: one post, its text on the first.
        posted=lambda: [m["text"] for m in fake.posted(chat_id) if m["text"]],
        refuse=lambda: fake.script(
            "POST",
            fake.path(token, "sendMessage"),
            Scripted(
                400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
            ),
        ),
        refused_as=Rejected,
        lose_answer=lambda: fake.script(
            "POST", fake.path(token, "sendMessage"), Scripted(drop=True, after=True)
        ),
    )


def webhook_harness(request) -> Harness:
    receiver = Receiver().start()
    request.addfinalizer(receiver.stop)
    account = SocialAccountFactory(
        provider=SocialAccount.Provider.WEBHOOK,
        handle="hook",
        credentials={"url": receiver.url, "secret": "whsec-contract"},
    )

    def refuse():
        receiver.status = 422

    def posted() -> list[str]:
        # One post per idempotency key, with its thread's parts, as the receiver posts them;
        # nothing when it answers with an error.
        if receiver.status >= 300:
            return []
        return [
            text
            for r in receiver.acted_on.values()
            for text in [r.payload["text"], *r.payload["thread_parts"]]
        ]

    return Harness(
        account=account,
        posted=posted,
        refuse=refuse,
        refused_as=Rejected,
        lose_answer=lambda: receiver.next_statuses.append(503),
        alt_texts=lambda: [
            i["alt_text"] for i in next(iter(receiver.acted_on.values())).payload["images"]
        ],
    )


def sandbox_harness(request) -> Harness:
    # The sandbox's "server" is its own timeline table; nothing outside can refuse a call,
    # so its refusal is its own: a text over its limit that reached publish().
    account = SocialAccountFactory(provider=SocialAccount.Provider.SANDBOX, handle="demo")
    harness = Harness(
        account=account,
        posted=lambda: list(account.sandbox_posts.order_by("id").values_list("text", flat=True)),
        refuse=lambda: harness.notes.update(text="x" * (get_provider("sandbox").max_length + 1)),
        refused_as=Rejected,
        # The timeline row of the post `on` refers to ("sandbox-<row id>") holds its reply.
        replies=lambda on: [
            c
            for c in account.sandbox_posts.filter(
                id=int(on["id"].removeprefix("sandbox-"))
            ).values_list("comment", flat=True)
            if c
        ],
    )
    return harness


def discord_harness(request) -> Harness:
    fake = request.getfixturevalue("fake_discord")
    hook = fake.add_webhook("Announcements")
    account = SocialAccountFactory(
        provider="discord",
        handle="announcements",
        external_id=hook["id"],
        credentials={"url": hook["url"]},
        options={"guild_id": hook["guild_id"], "channel_id": hook["channel_id"]},
    )
    return Harness(
        account=account,
        posted=lambda: [m["content"] for m in fake.messages_of(hook["id"])],
        # The webhook was deleted in Discord.
        refuse=lambda: fake.script("POST", fake.path_of(hook), Scripted(404, UNKNOWN_WEBHOOK)),
        refused_as=AuthFailed,
        lose_answer=lambda: fake.script(
            "POST", fake.path_of(hook), Scripted(drop=True, after=True)
        ),
        alt_texts=lambda: [
            a.get("description", "") for a in fake.messages_of(hook["id"])[0]["attachments"]
        ],
    )


def facebook_harness(request) -> Harness:
    fake = request.getfixturevalue("fake_meta")
    page = fake.add_page("Queue Loop News")
    account = SocialAccountFactory(
        provider="facebook",
        handle=page["name"],
        external_id=page["id"],
        credentials={"page_token": page["token"]},
        options={"page_id": page["id"], "page_name": page["name"]},
    )
    return Harness(
        account=account,
        posted=lambda: [p["message"] for p in fake.posts_of(page["id"])],
        # The Page's token was invalidated (a password change): Meta's 190.
        refuse=lambda: fake.revoke(page["token"]),
        refused_as=AuthFailed,
        lose_answer=lambda: fake.script(
            "POST", fake.path(f"{page['id']}/feed"), Scripted(drop=True, after=True)
        ),
        replies=lambda on: [c["text"] for c in fake.comments if c["on"] == on["id"]],
        alt_texts=lambda: [ph["alt"] for ph in fake.posts_of(page["id"])[0]["photos"]],
    )


def instagram_harness(request) -> Harness:
    fake = request.getfixturevalue("fake_meta")
    settings = request.getfixturevalue("settings")
    settings.MEDIA_ROOT = request.getfixturevalue("tmp_path") / "media"
    # Instagram fetches images from this site's public address.
    settings.PUBLIC_BASE_URL = "https://queueloop.example"
    page = fake.add_page("Queue Loop News", instagram="queueloop")
    ig_id = page["instagram"]
    account = SocialAccountFactory(
        provider="instagram",
        handle="queueloop",
        external_id=ig_id,
        credentials={"page_token": page["token"]},
        options={"ig_user_id": ig_id, "username": "queueloop", "page_id": page["id"]},
    )
    return Harness(
        account=account,
        posted=lambda: [m["caption"] for m in fake.media_of(ig_id)],
        refuse=lambda: fake.script(
            "POST",
            fake.path(f"{ig_id}/media"),
            Scripted(
                400,
                {
                    "error": {
                        "message": "Invalid parameter",
                        "type": "OAuthException",
                        "code": 100,
                        "error_subcode": 2207001,
                    }
                },
            ),
        ),
        refused_as=Rejected,
        lose_answer=lambda: fake.script(
            "POST", fake.path(f"{ig_id}/media_publish"), Scripted(drop=True, after=True)
        ),
        replies=lambda on: [c["text"] for c in fake.comments if c["on"] == on["id"]],
        alt_texts=lambda: [i["alt_text"] for i in fake.media_of(ig_id)[0]["images"]],
    )


def threads_harness(request) -> Harness:
    fake = request.getfixturevalue("fake_threads")
    user_id, token = fake.add_user("queueloop")
    account = SocialAccountFactory(
        provider="threads",
        handle="queueloop",
        external_id=user_id,
        credentials={"access_token": token},
        options={"user_id": user_id, "username": "queueloop"},
    )
    return Harness(
        account=account,
        posted=lambda: [p["text"] for p in fake.posts_of(user_id)],
        refuse=lambda: fake.script(
            "POST",
            f"/v1.0/{user_id}/threads",
            Scripted(
                400,
                {"error": {"message": "Invalid parameter", "type": "THApiException", "code": 100}},
            ),
        ),
        refused_as=Rejected,
        lose_answer=lambda: fake.script(
            "POST", f"/v1.0/{user_id}/threads_publish", Scripted(drop=True, after=True)
        ),
        replies=lambda on: [p["text"] for p in fake.posts if p["reply_to_id"] == on["id"]],
        alt_texts=lambda: [alt for _url, alt in fake.posts_of(user_id)[0]["images"]],
    )


def linkedin_harness(request) -> Harness:
    from networks.linkedin import tokens

    fake = request.getfixturevalue("fake_linkedin")
    sub = fake.add_member("Ada Lovelace")
    author = f"urn:li:person:{sub}"
    account = SocialAccountFactory(
        provider="linkedin",
        handle="Ada Lovelace",
        external_id=author,
        credentials=tokens.credentials_from_token(fake.issue(sub)),
        options={"author": author, "kind": "member", "name": "Ada Lovelace", "member": author},
    )
    return Harness(
        account=account,
        posted=lambda: [p["text"] for p in fake.posts_of(author)],
        refuse=lambda: fake.script(
            "POST",
            "/rest/posts",
            Scripted(422, {"status": 422, "message": "Content is a duplicate of urn:li:share:1"}),
        ),
        refused_as=Rejected,
        lose_answer=lambda: fake.script("POST", "/rest/posts", Scripted(drop=True, after=True)),
        replies=lambda on: [c["message"]["text"] for c in fake.comments if c["object"] == on["id"]],
        alt_texts=lambda: [i["alt_text"] for i in fake.posts_of(author)[0]["images"]],
    )


HARNESSES: dict[str, Callable] = {
    "x": x_harness,
    "mastodon": mastodon_harness,
    "bluesky": bluesky_harness,
    "telegram": telegram_harness,
    "webhook": webhook_harness,
    "sandbox": sandbox_harness,
    "discord": discord_harness,
    "facebook": facebook_harness,
    "instagram": instagram_harness,
    "threads": threads_harness,
    "linkedin": linkedin_harness,
}

# What each way of counting makes of the same texts.
COUNTS = {
    LengthCounting.CHARACTERS: {"hello": 5, FLAG: 2, LONG_URL: 120},
    LengthCounting.WEIGHTED: {"hello": 5, FLAG: 2, LONG_URL: 23, "日本": 4},
    LengthCounting.MASTODON: {"hello": 5, FLAG: 1, LONG_URL: 23},
    LengthCounting.GRAPHEMES: {"hello": 5, FLAG: 1, LONG_URL: 120},
    # Two regional indicators of 4 UTF-8 bytes each; CJK is one character each.
    LengthCounting.EMOJI_BYTES: {"hello": 5, FLAG: 8, LONG_URL: 120, "日本": 2},
}


def harness_for(name: str, request) -> Harness:
    make = HARNESSES.get(name)
    if make is None:
        pytest.fail(
            f"The network {name!r} is registered but has no Harness in "
            "tests/networks/test_contract.py: add its fake (tests/networks/fake_<name>.py) and a "
            "harness (networks/README.md, step 3)."
        )
    return make(request)


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
