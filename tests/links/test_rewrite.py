"""Rewriting a text's links to short links with the channel's UTM parameters (no database)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from links.rewrite import (
    CODE_LENGTH,
    UtmTemplates,
    as_sent,
    find_urls,
    rewrite,
    utm_values,
    with_utm,
)

UTM = {"utm_source": "x", "utm_medium": "social", "utm_campaign": "tech", "utm_content": "7"}


@pytest.fixture(autouse=True)
def base(settings):
    settings.PUBLIC_BASE_URL = "https://ql.example"


def test_several_links_each_get_their_own_code_and_target():
    out = rewrite("Read https://a.example/one and http://b.example/two?x=1 now", utm=UTM)
    assert len(out.links) == 2
    (code1, target1), (code2, target2) = out.links
    assert code1 != code2 and len(code1) == len(code2) == CODE_LENGTH >= 8
    assert out.text == f"Read https://ql.example/l/{code1} and https://ql.example/l/{code2} now"
    assert target1.startswith("https://a.example/one?utm_source=x&")
    assert target2.startswith("http://b.example/two?x=1&utm_source=x&")


@pytest.mark.parametrize(
    ("text", "url", "after"),
    [
        ("See https://a.example/p.", "https://a.example/p", "."),
        ("See https://a.example/p, then", "https://a.example/p", ", then"),
        ("(see https://a.example/p)", "https://a.example/p", ")"),
        ("Wiki https://w.example/Foo_(bar)!", "https://w.example/Foo_(bar)", "!"),
        ('"https://a.example/q?x=1"', "https://a.example/q?x=1", '"'),
    ],
)
def test_punctuation_after_a_url_stays_in_the_text(text, url, after):
    start, end = find_urls(text)[0]
    assert text[start:end] == url
    out = rewrite(text, utm=UTM)
    assert out.text.endswith(after)
    assert out.links[0][1].startswith(url + ("&" if "?" in url else "?"))


def test_the_urls_own_query_is_kept_and_existing_utm_not_overwritten():
    target = with_utm("https://a.example/p?b=2&utm_source=newsletter&a=&c=3#frag", UTM)
    parts = urlsplit(target)
    query = parse_qsl(parts.query, keep_blank_values=True)
    assert query[:4] == [("b", "2"), ("utm_source", "newsletter"), ("a", ""), ("c", "3")]
    assert dict(query)["utm_source"] == "newsletter"  # the link's own, not ours
    assert dict(query)["utm_campaign"] == "tech" and parts.fragment == "frag"


def test_templates_fill_network_channel_and_post():
    values = utm_values(
        UtmTemplates(source="{network}", medium="social", campaign="q-{channel}", content=""),
        network="mastodon",
        channel="tech-news",
        post_id=42,
    )
    assert values == {
        "utm_source": "mastodon",
        "utm_medium": "social",
        "utm_campaign": "q-tech-news",
        "utm_content": "",
    }
    assert "utm_content" not in with_utm("https://a.example/", values)


def test_text_without_links_is_unchanged_and_as_sent_has_a_fixed_length():
    assert rewrite("no links here", utm=UTM).links == []
    sent = as_sent("a https://very.long.example/" + "x" * 200 + " b")
    assert sent == f"a https://ql.example/l/{'x' * CODE_LENGTH} b"
