"""The composer's per-network counters and previews (GET /posts/preview/, htmx): each
network of the ticked channels counts every part its own way, against its own limit, with
the same provider functions that validate on save."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import SocialAccount
from editor.services import text_errors
from tests.factories import (
    ChannelFactory,
    PostFactory,
    SocialAccountFactory,
    XAccountFactory,
)
from tests.posts.test_images import add_image, png

pytestmark = pytest.mark.django_db
URL = "https://example.com/" + "a" * 60  # 80 characters; 23 on X and Mastodon


@pytest.fixture
def channel(member):
    ws = member.workspace
    channel = ChannelFactory(workspace=ws, with_sandbox=False)
    channel.accounts.add(
        XAccountFactory(workspace=ws),
        SocialAccountFactory(
            workspace=ws,
            provider=SocialAccount.Provider.MASTODON,
            options={"instance": "https://fake.social", "max_characters": 500},
        ),
        SocialAccountFactory(workspace=ws, provider=SocialAccount.Provider.BLUESKY),
    )
    return channel


def preview(web, **params) -> str:
    response = web.get(reverse("post_preview"), params)
    assert response.status_code == 200
    return response.content.decode()


def counters(html: str) -> dict[str, list[str]]:
    """{network: ["count/limit", ...]} from the counters list."""
    import re

    found = {}
    for item in re.findall(r'<li class="net-counter" data-network="(\w+)">(.*?)</li>', html, re.S):
        network, body = item
        found[network] = re.findall(r"(\d+/\d+)</span>", body)
    return found


def test_each_network_counts_its_own_way_against_its_own_limit(web, channel):
    text = f"日本 {URL} 👍🏽"  # CJK 2 each on X; a link 23 on X and Mastodon; 1 emoji

    html = preview(web, text=text, channels=channel.id)

    assert counters(html) == {
        "bluesky": [f"{len(text) - 1}/300"],  # graphemes: 👍🏽 (two code points) is one
        "mastodon": ["28/500"],  # 2 + 1 + 23 + 1 + 1 (grapheme clusters, as Mastodon)
        "x": ["31/280"],  # 4 + 1 + 23 + 1 + 2 (an emoji sequence weighs 2)
    }
    assert "Mastodon (fake.social)" in html
    # Each counter and preview names its network in the network's colours and icon.
    assert html.count('class="provider provider-x"') == 2
    assert 'aria-live="polite"' not in html  # the live region is the page's, not swapped


def test_a_thread_gets_a_counter_per_part_and_over_the_limit_shows_saves_message(web, channel):
    long_part = "y" * 290

    html = preview(web, text="One", thread=f"Two\n---\n{long_part}", channels=channel.id)

    assert counters(html)["x"] == ["3/280", "3/280", "290/280"]
    assert counters(html)["bluesky"] == ["3/300", "3/300", "290/300"]
    assert "Part 3, a reply to part 2" in html
    # The message is the one saving gives: one validation function per provider.
    [x_error] = [e for e in text_errors(text=long_part, channels=[channel]) if "X " in e]
    assert x_error in html
    assert "too long" in html


def test_the_previews_show_the_posts_images_with_their_alt_text(web, channel, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    post = PostFactory(workspace=channel.workspace, text="With a picture")
    image = add_image(post=post, data=png(), filename="a.png", alt_text="A blue square")

    html = preview(web, text="With a picture", channels=channel.id, post=post.id)

    signed = (
        rf'<img src="/media/{re.escape(image.file.name)}\?e=\d+&amp;s=[\w-]+" alt="A blue square"'
    )
    assert len(re.findall(signed, html)) == 3  # 3 networks


def test_another_workspaces_channel_and_post_are_ignored(web, channel):
    other = ChannelFactory()
    other.accounts.add(XAccountFactory(workspace=other.workspace))
    foreign_post = PostFactory(workspace=other.workspace)

    html = preview(web, text="Hi", channels=[other.id, "nope"], post=foreign_post.id)

    assert "Tick a channel" in html


def test_query_count_does_not_grow_with_the_parts(web, channel):
    def queries(thread: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            preview(web, text="One", thread=thread, channels=channel.id)
        return len(captured)

    assert queries("Two") == queries("\n---\n".join(f"Part {n}" for n in range(10)))


def test_the_compose_page_has_the_live_counters_region(web, channel):
    html = web.get(reverse("post_create")).content.decode()
    assert '<div id="network-counters" aria-live="polite"' in html
    assert "input delay:800ms from:#compose-form" in html
