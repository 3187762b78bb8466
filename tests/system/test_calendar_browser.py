"""The calendar in a real browser: drag a slot to a new time and see a real worker publish it
there, compose a post from an empty time, move a slot with the keyboard only, and the week
and month at 375 px (no sideways scrolling, screenshots kept).

Screenshots go to QUEUELOOP_SCREENSHOT_DIR (else a temporary folder); the README's
docs/screenshots/calendar-*.png come from `QUEUELOOP_SCREENSHOT_DIR=docs/screenshots`.
Needs Debian's Chromium at /usr/bin/chromium, like tests/system/test_web_ui_browser.py.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from accounts.models import Membership
from posts.models import Post
from publishing.models import SandboxPost
from scheduling import services
from scheduling.models import Timeslot
from tests.conftest import wait_for
from tests.factories import (
    ChannelFactory,
    MembershipFactory,
    PostFactory,
    QueueEntryFactory,
    UserFactory,
)
from tests.system.test_a11y import PHONE, SCREENSHOTS, browser, demo, new_page  # noqa: F401 (fixtures)
from tests.system.test_a11y import login as demo_login
from tests.system.test_web_ui_browser import login, page  # noqa: F401 (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def world():
    user = UserFactory(username="maria")
    membership = MembershipFactory(user=user, role=Membership.Role.OWNER)
    channel = ChannelFactory(workspace=membership.workspace, name="#tech", timezone="UTC")
    post = PostFactory(workspace=membership.workspace, text="Moved by a drag, published on time")
    QueueEntryFactory(channel=channel, post=post)
    return {"workspace": membership.workspace, "channel": channel, "post": post}


def week_url(base: str, day: dt.date, tz: str = "UTC") -> str:
    return f"{base}/calendar/?view=week&start={day.isoformat()}&tz={tz}"


def test_drag_a_slot_to_a_new_time_and_a_worker_publishes_it_there(page, worker, world):  # noqa: F811
    # The new time: the next whole minute at least 45 s away (time to drag before it).
    now = timezone.now()
    target = (now + dt.timedelta(seconds=105)).replace(second=0, microsecond=0)
    # The slot starts a day later in the same week (or hours later on a Sunday).
    later = target + dt.timedelta(days=1)
    if later.date().isocalendar()[:2] != target.date().isocalendar()[:2]:
        later = target + dt.timedelta(hours=2)
    if later.date() != target.date() and target.weekday() == 6:
        pytest.skip("Sunday just before midnight: no later time in the same week")
    slot = services.timeslot_pin(post=world["post"], channel=world["channel"], publish_at=later)
    token = slot.token

    login(page, "maria")
    page.goto(week_url(page.base_url, target.date()))
    source = f'.cal-slot[data-key="t{slot.id}"]'
    cell = f'td[data-day="{target.date().isoformat()}"][data-hour="{target.hour}"]'
    # Both are in the same hour's row: bring it to the middle of the window first. A row
    # at the window's bottom edge (afternoon hours) made the emulated drag miss its drop.
    page.locator(cell).evaluate("el => el.scrollIntoView({block: 'center'})")
    page.drag_and_drop(source, cell)
    page.wait_for_selector(".messages .msg-success")
    assert "#tech slot" in page.inner_text(".messages")
    assert " moved from " in page.inner_text(".messages")
    slot.refresh_from_db()
    assert slot.publish_at == target and slot.token != token
    # The moved slot is in its new cell, and has the focus again after the reload.
    assert page.locator(f"{cell} {source}").count() == 1
    assert page.evaluate("document.activeElement.dataset.key") == f"t{slot.id}"

    # The real worker publishes it at its new time, not before.
    wait_for(
        lambda: Timeslot.objects.get(pk=slot.pk).status == Timeslot.Status.PUBLISHED,
        timeout=(target - timezone.now()).total_seconds() + 60,
        what="the moved slot to publish",
    )
    published = Timeslot.objects.get(pk=slot.pk)
    assert published.published_at >= target
    assert SandboxPost.objects.filter(delivery__timeslot=published).count() == 1
    page.reload()
    assert "published" in page.inner_text(f"{cell} {source}")


def test_click_an_empty_time_and_compose_a_post_pinned_there(page, world):  # noqa: F811
    day = timezone.now().date() + dt.timedelta(days=8)
    login(page, "maria")
    page.goto(week_url(page.base_url, day, tz="Europe/Paris"))
    page.click(f'td[data-day="{day.isoformat()}"][data-hour="10"] a.cal-new')
    page.wait_for_url("**/posts/new/**")
    assert page.input_value("#id_pin_at") == f"{day.isoformat()}T10:00"
    assert "Europe/Paris" in page.inner_text(".compose-side")
    page.fill("#id_text", "Composed from the calendar")
    page.check(f"input[name=channels][value='{world['channel'].id}']")  # a UTC channel
    page.click("button[value=save]")
    page.wait_for_url(page.base_url + "/posts/")
    assert "Pinned to" in page.inner_text(".messages")
    slot = Timeslot.objects.get(post__text="Composed from the calendar")
    # 10:00 in Paris, the calendar's zone, though the channel's zone is UTC.
    assert slot.publish_at == dt.datetime.combine(day, dt.time(10), tzinfo=ZoneInfo("Europe/Paris"))


def test_move_a_slot_with_the_keyboard_only(page, world):  # noqa: F811
    day = timezone.now().date() + dt.timedelta(days=1)
    if day.weekday() == 6:  # Sunday: right would leave the week
        day += dt.timedelta(days=1)
    at = dt.datetime.combine(day, dt.time(9, 30), tzinfo=dt.UTC)
    slot = services.timeslot_pin(post=world["post"], channel=world["channel"], publish_at=at)
    login(page, "maria")
    page.goto(week_url(page.base_url, day))
    key = f'.cal-slot[data-key="t{slot.id}"]'
    for _ in range(80):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement.matches(s)", key):
            break
    else:
        raise AssertionError("Tab never reached the slot")
    # The slot's accessible name reads its time, channel, text and status.
    name = page.evaluate("document.activeElement.textContent")
    assert name.startswith("09:30 #tech") and "Moved by a drag" in name and "pinned" in name
    page.keyboard.press("Space")  # pick up
    page.wait_for_function("document.querySelector('#announcer').textContent.includes('Picked up')")
    page.keyboard.press("ArrowRight")  # a day later
    page.keyboard.press("ArrowDown")  # an hour later
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowUp")
    assert page.evaluate("document.querySelector('.cal-cell.is-target').dataset.hour") == "10"
    page.keyboard.press("Enter")
    page.wait_for_selector(".messages .msg-success")
    slot.refresh_from_db()
    assert slot.publish_at == at + dt.timedelta(days=1, hours=1)
    assert page.evaluate("document.activeElement.dataset.key") == f"t{slot.id}"
    # Escape puts a picked-up slot back without moving it.
    page.keyboard.press("Space")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("Escape")
    assert page.locator(".cal-cell.is-target").count() == 0
    assert Timeslot.objects.get(pk=slot.pk).publish_at == slot.publish_at
    assert Post.objects.count() == 1


@pytest.mark.parametrize("view", ["week", "month"])
def test_week_and_month_fit_a_phone_and_look_right(browser, demo, view):  # noqa: F811
    """Screenshots: calendar-week.png and calendar-month.png at 1280 px, calendar-phone.png
    (the week) at 375 px, from seed_demo's data (an every-5-minutes channel: dense cells)."""
    from tests.system.test_a11y import DESKTOP

    for viewport, name in ((DESKTOP, f"calendar-{view}"), (PHONE, "calendar-phone")):
        tab = new_page(browser, viewport)
        demo_login(tab)
        tab.goto(f"{tab.base_url}/calendar/?view={view}&tz=Europe/Berlin")
        tab.wait_for_selector(".cal-grid .cal-slot")
        widths = tab.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], f"{view} at {viewport['width']} px scrolls sideways"
        if viewport is PHONE and view == "month":
            name = "calendar-phone-month"
        tab.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
        tab.context.close()
