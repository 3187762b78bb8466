"""RSS/Atom feeds attached to a channel: new items join its queue once (by guid, else
link); the URL obeys the webhooks' address rules at save time (without connecting) and at
every poll; the fetch is size-capped; feedparser never fetches anything itself."""

from __future__ import annotations

import pytest
from django.test import override_settings
from django.urls import reverse

from accounts.models import Membership
from bulk import feeds
from bulk.models import ChannelFeed, FeedItem
from channels.models import QueueEntry
from posts.models import Post
from queueloop.celery import app as celery_app
from tests.factories import ChannelFactory, MembershipFactory, XAccountFactory
from tests.networks.fake_feed import FeedServer, atom, rss
from tests.networks.netfakes import fake_dns, record_connects

pytestmark = pytest.mark.django_db

ITEMS = [
    ("urn:post:2", "Second post", "https://blog.example.com/2"),
    ("urn:post:1", "First post", "https://blog.example.com/1"),
]


@pytest.fixture
def server():
    s = FeedServer(document=rss(ITEMS)).start()
    yield s
    s.stop()


@pytest.fixture
def tech(member):
    return ChannelFactory(workspace=member.workspace, name="#tech", slug="tech")


def queue_texts(channel) -> list[str]:
    return list(
        QueueEntry.objects.filter(channel=channel)
        .order_by("position", "id")
        .values_list("post__text", flat=True)
    )


def test_new_items_join_the_queue_once(web, tech, server, django_capture_on_commit_callbacks):
    # 127.0.0.1 is on the operator's allow-list in the test settings, as for webhooks.
    with django_capture_on_commit_callbacks() as callbacks:
        response = web.post(reverse("channel_feeds", args=[tech.id]), {"url": server.url})
    assert response.status_code == 302
    assert len(callbacks) == 1  # a first poll is sent to the workers
    feed = ChannelFeed.objects.get(channel=tech)

    result = feeds.feed_poll(feed_id=feed.id)
    assert (result.added, result.error) == (2, "")
    # Oldest first, title then link.
    assert queue_texts(tech) == [
        "First post\nhttps://blog.example.com/1",
        "Second post\nhttps://blog.example.com/2",
    ]
    feed.refresh_from_db()
    assert feed.etag and feed.last_polled_at and feed.last_error == ""

    # Second poll: the ETag comes back, the server answers 304, nothing is added.
    result = feeds.feed_poll(feed_id=feed.id)
    assert result.not_modified and result.added == 0
    assert server.requests[-1].get("If-None-Match") == feed.etag
    # Without conditional GET the same items are recognised by their guid.
    server.etag = False
    assert feeds.feed_poll(feed_id=feed.id).added == 0
    assert Post.objects.count() == 2

    # A new item: only it is added, at the end of the queue.
    server.document = rss([("urn:post:3", "Third post", "https://blog.example.com/3"), *ITEMS])
    assert feeds.feed_poll(feed_id=feed.id).added == 1
    assert queue_texts(tech)[-1] == "Third post\nhttps://blog.example.com/3"
    assert FeedItem.objects.filter(feed=feed).count() == 3
    page = web.get(reverse("channel_feeds", args=[tech.id])).content.decode()
    assert "Queued: Third post" in page
    assert all(h.get("User-Agent") == feeds.USER_AGENT for h in server.requests)


def test_atom_items_without_guid_are_known_by_link(tech, server):
    server.document = atom([("", "Atom entry", "https://blog.example.com/a")])
    feed = ChannelFeed.objects.create(channel=tech, url=server.url)
    assert feeds.feed_poll(feed_id=feed.id).added == 1
    assert feeds.feed_poll(feed_id=feed.id).added == 0
    assert FeedItem.objects.get().key == "https://blog.example.com/a"


