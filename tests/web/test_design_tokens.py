"""The colour design tokens in static/css/app.css: defined once, AA contrast in every pair used.

axe-core (tests/system/test_a11y.py) checks the text it sees on the pages it visits; this checks the
palette itself, including states a page walk may not show (hover, focus rings, every status
chip and channel colour on every slot background), and that no colour is written anywhere
but in the :root block, so a new rule cannot drift off the palette.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS = (Path(__file__).resolve().parents[2] / "static" / "css" / "app.css").read_text()
ROOT = re.search(r":root\s*\{(.*?)\n\}", CSS, re.S)
TOKENS = dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})\s*;", ROOT.group(1)))

TEXT = 4.5  # WCAG 1.4.3, normal text
UI = 3.0  # WCAG 1.4.11, focus rings and control borders

SLOT_BACKGROUNDS = ["card", "surface-sunken", "warn-soft", "bad-soft"]
PAIRS = [
    # (foreground token, background token, minimum ratio)
    *[("text", bg, TEXT) for bg in ["bg", "card", "surface-sunken", "warn-soft", "bad-soft"]],
    *[
        ("muted", bg, TEXT)
        for bg in [
            "bg",
            "card",
            "surface-sunken",
            "surface-neutral",
            "primary-soft",
            "warn-soft",
            "bad-soft",
            "ok-soft",
        ]
    ],
    *[("text-soft", bg, TEXT) for bg in ["card", "surface-neutral", "warn-soft", "bad-soft"]],
    ("text-strong", "surface-neutral", TEXT),
    ("text-strong", "line", TEXT),  # chip hover
    *[("primary", bg, TEXT) for bg in ["bg", "card", "surface-sunken", "primary-soft"]],
    ("primary-dark", "primary-soft", TEXT),
    ("primary-dark", "card", TEXT),
    ("on-primary", "primary", TEXT),
    ("on-primary", "primary-dark", TEXT),
    ("on-primary", "bad", TEXT),
    ("on-primary", "x-bg", TEXT),
    ("ok", "ok-soft", TEXT),
    ("ok", "card", TEXT),
    ("ok-strong", "ok-soft", TEXT),
    ("warn", "warn-soft", TEXT),
    ("warn", "card", TEXT),
    ("warn-strong", "warn-soft", TEXT),
    ("warn-strong", "card", TEXT),
    ("bad", "bad-soft", TEXT),
    ("bad", "card", TEXT),
    ("bad-strong", "bad-soft", TEXT),
    ("moved", "moved-soft", TEXT),
    ("webhook", "webhook-soft", TEXT),
    ("mastodon", "mastodon-soft", TEXT),
    ("bluesky", "bluesky-soft", TEXT),
    ("topbar-text", "topbar-bg", TEXT),
    *[
        ("topbar-text-strong", bg, TEXT)
        for bg in ["topbar-bg", "topbar-hover", "topbar-current", "topbar-control"]
    ],
    *[(f"chan-{i}", bg, TEXT) for i in range(8) for bg in SLOT_BACKGROUNDS],
    # Focus rings and the borders that show where a control is.
    *[("focus", bg, UI) for bg in ["bg", "card", "surface-sunken", "primary-soft"]],
    ("focus-on-dark", "topbar-bg", UI),
    ("focus-on-dark", "topbar-current", UI),
    ("control-border", "card", UI),
    ("control-border", "bg", UI),
    ("topbar-control-line", "topbar-bg", UI),
]


def luminance(hex_colour: str) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    light, dark = sorted([luminance(a), luminance(b)], reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_contrast_formula_matches_known_values():
    assert round(contrast("#000000", "#ffffff"), 1) == 21.0
    assert round(contrast("#767676", "#ffffff"), 2) == 4.54  # the classic AA grey


@pytest.mark.parametrize(("fg", "bg", "minimum"), PAIRS, ids=[f"{f}-on-{b}" for f, b, _ in PAIRS])
def test_token_pair_meets_aa(fg, bg, minimum):
    ratio = contrast(TOKENS[fg], TOKENS[bg])
    assert ratio >= minimum, f"--{fg} on --{bg}: {ratio:.2f}:1 < {minimum}:1"


def test_no_colour_is_written_outside_the_tokens():
    outside = CSS[: ROOT.start()] + CSS[ROOT.end() :]
    literals = re.findall(r"#[0-9a-fA-F]{3,8}\b|rgba?\(|hsla?\(", outside)
    assert literals == [], f"use a var(--token) from :root instead of {literals}"
    named = re.findall(r":\s*(?:[^;{}]*\s)?(white|black|red|green|blue|gray|grey)\b", outside)
    assert named == [], f"named colours outside :root: {named}"
