"""The workspace's and a channel's results pages (issue 31, item 3): a chart of engagement
over time with its table, posts ranked by their deliveries' latest counts, the texts of an
evergreen post compared, each network's share, filters, the CSV, the workspace's boundary,
and a number of queries that does not grow with the data."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import SocialAccount
from posts.models import Label
from results.report_charts import LEFT, WIDTH, timeline_chart
from results.reports import Bucket
from tests.factories import (
    ChannelFactory,
    MembershipFactory,
    PostFactory,
    SocialAccountFactory,
    VariationFactory,
)
from tests.results.report_data import Sent, send

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def _world(workspace):
    """Two channels, a sandbox and a Mastodon account, three posts: "Evergreen" (two texts,
    3 sends, 4 likes each at +24 h), "Launch" (1 send, 20 likes, a label, 7 clicks), "Quiet"
    on Mastodon (2 sends, 0 likes)."""
    tech = ChannelFactory(workspace=workspace, name="#tech", with_sandbox=False)
    news = ChannelFactory(workspace=workspace, name="#news", with_sandbox=False)
    sandbox = SocialAccountFactory(workspace=workspace)
    mastodon = SocialAccountFactory(workspace=workspace, provider=SocialAccount.Provider.MASTODON)
    evergreen = PostFactory(workspace=workspace, text="Evergreen: read our guide")
    VariationFactory(post=evergreen, text="Evergreen, again: the guide")
    launch = PostFactory(workspace=workspace, text="Launch day!")
    label = Label.objects.create(workspace=workspace, name="launch")
    launch.labels.add(label)
    quiet = PostFactory(workspace=workspace, text='=HYPERLINK("x") quiet')
    day = NOW - dt.timedelta(days=3)
    send(
        Sent(
            tech,
            sandbox,
            evergreen,
            day,
            n=3,
            texts=("Evergreen: read our guide", "Evergreen, again: the guide"),
        )
    )
    send(Sent(tech, sandbox, launch, day - dt.timedelta(days=1), likes=20, clicks=7))
    send(Sent(news, mastodon, quiet, day, n=2, likes=0))
    return {"tech": tech, "news": news, "label": label, "posts": (evergreen, launch, quiet)}


def test_the_workspace_page_ranks_posts_by_their_latest_counts(web, member):
    world = _world(member.workspace)
    evergreen, launch, quiet = world["posts"]
    response = web.get("/results/")
    assert response.status_code == 200
    posts = response.context["posts"]
    # Latest (+24 h) counts only: launch 20+1+1, evergreen 3 x (4+1+1), quiet 2 x (0+1+1).
    assert [(r["post_id"], r["engagement"], r["publications"]) for r in posts] == [
        (launch.id, 22, 1),
        (evergreen.id, 18, 3),
        (quiet.id, 4, 2),
    ]
    assert posts[0]["clicks"] == 7 and posts[1]["clicks"] == 0
    html = response.content.decode()
    assert 'id="timeline-chart"' in html and "<rect" in html and 'id="timeline-table"' in html
    assert f'href="/posts/{launch.id}/results/"' in html
    assert "cdn" not in html.lower()


def test_the_texts_of_an_evergreen_post_are_compared_per_publication(web, member):
    evergreen = _world(member.workspace)["posts"][0]
    texts = web.get("/results/").context["texts"]
    assert [group["post_id"] for group in texts] == [evergreen.id]
    # Two sends of the original and one of the variation, 6 each: the same per publication.
    rows = {row["name"]: (row["publications"], row["per_publication"]) for row in texts[0]["texts"]}
    assert rows == {"Original": (2, 6.0), "Variation 2": (1, 6.0)}


def test_each_network_has_its_row(web, member):
    _world(member.workspace)
    response = web.get("/results/")
    rows = [(r["network"], r["engagement"]) for r in response.context["networks_rows"]]
    assert rows == [("sandbox", 40), ("mastodon", 4)]
    assert 'class="provider provider-mastodon"' in response.content.decode()


def test_the_chart_sums_each_day_in_the_page_s_zone(web, member):
    _world(member.workspace)
    timeline = web.get("/results/").context["timeline"]
    assert len(timeline) == 30 and timeline[-1]["when"] == NOW.date()
    by_day = {row["when"]: row["engagement"] for row in timeline if row["publications"]}
    assert by_day == {dt.date(2026, 12, 3): 22, dt.date(2026, 12, 4): 22}


def test_the_channel_page_shows_its_channel_only(web, member):
    world = _world(member.workspace)
    response = web.get(f"/channels/{world['news'].id}/results/")
    assert response.status_code == 200
    assert [r["engagement"] for r in response.context["posts"]] == [4]
    assert "Results of #news" in response.content.decode()


def test_the_channel_page_reads_dates_in_the_channel_s_zone(web, member):
    # 23:30 UTC on 3 December is 4 December in Berlin.
    channel = ChannelFactory(workspace=member.workspace, timezone="Europe/Berlin")
    account = channel.accounts.get()
    post = PostFactory(workspace=member.workspace)
    send(Sent(channel, account, post, dt.datetime(2026, 12, 3, 23, 30, tzinfo=dt.UTC)))
    url = f"/channels/{channel.id}/results/"
    assert web.get(url, {"from": "2026-12-04", "to": "2026-12-04"}).context["posts"]
    assert not web.get(url, {"from": "2026-12-03", "to": "2026-12-03"}).context["posts"]
    timeline = web.get(url).context["timeline"]
    assert [row["when"] for row in timeline if row["publications"]] == [dt.date(2026, 12, 4)]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"from": "2026-12-04", "to": "2026-12-04"}, [18, 4]),
        ({"network": "mastodon"}, [4]),
        ({"label": "LABEL"}, [22]),
        ({"channel": "NEWS"}, [4]),
        ({"from": "2026-11-01", "to": "2026-11-30"}, []),
    ],
)
def test_the_filters(web, member, params, expected):
    world = _world(member.workspace)
    params = {
        key: {"LABEL": str(world["label"].id), "NEWS": str(world["news"].id)}.get(value, value)
        for key, value in params.items()
    }
    response = web.get("/results/", params)
    assert response.status_code == 200
    assert [r["engagement"] for r in response.context["posts"]] == expected


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": "yesterday"}, "is not a date"),
        ({"to": "2026-13-45"}, "is not a date"),
        ({"from": "2026-12-05", "to": "2026-12-01"}, "start date is after the end date"),
        ({"from": "2020-01-01"}, "at most"),
        ({"channel": "abc"}, "no such channel"),
        ({"label": "99999999"}, "no such label"),
        ({"network": "myspace"}, "no such network"),
    ],
)
def test_bad_filters_are_a_400_that_says_why(web, member, params, message):
    Label.objects.create(workspace=member.workspace, name="a label")
    response = web.get("/results/", params)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert web.get("/results/", params | {"format": "csv"}).status_code == 400


def test_the_csv_has_the_ranked_table_with_the_filters_and_no_formulas(web, member):
    world = _world(member.workspace)
    response = web.get("/results/", {"format": "csv", "network": "mastodon"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:3] == ["rank", "post_id", "text"]
    assert rows[1:] == [
        ["1", str(world["posts"][2].id), "'=HYPERLINK(\"x\") quiet", "2", "0", "2", "2", "0", "4",
         "2.0", "0"],
    ]  # fmt: skip
    assert "format=csv" in web.get("/results/").context["csv_query"]


def test_another_workspace_s_channel_is_404_and_its_data_never_shows(web, member):
    theirs = _world(MembershipFactory().workspace)
    assert web.get(f"/channels/{theirs['tech'].id}/results/").status_code == 404
    assert web.get("/channels/99999999/results/").status_code == 404
    # Their channel as a filter of our page: not ours, a 400.
    assert web.get("/results/", {"channel": theirs["tech"].id}).status_code == 400
    response = web.get("/results/")
    assert response.context["posts"] == [] and response.context["networks_rows"] == []
    assert "Launch day" not in response.content.decode()


def test_signed_out_is_sent_to_log_in(client):
    assert client.get("/results/").status_code == 302


def test_the_pages_are_linked(web, member):
    channel = ChannelFactory(workspace=member.workspace)
    assert 'href="/results/"' in web.get("/").content.decode()
    assert (
        f'href="/channels/{channel.id}/results/"'
        in web.get(f"/channels/{channel.id}/").content.decode()
    )


def _grow(workspace, n: int) -> dict:
    """`n` deliveries over 20 posts, two channels, two networks, with texts and clicks."""
    world = _world(workspace)
    account = SocialAccountFactory(workspace=workspace, provider=SocialAccount.Provider.MASTODON)
    posts = [PostFactory(workspace=workspace) for _ in range(20)]
    for post in posts[:3]:
        post.labels.add(world["label"])
        VariationFactory(post=post, text=f"{post.text}, again")
    for i, post in enumerate(posts):
        send(
            Sent(
                world["tech"] if i % 2 else world["news"],
                account,
                post,
                NOW - dt.timedelta(days=1 + i % 20, hours=i),
                n=n // len(posts),
                likes=i,
                texts=(post.text, f"{post.text}, again"),
                clicks=i % 3,
            )
        )
    return world


def _queries(web, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = web.get(url)
    assert response.status_code == 200
    assert response.context["posts"]
    return len(queries)


def test_the_pages_cost_the_same_queries_for_20_or_200_deliveries(web, member):
    small = _grow(member.workspace, 20)
    counts = (_queries(web, "/results/"), _queries(web, f"/channels/{small['tech'].id}/results/"))
    other = MembershipFactory()
    web.force_login(other.user)
    large = _grow(other.workspace, 200)
    assert (
        _queries(web, "/results/"),
        _queries(web, f"/channels/{large['tech'].id}/results/"),
    ) == counts


def test_10000_deliveries_cost_the_same_queries(web, member):
    """At size: 10,000 deliveries (20,000 snapshots) made by bulk_create."""
    small = _grow(member.workspace, 20)
    counts = (_queries(web, "/results/"), _queries(web, f"/channels/{small['tech'].id}/results/"))
    other = MembershipFactory()
    web.force_login(other.user)
    large = _grow(other.workspace, 10_000)
    assert (
        _queries(web, "/results/"),
        _queries(web, f"/channels/{large['tech'].id}/results/"),
    ) == counts


def test_the_chart_labels_a_few_buckets_and_keeps_them_in_its_box():
    rows = [
        {"when": dt.date(2026, 11, 8) + dt.timedelta(days=i), "engagement": i, "publications": 1}
        for i in range(30)
    ]
    chart = timeline_chart(rows, Bucket.DAY)
    assert [(label, anchor) for label, _, anchor in chart.labels] == [
        ("8 Nov", "start"),
        ("18 Nov", "middle"),
        ("28 Nov", "middle"),
        ("7 Dec", "end"),
    ]
    assert len(chart.bars) == 30 and chart.bars[-1].height > chart.bars[1].height > 0
    assert all(LEFT <= bar.x and bar.x + bar.width <= WIDTH for bar in chart.bars)


@pytest.mark.parametrize(
    ("days", "bucket", "points"), [(30, "day", 30), (90, "week", 14), (400, "month", 14)]
)
def test_a_longer_range_is_drawn_by_week_or_month(web, member, days, bucket, points):
    start = NOW.date() - dt.timedelta(days=days - 1)
    response = web.get("/results/", {"from": start.isoformat(), "to": NOW.date().isoformat()})
    assert response.context["filters"].bucket == bucket
    assert len(response.context["timeline"]) == points
