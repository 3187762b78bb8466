"""The "when the audience answers" page on a 375 px phone: the heat map reads, the page does
not scroll sideways (the table fits), and axe finds no WCAG A/AA violation.

Needs Debian's Chromium at /usr/bin/chromium, like tests/system/test_a11y.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from accounts.models import Membership
from tests.factories import (
    ChannelFactory,
    MembershipFactory,
    PostFactory,
    SocialAccountFactory,
    UserFactory,
)
from tests.results.audience_seed import audience_history
from tests.system.test_a11y import PHONE, browser, check_page, describe, new_page  # noqa: F401
from tests.system.test_web_ui_browser import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "audience-heatmap.png"


def test_the_heat_map_at_375px_is_axe_clean(browser):  # noqa: F811
    user = UserFactory(username="maria")
    membership = MembershipFactory(user=user, role=Membership.Role.OWNER)
    workspace = membership.workspace
    channel = ChannelFactory(workspace=workspace, name="#tech", timezone="Asia/Kolkata")
    audience_history(
        channel,
        SocialAccountFactory(workspace=workspace),
        PostFactory(workspace=workspace),
        weeks=3,
        unmeasured=2,
    )

    page = new_page(browser, PHONE)
    login(page, "maria")
    page.goto(f"{page.base_url}/channels/{channel.id}/audience/")
    assert page.locator("td.heat-top").count() == 4
    assert "FREQ=WEEKLY;BYDAY=TU,TH;BYHOUR=9,14;BYMINUTE=0" in page.inner_text("pre.rule-text")
    result = check_page(page)
    SHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOT), full_page=True)
    assert result["violations"] == [], describe(result["violations"])
    assert result["scrollWidth"] <= result["innerWidth"]
    assert result["h1"] == 1

    # "Use these times" fills the schedule editor's simple form.
    page.click("text=Use these times")
    assert page.is_checked("input[name=frequency][value=weekly]")
    assert page.input_value("#id_times") == "09:00, 14:00"
