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


def test_the_evergreen_mark_at_375px_is_axe_clean_and_stops_looping(browser):  # noqa: F811
    import datetime as dt

    from django.utils import timezone

    from channels.models import QueueEntry
    from tests.factories import QueueEntryFactory
    from tests.results.audience_seed import publish_many

    user = UserFactory(username="maria")
    membership = MembershipFactory(user=user, role=Membership.Role.OWNER)
    workspace = membership.workspace
    channel = ChannelFactory(workspace=workspace, name="#tech", with_sandbox=False)
    account = SocialAccountFactory(workspace=workspace)
    now = timezone.now()
    rows, entries = [], {}
    for name, values in {"fading": [3, 2, 4], "strong": [40, 50, 60], "mid": [20, 30, 25]}.items():
        post = PostFactory(workspace=workspace, text=f"The {name} evergreen post")
        times = [now - dt.timedelta(days=30 - i * 7) for i in range(len(values))]
        entries[name] = QueueEntryFactory(
            channel=channel, post=post, times_published=len(values), last_published_at=times[-1]
        )
        rows += [(post, at, v) for at, v in zip(times, values, strict=True)]
    publish_many(channel, account, rows)

    page = new_page(browser, PHONE)
    login(page, "maria")
    page.goto(f"{page.base_url}/channels/{channel.id}/")
    mark = page.locator(".evergreen-mark")
    assert mark.count() == 1
    assert "earned 4, 2, 3" in mark.inner_text()
    page.locator(f"#entry-{entries['fading'].id}").scroll_into_view_if_needed()
    result = check_page(page)
    page.locator(f"#entry-{entries['fading'].id}").screenshot(
        path=str(SHOT.with_name("evergreen-mark.png"))
    )
    assert result["violations"] == [], describe(result["violations"])
    assert result["scrollWidth"] <= result["innerWidth"]

    page.click(f"#entry-{entries['fading'].id} button:has-text('Stop looping')")
    page.wait_for_selector(".evergreen-mark", state="detached")
    assert not QueueEntry.objects.get(id=entries["fading"].id).is_active
