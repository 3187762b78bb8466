"""A NUL character (U+0000) in input that is stored: PostgreSQL refuses it in text and jsonb
columns, so it used to surface as a 500 (a CSV cell) or as a feed poll that raised on every
run and never said why. Now it is a readable error and nothing of it is stored."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from bulk import feeds
from bulk.models import ChannelFeed, FeedItem, ImportJob, ImportRow
from channels.models import QueueEntry
from posts.models import Post
from tests.factories import ChannelFactory
from tests.networks.fake_feed import FeedServer, rss

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2027, 3, 1, 9, 0, tzinfo=dt.UTC)
HEADER = "text,variations,channels,publish_at,max_publications,image_url"
# One row per column, the NUL in that column's cell (the probe's case is `channels`).
ROWS = {
    "text": "he\x00llo,,tech,,,",
    "variations": "hello,a || b\x00,tech,,,",
    "channels": "hello,,te\x00ch,,,",
    "publish_at": "hello,,tech,2027-03-10 13:30\x00,,",
    "max_publications": "hello,,tech,,3\x00,",
    "image_url": "hello,,tech,,,https://example.com/a\x00.png",
}


@pytest.fixture
def clock():
    """Listed before `web` where a test needs it: the login must happen at the travelled time."""
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def tech(member):
    return ChannelFactory(workspace=member.workspace, name="#tech", slug="tech")


def upload(web, data: bytes, name="posts.csv"):
    return web.post(reverse("import_upload"), {"file": SimpleUploadedFile(name, data, "text/csv")})


@pytest.mark.parametrize("column", list(ROWS))
def test_a_nul_in_a_csv_cell_is_a_row_error_naming_the_column(clock, web, member, tech, column):
    data = f"{HEADER}\nfine,,tech,,,\n{ROWS[column]}\n".encode()
    response = upload(web, data)
    assert response.status_code == 302, response.content
    job = ImportJob.objects.get()
    assert (job.total, job.errors) == (1, 1)
    bad = ImportRow.objects.get(job=job, line=3)
    assert not bad.valid
    assert any(e.startswith(f"{column}:") and "NUL" in e for e in bad.errors), bad.errors
    # Nothing stored carries the NUL, and the preview page shows the row.
    assert "\x00" not in repr((bad.data, bad.errors, bad.image_url))
    page = web.get(response["Location"])
    assert page.status_code == 200 and "Line 3:" in page.content.decode()
    assert Post.objects.count() == 0


def test_a_nul_in_the_header_or_an_ignored_column_is_harmless(web, member, tech):
    data = b"text,channels,col\x00our\nhello,tech,bl\x00ue\n"
    response = upload(web, data)
    assert response.status_code == 302, response.content
    [row] = ImportRow.objects.all()
    assert row.valid and row.data["text"] == "hello"
    page = web.get(response["Location"])
    assert page.status_code == 200


def test_a_nul_in_the_file_name_is_harmless(web, member, tech):
    response = upload(web, b"text,channels\nhello,tech\n", name="po\x00sts.csv")
    assert response.status_code == 302, response.content
    assert "\x00" not in ImportJob.objects.get().filename


# --- Feeds -----------------------------------------------------------------------------------


@pytest.fixture
def server():
    s = FeedServer().start()
    yield s
    s.stop()


def test_a_nul_in_a_guid_refuses_that_item_and_queues_the_others(tech, server):
    server.document = rss(
        [
            ("urn:post:3", "Third post", "https://blog.example.com/3"),
            ("urn:\x00bad", "Bad guid", "https://blog.example.com/bad"),
            ("urn:post:1", "First post", "https://blog.example.com/1"),
        ]
    )
    feed = ChannelFeed.objects.create(channel=tech, url=server.url)
    with time_machine.travel(NOW, tick=False):
        result = feeds.feed_poll(feed_id=feed.id)
    assert (result.added, result.refused, result.error) == (2, 1, "")
    assert sorted(QueueEntry.objects.values_list("post__text", flat=True)) == [
        "First post\nhttps://blog.example.com/1",
        "Third post\nhttps://blog.example.com/3",
    ]
    feed.refresh_from_db()
    assert feed.last_polled_at == NOW and feed.last_error == ""
    # The bad item is remembered (without its NUL), with a reason the feeds page shows.
    bad = FeedItem.objects.get(post__isnull=True)
    assert "\x00" not in bad.key and "NUL" in bad.error
    assert bad.key == "urn:\ufffdbad"
    # The next poll neither retries it nor adds anything twice.
    server.etag = False
    again = feeds.feed_poll(feed_id=feed.id)
    assert (again.added, again.refused, again.error) == (0, 0, "")
    assert Post.objects.count() == 2


@pytest.mark.parametrize(
    "item",
    [
        ("urn:post:9", "Ti\x00tle", "https://blog.example.com/9"),
        ("urn:post:9", "Title", "https://blog.example.com/\x009"),
        ("", "Title", "https://blog.example.com/\x009"),  # known by its link
    ],
)
def test_a_nul_in_a_title_or_link_refuses_that_item(tech, server, item):
    server.document = rss([item, ("urn:post:1", "First post", "https://blog.example.com/1")])
    feed = ChannelFeed.objects.create(channel=tech, url=server.url)
    result = feeds.feed_poll(feed_id=feed.id)
    assert (result.added, result.refused, result.error) == (1, 1, "")
    assert list(Post.objects.values_list("text", flat=True)) == [
        "First post\nhttps://blog.example.com/1"
    ]
    assert "cannot be stored" in FeedItem.objects.get(post__isnull=True).error


def test_a_document_feedparser_cannot_read_is_recorded_on_the_feed(tech, server):
    """feedparser 6 raises UnicodeEncodeError on a lone-surrogate character reference
    (mixin.handle_charref encodes chr(0xD800)); the poll records it instead of raising. If
    a new feedparser reads the item, it is refused alone (feeds._storable) and this fails."""
    server.document = rss([("urn:&#xD800;9", "Title", "https://blog.example.com/9")])
    feed = ChannelFeed.objects.create(channel=tech, url=server.url)
    with time_machine.travel(NOW, tick=False):
        result = feeds.feed_poll(feed_id=feed.id)
    assert result.error == feeds.BROKEN_FEED
    feed.refresh_from_db()
    assert (feed.last_polled_at, feed.last_error) == (NOW, feeds.BROKEN_FEED)


def test_a_poll_that_breaks_unexpectedly_still_records_when_and_why(tech, server, monkeypatch):
    """Whatever goes wrong reading a fetched feed, the poll is recorded: last_polled_at
    moves (so beat does not send it again at every run) and last_error says so."""
    server.document = rss([("urn:post:1", "First post", "https://blog.example.com/1")])
    feed = ChannelFeed.objects.create(channel=tech, url=server.url)

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(feeds.feedparser, "parse", broken)
    with time_machine.travel(NOW, tick=False):
        result = feeds.feed_poll(feed_id=feed.id)
        assert feeds.feeds_poll_due() == 0  # not due again before POLL_INTERVAL
    assert result.error
    feed.refresh_from_db()
    assert feed.last_polled_at == NOW
    assert "could not be read" in feed.last_error and "boom" not in feed.last_error


def test_a_failing_item_does_not_stop_the_others(tech, server, monkeypatch):
    server.document = rss(
        [
            ("urn:post:2", "Second post", "https://blog.example.com/2"),
            ("urn:post:1", "First post", "https://blog.example.com/1"),
        ]
    )
    feed = ChannelFeed.objects.create(channel=tech, url=server.url)
    real = feeds.compose.post_create

    def flaky(*, text, **kwargs):
        if text.startswith("First"):
            raise RuntimeError("boom")
        return real(text=text, **kwargs)

    monkeypatch.setattr(feeds.compose, "post_create", flaky)
    result = feeds.feed_poll(feed_id=feed.id)
    assert (result.added, result.refused, result.error) == (1, 1, "")
    assert list(Post.objects.values_list("text", flat=True)) == [
        "Second post\nhttps://blog.example.com/2"
    ]
    item = FeedItem.objects.get(post__isnull=True)
    assert item.key == "urn:post:1" and item.error
    feed.refresh_from_db()
    assert feed.last_error == "" and feed.last_polled_at


def test_the_feeds_page_shows_a_nul_item_as_not_queued(web, tech, server):
    server.document = rss([("urn:\x00bad", "Bad guid", "https://blog.example.com/bad")])
    feed = ChannelFeed.objects.create(channel=tech, url=server.url)
    feeds.feed_poll(feed_id=feed.id)
    page = web.get(reverse("channel_feeds", args=[tech.id]))
    assert page.status_code == 200
    assert "Not queued:" in page.content.decode()
