"""Every registered network has its colours and its icon, and the pages that name networks
draw them (the composer's counters and previews, the calendar's filter, the accounts page)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.template import Context, Template

from networks import registry

CSS = Path(settings.BASE_DIR, "static", "css", "app.css").read_text()


@pytest.mark.parametrize("name", list(registry.NETWORKS))
def test_every_network_has_its_colours_in_the_stylesheet(name):
    rule = re.search(rf"\.provider-{name} \{{([^}}]*)\}}", CSS)
    assert rule, f"static/css/app.css has no .provider-{name} rule: add the network's colours"
    assert "background" in rule.group(1) and "color" in rule.group(1)


@pytest.mark.parametrize("name", list(registry.NETWORKS))
def test_every_network_has_an_icon_of_one_or_two_characters(name):
    assert 1 <= len(registry.mark(name)) <= 2


def test_the_chip_shows_the_icon_hidden_from_screen_readers_and_the_name():
    html = Template("{% load networks_menu %}{% network_chip 'telegram' %}").render(Context())
    assert html == (
        '<span class="provider provider-telegram"><span class="net-mark" aria-hidden="true">'
        "TG</span>Telegram</span>"
    )


def test_the_chip_escapes_the_label_it_is_given():
    html = Template("{% load networks_menu %}{% network_chip 'x' label %}").render(
        Context({"label": "<b>X</b>"})
    )
    assert "&lt;b&gt;X&lt;/b&gt;" in html
