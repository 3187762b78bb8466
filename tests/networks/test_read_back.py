"""Read-back at each network's HTTP boundary: find_published() against the loopback fakes
(X's user timeline, Mastodon's account statuses, Bluesky's getRecord, the sandbox row).
What publishing does with the answer is tests/publishing/test_read_back.py's."""

from __future__ import annotations

import datetime as dt

import pytest
import requests
import time_machine

from accounts.models import SocialAccount
from networks import get_provider
from networks.bluesky import adapter as bluesky_adapter
from networks.contract import FoundPost, NotFound, ReadsBack, Undecidable
from networks.mastodon import read_back as mastodon_read_back
from networks.registry import NETWORKS
from networks.x import read_back as x_read_back
from publishing.models import Delivery
from publishing.services import delivery_send
from scheduling.models import Timeslot
from tests.factories import ChannelFactory, PostFactory, SocialAccountFactory, XAccountFactory
from tests.networks import fake_bluesky as bluesky_fakes
from tests.networks import fake_mastodon as mastodon_fakes
from tests.networks import fake_x as x_fakes
from tests.networks.fake_http import Scripted

fake_x = x_fakes.fake_x
fake_mastodon = mastodon_fakes.fake_mastodon
fake_bluesky = bluesky_fakes.fake_bluesky
pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.UTC)
TWEETS = "/2/tweets"
TIMELINE = "/2/users/1001/tweets"
APP_PASSWORD = "abcd-efgh-ijkl-mnop"


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def make_delivery(account: SocialAccount, parts: list[str]) -> Delivery:
    channel = ChannelFactory(workspace=account.workspace, with_sandbox=False)
    channel.accounts.add(account)
    post = PostFactory(workspace=account.workspace, text=parts[0], thread_parts=parts[1:])
    slot = Timeslot.objects.create(
        channel=channel, post=post, publish_at=dt.datetime.now(dt.UTC), status="publishing"
    )
    return Delivery.objects.create(
        timeslot=slot, account=account, post=post, text=parts[0], thread_parts=parts[1:]
    )


def since(delivery: Delivery) -> dt.datetime:
    return delivery.created_at - dt.timedelta(minutes=2)


def find(delivery: Delivery):
    delivery = Delivery.objects.select_related("account").get(id=delivery.id)
    return get_provider(delivery.account.provider).find_published(delivery, since=since(delivery))


def test_every_network_that_says_it_reads_back_keeps_the_protocol():
    for name in NETWORKS:
        network = get_provider(name)
        assert network.capabilities.read_back == isinstance(network, ReadsBack), name
    assert {n for n in NETWORKS if get_provider(n).capabilities.read_back} >= {
        "x",
        "mastodon",
        "bluesky",
        "sandbox",
    }


# --- X: the user timeline, matched by exact text and images --------------------------------


@pytest.fixture
def x_account(fake_x, clock):
    fake_x.add_user("1001", "queueloop")
    tokens = fake_x.issue_tokens("1001")
    return XAccountFactory(
        handle="queueloop",
        external_id="1001",
        credentials={
            "auth": "oauth2",
            "access_token": tokens["access_token"],
            "refresh_token": tokens["refresh_token"],
            "expires_at": int(T0.timestamp()) + tokens["expires_in"],
            "user_id": "1001",
        },
    )


def lost_answer_on_x(fake_x, delivery: Delivery) -> None:
    """X makes the tweet, the answer never comes: the delivery ends unconfirmed."""
    fake_x.hang_on("POST", TWEETS)
    assert delivery_send(delivery_id=delivery.id) == "unconfirmed"
    fake_x.hanging.clear()


def test_x_finds_a_tweet_whose_answer_was_lost(fake_x, x_account, clock):
    # A link (X shortens it to t.co) and & < > (X escapes them): matched as typed.
    text = "Fish & chips <today> at https://example.com/menu?a=1&b=2 — come by"
    delivery = make_delivery(x_account, [text])
    clock.shift(dt.timedelta(seconds=30))
    lost_answer_on_x(fake_x, delivery)

    answer = find(delivery)

    tweet = fake_x.tweets("1001")[-1]
    assert answer == FoundPost(
        ref={"id": tweet["id"], "url": f"https://x.com/queueloop/status/{tweet['id']}"}
    )
    [listing] = fake_x.calls_to("GET", TIMELINE)
    assert listing.timeout == 7


