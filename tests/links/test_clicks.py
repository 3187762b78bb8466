"""Short links at publish time (the claim) and their redirect: the stored target only, clicks
counted per delivery and day without any address, bots sent on but not counted."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from links.models import ClickDay, ShortLink
from links.services import clicks_by_delivery
from publishing import services as publishing
from publishing.models import Delivery
from scheduling.services import post_archive
from tests.factories import ChannelFactory, PostFactory, SocialAccountFactory
from tests.publishing.slots import due_slot

CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
ADDRESS = "203.0.113.77"  # the client's address: must appear nowhere


@pytest.fixture(autouse=True)
def base(settings):
    settings.PUBLIC_BASE_URL = "https://ql.example"


def publish(channel, text: str) -> Delivery:
    post = PostFactory(workspace=channel.workspace, text=text)
    now = timezone.now()
    slot = due_slot(channel, now, post=post)
    publishing.timeslots_publish(pairs=[(slot.id, str(slot.token))], now=now)
    return Delivery.objects.get(timeslot=slot)


def code_of(delivery: Delivery) -> str:
    return delivery.short_links.get().code


def click(client, code: str, ua: str = CHROME, **extra):
    return client.get(f"/l/{code}", HTTP_USER_AGENT=ua, REMOTE_ADDR=ADDRESS, **extra)


@pytest.mark.django_db
def test_the_claim_rewrites_links_of_a_counting_channel_only():
    counting = ChannelFactory(count_clicks=True, slug="tech", utm_medium="{network}-feed")
    plain = ChannelFactory()
    text = "New: https://blog.example/post?id=3&utm_source=mail. Enjoy!"

    kept = publish(plain, text)
    assert kept.text == text and not kept.short_links.exists()

    delivery = publish(counting, text)
    link = delivery.short_links.get()
    assert delivery.text == f"New: https://ql.example/l/{link.code}. Enjoy!"
    assert link.post_id == delivery.post_id
    assert link.target == (
        "https://blog.example/post?id=3&utm_source=mail&utm_medium=sandbox-feed"
        f"&utm_campaign=tech&utm_content={delivery.post_id}"
    )


@pytest.mark.django_db
def test_thread_parts_and_the_first_comment_are_rewritten_too():
    channel = ChannelFactory(count_clicks=True)
    post = PostFactory(
        workspace=channel.workspace,
        text="one https://a.example",
        thread_parts=["https://b.example/2"],
        first_comment="More: https://c.example/3!",
    )
    now = timezone.now()
    slot = due_slot(channel, now, post=post)
    publishing.timeslots_publish(pairs=[(slot.id, str(slot.token))], now=now)
    delivery = Delivery.objects.get(timeslot=slot)
    codes = {t.split("?")[0]: c for t, c in delivery.short_links.values_list("target", "code")}
    assert set(codes) == {"https://a.example", "https://b.example/2", "https://c.example/3"}
    assert delivery.text == f"one https://ql.example/l/{codes['https://a.example']}"
    assert delivery.thread_parts == [f"https://ql.example/l/{codes['https://b.example/2']}"]
    assert delivery.comment == f"More: https://ql.example/l/{codes['https://c.example/3']}!"


def _claim_queries(channel, text: str, slots: int = 1) -> int:
    now = timezone.now()
    pairs = []
    for _ in range(slots):
        post = PostFactory(workspace=channel.workspace, text=text)
        slot = due_slot(channel, now, post=post)
        pairs.append((slot.id, str(slot.token)))
    with CaptureQueriesContext(connection) as queries:
        publishing.timeslots_publish(pairs=pairs, now=now)
    return len(queries)


@pytest.mark.django_db
def test_the_claim_costs_no_query_with_the_option_off_and_one_insert_with_it_on():
    off = _claim_queries(ChannelFactory(), "see https://a.example")
    on_without_links = _claim_queries(ChannelFactory(count_clicks=True), "no links")
    assert on_without_links == off
    on = _claim_queries(ChannelFactory(count_clicks=True), "see https://a.example")
    assert on == off + 1
    # Bounded: more slots, more accounts and more links are still one INSERT.
    many = ChannelFactory(count_clicks=True)
    many.accounts.add(SocialAccountFactory(workspace=many.workspace))
    off_many = _claim_queries(ChannelFactory(), "https://a.example https://b.example", slots=3)
    assert _claim_queries(many, "https://a.example https://b.example", slots=3) == off_many + 1
    assert ShortLink.objects.filter(delivery__timeslot__channel=many).count() == 3 * 2 * 2


@pytest.mark.django_db
def test_a_code_redirects_to_its_stored_target_only(client):
    delivery = publish(ChannelFactory(count_clicks=True), "go https://a.example/x?q=1")
    code = code_of(delivery)
    target = delivery.short_links.get().target
    response = click(client, code)
    assert response.status_code == 302 and response["Location"] == target
    # Nothing in the request can change where it goes: no open redirect.
    for extra in ({"next": "https://evil.example"}, {"url": "//evil.example", "to": "x"}):
        assert client.get(f"/l/{code}", extra, HTTP_USER_AGENT=CHROME)["Location"] == target
    assert client.get(f"/l/{code}/https://evil.example").status_code == 404
    assert client.get("/l/nosuchcode1").status_code == 404
    assert client.post(f"/l/{code}").status_code == 405


@pytest.mark.django_db
def test_an_archived_posts_link_still_redirects(client):
    delivery = publish(ChannelFactory(count_clicks=True), "go https://a.example/")
    post_archive(post=delivery.post)
    response = click(client, code_of(delivery))
    assert response.status_code == 302
    assert response["Location"].startswith("https://a.example/?utm_source=sandbox")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "ua",
    [
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "Twitterbot/1.0",
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
        "TelegramBot (like TwitterBot)",
        "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
        "Mastodon/4.3.0 (http.rb/5.2.0; +https://mastodon.social/)",
        "Mozilla/5.0 (compatible; SomeCrawler/2.1)",
        "Mozilla/5.0 (compatible; YetAnotherSpider)",
        "",
    ],
)
def test_bots_are_redirected_but_not_counted(client, ua):
    delivery = publish(ChannelFactory(count_clicks=True), "go https://a.example/")
    assert click(client, code_of(delivery), ua=ua).status_code == 302
    assert not ClickDay.objects.exists()


@pytest.mark.django_db
def test_clicks_count_per_delivery_and_day_without_any_address(client, caplog):
    channel = ChannelFactory(count_clicks=True)
    delivery = publish(channel, "go https://a.example/")
    other = publish(channel, "and https://b.example/")
    code = code_of(delivery)
    caplog.set_level(logging.DEBUG)
    with time_machine.travel(dt.datetime(2026, 3, 1, 23, 59, tzinfo=dt.UTC)):
        click(client, code)
        click(client, code, HTTP_REFERER="https://t.co/abc?x=1")
        click(client, code, ua=FIREFOX)
        click(client, code)
    with time_machine.travel(dt.datetime(2026, 3, 2, 0, 1, tzinfo=dt.UTC)):
        click(client, code)
        click(client, "unknowncode")  # a 404 is logged by Django: without the address either
    rows = {
        (r.day.isoformat(), r.referrer_host, r.agent): r.count
        for r in ClickDay.objects.filter(link__delivery=delivery)
    }
    assert rows == {
        ("2026-03-01", "", "chrome"): 2,
        ("2026-03-01", "t.co", "chrome"): 1,
        ("2026-03-01", "", "firefox"): 1,
        ("2026-03-02", "", "chrome"): 1,
    }
    assert clicks_by_delivery([delivery.id, other.id]) == {delivery.id: 5}
    # No address in any row of the links' tables, nor in any log line of these requests.
    with connection.cursor() as cursor:
        for table in (ClickDay._meta.db_table, ShortLink._meta.db_table):
            cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 (our own table names)
            assert ADDRESS not in repr(cursor.fetchall())
    assert caplog.records, "the 404 is logged"
    for record in caplog.records:
        assert ADDRESS not in repr(record.__dict__)


def test_the_log_filter_drops_the_dev_servers_socket():
    from ground.logformat import JsonFormatter, NoClientAddress

    class Socket:  # what runserver passes: its repr names the peer
        def __repr__(self):
            return f"<socket raddr=('{ADDRESS}', 5555)>"

    record = logging.LogRecord("django.server", logging.INFO, "", 0, '"GET /l/x" 302', (), None)
    record.request = Socket()
    assert ADDRESS in JsonFormatter().format(record)  # the leak the filter closes
    assert NoClientAddress().filter(record)
    assert ADDRESS not in JsonFormatter().format(record)
