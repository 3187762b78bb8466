"""The workspace's and a channel's results pages in a real browser (issue 31, item 3): the
chart (an SVG) and its table are visible at 1280 px and at 375 px, the page does not scroll
sideways on a phone, and axe finds no WCAG A/AA violation.

docs/screenshots/results-workspace.png and results-channel-375.png come from
`QUEUELOOP_SCREENSHOT_DIR=docs/screenshots`. Needs Debian's Chromium at /usr/bin/chromium,
like tests/system/test_a11y.py.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts.models import Membership, SocialAccount
from posts.models import Label
from tests.factories import (
    ChannelFactory,
    MembershipFactory,
    PostFactory,
    SocialAccountFactory,
    UserFactory,
    VariationFactory,
)
from tests.results.report_data import Sent, send
from tests.system.test_a11y import DESKTOP, PHONE, browser, check_page, describe, new_page  # noqa: F401
from tests.system.test_web_ui_browser import SCREENSHOTS, login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def results():
    """A workspace with three weeks of sent posts on two channels and two networks."""
    user = UserFactory(username="maria")
    membership = MembershipFactory(user=user, role=Membership.Role.OWNER)
    workspace = membership.workspace
    tech = ChannelFactory(workspace=workspace, name="#tech", timezone="Europe/Berlin")
    news = ChannelFactory(workspace=workspace, name="#news", with_sandbox=False)
    mastodon = SocialAccountFactory(
        workspace=workspace, provider=SocialAccount.Provider.MASTODON, handle="acme@fosstodon.org"
    )
    news.accounts.add(mastodon)
    label = Label.objects.create(workspace=workspace, name="evergreen")
    texts = [
        "5 keyboard shortcuts that will save you an hour a week. Number 3 is our favourite.",
        "New on the blog: how we cut our CI time in half with test sharding.",
        "Reminder: our office hours are every Thursday. Bring your questions!",
        "Did you know? You can pin any post to an exact time in Queue Loop.",
    ]
    now = timezone.now()
    for i, text in enumerate(texts):
        post = PostFactory(workspace=workspace, text=text, author=user)
        post.labels.add(label)
        again = f"Again: {text}"
        VariationFactory(post=post, text=again)
        for day in range(i, 21, 3):
            channel, account = (tech, tech.accounts.get()) if day % 2 else (news, mastodon)
            send(
                Sent(
                    channel,
                    account,
                    post,
                    now - dt.timedelta(days=day, hours=i),
                    n=1 + day % 3,
                    likes=3 + (day * 7 + i * 5) % 17,
                    texts=(text, again) if day % 4 else (again,),
                    clicks=day % 4,
                )
            )
    return {"tech": tech}


def _check(page, path: str, shot: str | None) -> None:
    page.goto(page.base_url + path)
    assert page.locator("#timeline-chart").is_visible()
    assert page.locator("#timeline-table").is_visible()
    assert page.locator("#ranked-posts tbody tr").count() == 4
    if shot:
        page.screenshot(path=str(SCREENSHOTS / shot), full_page=True)
    found = check_page(page)
    assert found["violations"] == [], describe(found["violations"])
    wide = page.evaluate(
        """() => [...document.querySelectorAll('main *')]
            .filter(e => !e.closest('.table-wrap'))
            .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
            .slice(0, 3).map(e => e.tagName + '.' + e.className + '#' + e.id)"""
    )
    assert found["scrollWidth"] <= found["innerWidth"], f"the page scrolls sideways: {wide}"


def test_the_results_pages_show_a_chart_and_its_table_and_pass_axe(browser, results):  # noqa: F811
    channel = f"/channels/{results['tech'].id}/results/"
    for viewport, shots in (
        (DESKTOP, {"/results/": "results-workspace.png", channel: None}),
        (PHONE, {"/results/": None, channel: "results-channel-375.png"}),
    ):
        page = new_page(browser, viewport)
        login(page, "maria")
        for path, shot in shots.items():
            _check(page, path, shot)
        page.context.close()