def _other(fake_x, text: str, *, when: dt.datetime | None = None) -> dict:
    """A tweet made outside Queue Loop (before the window unless `when` says otherwise)."""
    return {
        "id": str(next(fake_x._ids)),
        "text": text,
        "media": [],
        "in_reply_to": None,
        "created_at": when or T0 - dt.timedelta(hours=1),
    }


def test_x_proves_a_tweet_absent_when_the_whole_window_is_listed(fake_x, x_account, clock):
    delivery = make_delivery(x_account, ["Never made"])
    # The same text before the window (an earlier loop) and other tweets inside it.
    user = fake_x.add_user("1001")
    user.tweets.append(_other(fake_x, "Never made"))
    for n in range(12):
        user.tweets.append(_other(fake_x, f"Something else {n}", when=T0))
    fake_x.timeline_page = 5

    answer = find(delivery)

    assert isinstance(answer, NotFound)
    assert "3 page(s)" in answer.searched
    assert len(fake_x.calls_to("GET", TIMELINE)) == 3


def test_x_pages_until_it_finds_the_tweet(fake_x, x_account, clock):
    delivery = make_delivery(x_account, ["Deep in the timeline"])
    lost_answer_on_x(fake_x, delivery)
    user = fake_x.users["1001"]
    for n in range(12):
        clock.shift(dt.timedelta(seconds=1))
        user.tweets.append(_other(fake_x, f"Later {n}", when=dt.datetime.now(dt.UTC)))
    fake_x.timeline_page = 5

    answer = find(delivery)

    assert isinstance(answer, FoundPost)
    assert answer.ref["id"] == user.tweets[0]["id"]
    assert len(fake_x.calls_to("GET", TIMELINE)) == 3


def test_x_window_longer_than_its_listing_is_undecidable(fake_x, x_account, clock, monkeypatch):
    monkeypatch.setattr(x_read_back, "MAX_PAGES", 2)
    delivery = make_delivery(x_account, ["Lost among many"])
    for n in range(20):
        fake_x.add_user("1001").tweets.append(_other(fake_x, f"Other {n}", when=T0))
    fake_x.timeline_page = 5

    answer = find(delivery)

    assert isinstance(answer, Undecidable)
    assert "cannot be proven absent" in answer.reason


def test_x_tweet_with_other_images_is_not_the_post(fake_x, x_account, clock):
    delivery = make_delivery(x_account, ["Same words"])
    user = fake_x.add_user("1001")
    user.media["9"] = {"id": "9"}
    user.tweets.append({**_other(fake_x, "Same words", when=T0), "media": [user.media["9"]]})

    assert isinstance(find(delivery), NotFound)


@pytest.mark.parametrize(
    ("status", "headers", "words"),
    [
        (503, {}, "503"),
        (429, {"x-rate-limit-reset": str(int(T0.timestamp()) + 600)}, "rate limit"),
    ],
)
def test_x_timeline_unavailable_is_undecidable(fake_x, x_account, clock, status, headers, words):
    delivery = make_delivery(x_account, ["Who knows"])
    fake_x.script("GET", TIMELINE, status, {"title": "Service Unavailable"}, headers)

    answer = find(delivery)

    assert isinstance(answer, Undecidable)
    assert words in answer.reason
    assert answer.reason.startswith("X's timeline could not be read")


def test_x_timeline_that_breaks_is_undecidable(fake_x, x_account, clock):
    delivery = make_delivery(x_account, ["Who knows"])
    fake_x.script_exception("GET", TIMELINE, requests.ConnectionError("reset"))

    assert isinstance(find(delivery), Undecidable)