def test_a_title_too_long_for_x_is_shortened_to_fit(web, member, tech, server):
    tech.accounts.add(XAccountFactory(workspace=member.workspace))
    server.document = rss([("g1", "word " * 100, "https://blog.example.com/long")])
    feed = ChannelFeed.objects.create(channel=tech, url=server.url)
    assert feeds.feed_poll(feed_id=feed.id).added == 1
    [text] = queue_texts(tech)
    assert text.endswith("…\nhttps://blog.example.com/long") and len(text) < 280
    # A link alone too long for X: not queued, and the page says why.
    server.document = rss([("g2", "t", "https://blog.example.com/" + "x" * 300 + " y" * 150)])
    assert feeds.feed_poll(feed_id=feed.id).refused == 1
    assert "Not queued:" in web.get(reverse("channel_feeds", args=[tech.id])).content.decode()


def test_errors_are_stored_on_the_feed_not_raised(tech, server, monkeypatch):
    feed = ChannelFeed.objects.create(channel=tech, url=server.url)
    server.status = 404
    assert feeds.feed_poll(feed_id=feed.id).error == "The feed answered HTTP 404."
    server.status = 200
    server.document = b"<html><body>not a feed"
    server.content_type = "text/html"
    assert "not an RSS or Atom feed" in feeds.feed_poll(feed_id=feed.id).error
    server.document = rss(ITEMS * 50)
    monkeypatch.setattr(feeds, "FEED_MAX_BYTES", 1000)
    assert "larger than 1000 bytes" in feeds.feed_poll(feed_id=feed.id).error
    feed.refresh_from_db()
    assert "larger than" in feed.last_error and feed.last_polled_at
    assert Post.objects.count() == 0


def test_a_server_that_drips_is_cut_off_at_the_time_limit(tech, server, monkeypatch):
    """Every read comes in time, the whole answer does not: the total time is capped."""
    server.document = rss(ITEMS * 20)  # about 3 KB: 30 pieces, 0.1 s apart
    server.drip = 0.1
    monkeypatch.setattr(feeds, "FEED_TIMEOUT", 0.5)
    feed = ChannelFeed.objects.create(channel=tech, url=server.url)
    result = feeds.feed_poll(feed_id=feed.id)
    assert "took longer than 0.5 seconds" in result.error
    assert Post.objects.count() == 0


@override_settings(WEBHOOK_ALLOWED_HOSTS=[])
@pytest.mark.parametrize(
    "url",
    ["http://feeds.internal/rss", "http://127.0.0.1/feed", "http://169.254.169.254/latest/"],
)
def test_a_feed_on_a_private_address_is_refused_at_save_without_connecting(
    web, tech, monkeypatch, url
):
    fake_dns(monkeypatch, {"feeds.internal": ["10.1.2.3"]})
    connects = record_connects(monkeypatch)
    response = web.post(reverse("channel_feeds", args=[tech.id]), {"url": url})
    assert response.status_code == 400
    assert "local, private or reserved network address" in response.content.decode()
    assert not ChannelFeed.objects.exists()
    assert connects == []


@override_settings(WEBHOOK_ALLOWED_HOSTS=[])
def test_a_name_re_pointed_at_a_private_address_is_refused_at_poll(tech, monkeypatch):
    fake_dns(monkeypatch, {"blog.example.com": ["10.1.2.3"]})
    connects = record_connects(monkeypatch)
    feed = ChannelFeed.objects.create(channel=tech, url="http://blog.example.com/rss")
    result = feeds.feed_poll(feed_id=feed.id)
    assert "private" in result.error and connects == []
    assert Post.objects.count() == 0


def test_bad_urls_and_duplicates_are_400(web, tech, server):
    assert (
        web.post(reverse("channel_feeds", args=[tech.id]), {"url": "ftp://x/y"}).status_code == 400
    )
    assert web.post(reverse("channel_feeds", args=[tech.id]), {"url": ""}).status_code == 400
    assert (
        web.post(reverse("channel_feeds", args=[tech.id]), {"url": server.url}).status_code == 302
    )
    response = web.post(reverse("channel_feeds", args=[tech.id]), {"url": server.url})
    assert response.status_code == 400 and "already follows" in response.content.decode()
    assert ChannelFeed.objects.count() == 1


