"""X's weighted length agrees with the twitter-text conformance file (v3 counting)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from networks import get_provider
from networks.x.adapter import XProvider

DATA = Path(__file__).parent.parent / "data" / "twitter-text-validate.yml"
SECTIONS = ("WeightedTweetsWithDiscountedEmojiCounterTest", "UnicodeDirectionalMarkerCounterTest")


def _cases():
    tests = yaml.safe_load(DATA.read_text(encoding="utf-8"))["tests"]
    for section in SECTIONS:
        for index, case in enumerate(tests[section]):
            yield pytest.param(case, id=f"{section}[{index}] {case['description'][:50]}")


CASES = list(_cases())


def test_the_conformance_sections_are_all_there():
    # 22 + 2 cases in the upstream file; a truncated copy must not pass quietly.
    assert len(CASES) == 24


@pytest.mark.parametrize("case", CASES)
def test_weighted_length_and_validity_match_twitter_text(case):
    x = get_provider("x")
    expected = case["expected"]
    assert x.text_length(case["text"]) == expected["weightedLength"]
    assert (x.validate(case["text"]) == []) is expected["valid"]


def test_over_the_limit_message_gives_the_weighted_count_and_the_limit():
    x = XProvider()
    text = "a" * 270 + " 日本語日本語"  # 271 + 6 CJK characters weighted 2 each = 283
    assert x.text_length(text) == 283
    assert x.validate(text) == ["X counts this text as 283 characters; the limit is 280."]


def test_urls_count_23_and_emoji_sequences_count_2():
    x = XProvider()
    assert x.text_length("see https://example.com/a/very/long/path/that/goes/on/and/on") == 27
    assert x.text_length("👨‍👩‍👧‍👦") == 2


def test_empty_and_blank_text_is_refused():
    assert XProvider().validate("") == ["The text is empty."]
    assert XProvider().validate("   \n") == ["The text is empty."]


def test_exactly_280_is_valid():
    assert XProvider().validate("x" * 280) == []
    assert XProvider().validate("x" * 281) == [
        "X counts this text as 281 characters; the limit is 280."
    ]