def test_x_thread_part_is_matched_as_a_reply_to_the_part_before(fake_x, x_account, clock):
    delivery = make_delivery(x_account, ["First", "Second"])
    # Both parts go out; then, as if part 2's answer had been lost, only part 1 is recorded.
    assert delivery_send(delivery_id=delivery.id) == "sent"
    first, second = fake_x.tweets("1001")
    delivery = Delivery.objects.get(id=delivery.id)
    delivery.thread_sent = delivery.thread_sent[:1]
    delivery.save(update_fields=["thread_sent"])
    # A tweet with part 2's words that is not a reply to part 1 does not count.
    fake_x.users["1001"].tweets.insert(1, {**_other(fake_x, "Second", when=T0)})

    answer = find(delivery)

    assert answer == FoundPost(
        ref={"id": second["id"], "url": f"https://x.com/queueloop/status/{second['id']}"}
    )
    assert second["in_reply_to"] == first["id"]


# --- Mastodon: the account's statuses, matched by exact text and images ----------------------


@pytest.fixture
def mastodon_account(fake_mastodon):
    account_id, token = fake_mastodon.add_account("alice")
    return SocialAccountFactory(
        provider=SocialAccount.Provider.MASTODON,
        handle="alice@fake.social",
        external_id=f"{account_id}@fake.social",
        credentials={"access_token": token},
        options={"instance": fake_mastodon.url, "max_characters": 500, "visibility": "unlisted"},
    )


def statuses_path(account: SocialAccount) -> str:
    return f"/api/v1/accounts/{account.external_id.split('@')[0]}/statuses"


def test_mastodon_finds_a_status_whose_answer_was_lost(mastodon_account, fake_mastodon):
    text = "Fish & chips <today>\nat https://example.com/a/very/long/menu/path?x=1\n\nSee you"
    delivery = make_delivery(mastodon_account, [text])
    fake_mastodon.script("POST", "/api/v1/statuses", Scripted(drop=True, after=True))
    with pytest.raises(Exception):  # noqa: B017 - the answer is lost, whatever the class
        get_provider("mastodon").publish(Delivery.objects.get(id=delivery.id))
    [status] = fake_mastodon.statuses

    answer = find(delivery)

    assert answer == FoundPost(ref={"id": status["id"], "url": status["url"]})
    # The rendering matched exactly: no need to read the source.
    assert not [c for c in fake_mastodon.calls if c.path.endswith("/source")]


def test_mastodon_reads_the_source_when_the_rendering_differs(mastodon_account, fake_mastodon):
    text = "Thanks @bob@other.social for the tip"  # rendered as "@bob"
    delivery = make_delivery(mastodon_account, [text])
    get_provider("mastodon").publish(Delivery.objects.get(id=delivery.id))
    [status] = fake_mastodon.statuses
    assert mastodon_read_back.rendered_text(status["content"]) == "Thanks @bob for the tip"

    assert find(delivery) == FoundPost(ref={"id": status["id"], "url": status["url"]})
    assert [c for c in fake_mastodon.calls if c.path == f"/api/v1/statuses/{status['id']}/source"]


def test_mastodon_proves_a_status_absent(mastodon_account, fake_mastodon):
    delivery = make_delivery(mastodon_account, ["Never made"])
    other = make_delivery(mastodon_account, ["Something else"])
    get_provider("mastodon").publish(Delivery.objects.get(id=other.id))

    answer = find(delivery)

    assert isinstance(answer, NotFound)
    [listing, *_] = fake_mastodon.calls_to("GET", statuses_path(mastodon_account))
    # The window starts at the claim minus the margin, as a snowflake id.
    assert int(listing.query["min_id"]) >> 16 == int(since(delivery).timestamp()) * 1000


def test_mastodon_token_without_read_statuses_reads_public_statuses(
    mastodon_account, fake_mastodon
):
    token = mastodon_account.credentials["access_token"]
    fake_mastodon.limit_scopes(token, "read:accounts write:statuses write:media")
    delivery = make_delivery(mastodon_account, ["Unlisted is public enough"])
    get_provider("mastodon").publish(Delivery.objects.get(id=delivery.id))
    [status] = fake_mastodon.statuses

    assert find(delivery) == FoundPost(ref={"id": status["id"], "url": status["url"]})
    first, second = fake_mastodon.calls_to("GET", statuses_path(mastodon_account))[:2]
    assert first.bearer == token and second.bearer is None