def test_the_feeds_page_lists_removes_and_is_workspace_scoped(web, member, tech, server):
    feed = ChannelFeed.objects.create(
        channel=tech, url=server.url, last_error="The feed answered HTTP 500."
    )
    html = web.get(reverse("channel_feeds", args=[tech.id])).content.decode()
    assert server.url in html and "HTTP 500" in html and 'for="feed-url"' in html
    other = ChannelFactory()
    assert web.get(reverse("channel_feeds", args=[other.id])).status_code == 404
    assert web.post(reverse("feed_remove", args=[other.id, feed.id])).status_code == 404
    assert web.post(reverse("feed_remove", args=[tech.id, feed.id])).status_code == 302
    assert not ChannelFeed.objects.exists()


@pytest.mark.parametrize("role", [Membership.Role.VIEWER, Membership.Role.APPROVER])
def test_a_viewer_cannot_add_a_feed(client, member, tech, server, role):
    viewer = MembershipFactory(workspace=member.workspace, role=role)
    client.force_login(viewer.user)
    assert (
        client.post(reverse("channel_feeds", args=[tech.id]), {"url": server.url}).status_code
        == 403
    )
    assert not ChannelFeed.objects.exists()


def test_beat_polls_the_feeds_that_are_due(tech, server, broker):
    assert celery_app.conf.beat_schedule["poll-feeds"]["task"] == "bulk.poll_feeds"
    due = ChannelFeed.objects.create(channel=tech, url=server.url)
    fresh = ChannelFeed.objects.create(channel=tech, url=server.url + "?2")
    feeds.feed_poll(feed_id=fresh.id)
    assert feeds.feeds_poll_due() == 1
    assert [m["args"] for m in broker.messages() if m["task"] == "bulk.poll_feed"] == [[due.id]]


def test_the_body_is_parsed_never_opened_or_fetched(tech, server, tmp_path):
    """feedparser given bytes would first try them as a file name, and given a URL would
    fetch it past every guard: it only ever gets a stream of what we fetched."""
    secret = tmp_path / "secret.xml"
    secret.write_bytes(rss([("leak", "Leaked file", "https://x.example/leak")]))
    other = FeedServer(document=rss([("other", "Fetched by feedparser", "https://x/o")])).start()
    try:
        feed = ChannelFeed.objects.create(channel=tech, url=server.url)
        for body in (str(secret).encode(), other.url.encode()):
            server.document = body
            result = feeds.feed_poll(feed_id=feed.id)
            assert result.added == 0 and "not an RSS or Atom feed" in result.error
        assert other.requests == []
    finally:
        other.stop()
    assert Post.objects.count() == 0


def test_a_long_feed_queues_its_newest_items_and_never_the_older_rest(tech, server):
    server.etag = False
    server.document = rss(
        [(f"g{i}", f"Item {i}", f"https://b.example/{i}") for i in range(30, 0, -1)]
    )
    feed = ChannelFeed.objects.create(channel=tech, url=server.url)
    result = feeds.feed_poll(feed_id=feed.id)
    assert (result.added, result.skipped) == (feeds.MAX_NEW_ITEMS, 30 - feeds.MAX_NEW_ITEMS)
    texts = queue_texts(tech)
    assert texts[0].startswith("Item 11\n") and texts[-1].startswith("Item 30\n")
    assert feeds.feed_poll(feed_id=feed.id).added == 0
    assert Post.objects.count() == feeds.MAX_NEW_ITEMS


@pytest.mark.worker
def test_beat_to_worker_a_due_feed_fills_the_queue(worker, server):
    from tests.conftest import wait_for

    channel = ChannelFactory(slug="tech")
    ChannelFeed.objects.create(channel=channel, url=server.url)
    assert feeds.feeds_poll_due() == 1
    wait_for(lambda: QueueEntry.objects.filter(channel=channel).count() == 2, what="the poll")
    assert feeds.feeds_poll_due() == 0  # read just now: not due again