def test_mastodon_private_account_without_read_statuses_is_undecidable(
    mastodon_account, fake_mastodon
):
    mastodon_account.options = {**mastodon_account.options, "visibility": "private"}
    mastodon_account.save()
    fake_mastodon.limit_scopes(mastodon_account.credentials["access_token"], "write:statuses")
    delivery = make_delivery(mastodon_account, ["Followers only"])

    answer = find(delivery)

    assert isinstance(answer, Undecidable)
    assert "lacks read:statuses" in answer.reason


def test_mastodon_listing_unavailable_is_undecidable(mastodon_account, fake_mastodon):
    delivery = make_delivery(mastodon_account, ["Who knows"])
    fake_mastodon.script("GET", statuses_path(mastodon_account), Scripted(503, {"error": "down"}))

    answer = find(delivery)

    assert isinstance(answer, Undecidable)
    assert "statuses could not be read" in answer.reason


# --- Bluesky: the record key derived from the delivery -----------------------------------------


@pytest.fixture
def bluesky_account(fake_bluesky, clock):
    did = fake_bluesky.add_account("alice.test", APP_PASSWORD)
    _, info = bluesky_adapter.sign_in(fake_bluesky.url, "alice.test", APP_PASSWORD)
    return SocialAccountFactory(
        provider=SocialAccount.Provider.BLUESKY,
        handle="alice.test",
        external_id=did,
        credentials={
            "identifier": "alice.test",
            "app_password": APP_PASSWORD,
            "session": info["session"],
        },
        options={"service": fake_bluesky.url},
    )


def test_bluesky_finds_the_record_by_its_key(bluesky_account, fake_bluesky):
    delivery = make_delivery(bluesky_account, ["Hello, sky"])
    published = get_provider("bluesky").publish(Delivery.objects.get(id=delivery.id))

    answer = find(delivery)

    assert isinstance(answer, FoundPost)
    assert answer.ref["id"] == published.external_id
    assert answer.ref["url"] == published.url
    assert answer.ref["cid"]


def test_bluesky_record_not_found_is_proven_absent(bluesky_account, fake_bluesky):
    delivery = make_delivery(bluesky_account, ["Never made"])

    answer = find(delivery)

    assert isinstance(answer, NotFound)
    assert "RecordNotFound" in answer.searched


def test_bluesky_unreadable_record_is_undecidable(bluesky_account, fake_bluesky):
    delivery = make_delivery(bluesky_account, ["Who knows"])
    fake_bluesky.script(
        "GET", "/xrpc/com.atproto.repo.getRecord", Scripted(502, {"error": "BadGateway"})
    )

    answer = find(delivery)

    assert isinstance(answer, Undecidable)
    assert "Bluesky could not read" in answer.reason


def test_bluesky_looks_for_the_next_part_of_a_thread(bluesky_account, fake_bluesky):
    delivery = make_delivery(bluesky_account, ["One", "Two"])
    get_provider("bluesky").publish(Delivery.objects.get(id=delivery.id))
    delivery = Delivery.objects.get(id=delivery.id)
    second = delivery.thread_sent[1]
    delivery.thread_sent = delivery.thread_sent[:1]
    delivery.save(update_fields=["thread_sent"])

    answer = find(delivery)

    assert isinstance(answer, FoundPost)
    assert answer.ref["uri"] == second["uri"]


# --- The sandbox: one row per delivery -------------------------------------------------------


def test_sandbox_finds_its_row_or_proves_it_absent():
    account = SocialAccountFactory(provider=SocialAccount.Provider.SANDBOX)
    delivery = make_delivery(account, ["In the sandbox"])
    assert isinstance(find(delivery), NotFound)

    published = get_provider("sandbox").publish(Delivery.objects.get(id=delivery.id))

    assert find(delivery) == FoundPost(ref={"id": published.external_id, "url": published.url})
