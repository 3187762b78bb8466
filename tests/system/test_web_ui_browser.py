"""The web UI in a real browser: log in, compose with the live X counter, build a schedule
with the rule editor, see the upcoming slots. Screenshots go to static/screenshots/.

Needs Debian's Chromium at /usr/bin/chromium (`apt-get install chromium`; Playwright's
own browser download cannot run here). Without it these tests skip with the reason,
unless QUEUELOOP_REQUIRE_BROWSER=1, when they fail instead.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from pathlib import Path

import pytest
from django.db import connections
from django.utils import timezone

from accounts.models import Membership
from channels.models import Channel
from posts.models import Post
from scheduling.models import Schedule, Timeslot
from tests.factories import (
    ChannelFactory,
    DeliveryFactory,
    MembershipFactory,
    NoticeFactory,
    PostFactory,
    QueueEntryFactory,
    SocialAccountFactory,
    TimeslotFactory,
    UserFactory,
    VariationFactory,
    WorkspaceFactory,
)

CHROMIUM = "/usr/bin/chromium"
# Screenshots go to a temporary folder so a test run never dirties the checkout; refresh
# the README's pictures with QUEUELOOP_SCREENSHOT_DIR=static/screenshots make test.
SCREENSHOTS = Path(
    os.environ.get("QUEUELOOP_SCREENSHOT_DIR") or tempfile.mkdtemp(prefix="ql-screenshots-")
)
PASSWORD = "correct horse battery staple"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _browser_missing_reason() -> str | None:
    if not os.path.exists(CHROMIUM):
        return f"{CHROMIUM} is missing (install Debian's chromium: apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed"
    return None


@pytest.fixture
def page(live_server, broker, monkeypatch):
    reason = _browser_missing_reason()
    if reason:
        if os.environ.get("QUEUELOOP_REQUIRE_BROWSER") == "1":
            pytest.fail(f"QUEUELOOP_REQUIRE_BROWSER=1 but {reason}")
        print(f"\nSKIPPING browser tests: {reason}")
        pytest.skip(reason)
    # Playwright's sync API runs an event loop in this thread; our own ORM calls between
    # browser steps are ordinary synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
        context.set_default_timeout(15_000)
        page = context.new_page()
        page.base_url = live_server.url
        yield page
        context.close()
        browser.close()
        # ORM calls made while Playwright's loop ran got their own connection: close it,
        # or the test database cannot be dropped at the end of the run.
        connections.close_all()


@pytest.fixture
def demo():
    """A workspace that looks lived in: channels, a queue, history, a problem or two."""
    user = UserFactory(username="maria")
    workspace = WorkspaceFactory(name="Acme Marketing")
    MembershipFactory(user=user, workspace=workspace, role=Membership.Role.OWNER)
    MembershipFactory(user=user, workspace=WorkspaceFactory(name="Side project"))
    tech = ChannelFactory(
        workspace=workspace, name="#tech", slug="tech", timezone="Europe/Berlin", with_sandbox=False
    )
    news = ChannelFactory(
        workspace=workspace, name="#news", slug="news", timezone="America/New_York"
    )
    blog = SocialAccountFactory(workspace=workspace, handle="acme_blog")
    tech.accounts.add(blog, SocialAccountFactory(workspace=workspace, handle="acme_dev"))
    texts = [
        "5 keyboard shortcuts that will save you an hour a week. Number 3 is our favourite.",
        "New on the blog: how we cut our CI time in half with test sharding.",
        "Reminder: our office hours are every Thursday. Bring your questions!",
        "Did you know? You can pin any post to an exact time in Queue Loop.",
    ]
    posts = []
    for i, text in enumerate(texts):
        post = PostFactory(workspace=workspace, text=text, author=user)
        QueueEntryFactory(channel=tech, post=post, position=i)
        posts.append(post)
    VariationFactory(post=posts[0], text="Save an hour a week with these 5 keyboard shortcuts.")
    QueueEntryFactory(channel=news, post=posts[1])
    now = timezone.now().replace(second=0, microsecond=0)
    for hours, status in [(3, "published"), (27, "published"), (51, "failed")]:
        slot = TimeslotFactory(
            channel=tech,
            schedule=None,
            post=posts[2],
            publish_at=now - dt.timedelta(hours=hours),
            status=status,
            published_post=posts[2],
            published_text=posts[2].text,
            reason="" if status == "published" else "@acme_dev: Failed — rate limited too long",
        )
        DeliveryFactory(
            timeslot=slot,
            account=blog,
            post=posts[2],
            status="sent",
            url=f"/sandbox/{blog.id}/",
        )
    NoticeFactory(
        workspace=workspace,
        kind="queue_empty",
        message="#news will run out of posts soon: add a few to its queue.",
    )
    return {"user": user, "workspace": workspace, "tech": tech, "news": news}


def login(page, username: str, screenshot: bool = False) -> None:
    page.goto(page.base_url + "/login/")
    if screenshot:
        page.screenshot(path=str(SCREENSHOTS / "login.png"))
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(page.base_url + "/")


def counter_text(page, slot: str = "#count-text") -> str:
    return page.inner_text(f"{slot} .counter")


def test_login_compose_with_live_counter_schedule_and_upcoming(page, demo):
    tech = demo["tech"]

    # --- Log in; the dashboard shows the workspace -----------------------------------
    login(page, "maria", screenshot=True)
    assert "Dashboard" in page.inner_text("h1")
    assert "Acme Marketing" in page.inner_text(".topbar")

    # --- Compose: the counter follows typing, then the server's exact count lands ----
    page.goto(page.base_url + "/posts/new/")
    assert counter_text(page) == "0/280"
    page.click("#id_text")
    page.keyboard.type("Hello from Queue Loop ")
    assert counter_text(page) == "22/280"  # client-side, on every keystroke
    page.keyboard.type("https://example.com/some/long/path →")  # → weighs 2
    # Then, when typing pauses, htmx swaps in the server's exact twitter-text count.
    page.wait_for_selector("#count-text .counter[data-exact]")
    page.wait_for_function(
        "document.querySelector('#count-text .counter').textContent.trim() === '48/280'"
    )
    # Over the limit turns the counter red.
    page.fill("#variation-1", "x" * 290)
    page.dispatch_event("#variation-1", "input")
    page.dispatch_event("#variation-1", "keyup")
    page.wait_for_function(
        "document.querySelector('#count-var-1 .counter').classList.contains('over')"
    )
    assert counter_text(page, "#count-var-1") == "290/280"
    page.fill("#variation-1", "Hello again, reworded for the next loop")
    page.dispatch_event("#variation-1", "input")
    page.check(f"input[name=channels][value='{tech.id}']")
    assert page.inner_text("#pin-zone") == "Europe/Berlin"
    page.screenshot(path=str(SCREENSHOTS / "compose.png"), full_page=True)
    page.click("button[value=save]")
    page.wait_for_url(page.base_url + "/posts/")
    assert "Saved and queued in #tech" in page.inner_text(".messages")
    page.screenshot(path=str(SCREENSHOTS / "posts.png"))
    post = Post.objects.get(text__startswith="Hello from Queue Loop")
    assert post.texts()[1] == "Hello again, reworded for the next loop"

    # --- Add a schedule with the rule editor ------------------------------------------
    page.goto(page.base_url + f"/channels/{tech.id}/")
    page.click("text=+ Add schedule")
    page.wait_for_selector("#schedule-form")
    page.fill("#id_name", "Work hours")
    page.click("label.seg:has-text('Every N minutes')")
    assert page.is_hidden("#id_times") and page.is_visible("#id_interval")
    page.fill("#id_interval", "20")
    page.wait_for_function(
        "document.querySelector('#rule-preview').textContent.includes('FREQ=MINUTELY;INTERVAL=20')"
    )
    # Switch to the weekday editor: the preview explains it in words.
    page.click("label.seg:has-text('Every day')")
    page.fill("#id_times", "09:00, 14:30")
    page.wait_for_function(
        "document.querySelector('#rule-preview').textContent.includes('at 09:00, 14:30')"
        " || document.querySelector('#rule-preview').textContent.includes('at 09:00')"
    )
    # A frequent rule too, so slots are planned right away (within the planner's window).
    page.click("label.seg:has-text('Every N minutes')")
    page.fill("#id_interval", "30")
    page.wait_for_function(
        "document.querySelector('#rule-preview').textContent.includes('INTERVAL=30')"
    )
    page.screenshot(path=str(SCREENSHOTS / "schedule.png"))
    page.click("button:has-text('Save schedule')")
    page.wait_for_url(re.compile(rf".*/channels/{tech.id}/$"))
    assert "Schedule “Work hours” saved" in page.inner_text(".messages")
    schedule = Schedule.objects.get(channel=tech, name="Work hours")
    assert Timeslot.objects.filter(schedule=schedule, status="scheduled").count() >= 2

    # A second schedule in the simple editor, read in words on the channel page.
    page.click("text=+ Add schedule")
    page.fill("#id_name", "Weekday lunch")
    page.click("label.seg:has-text('Weekdays')")
    page.fill("#id_times", "12:15")
    page.click("button:has-text('Save schedule')")
    page.wait_for_url(re.compile(rf".*/channels/{tech.id}/$"))
    assert "Weekday lunch" in page.inner_text("#schedules")
    assert "Monday, Tuesday, Wednesday, Thursday, Friday at 12:15" in page.inner_text("#schedules")

    # --- Upcoming slots, each with the post it will take ------------------------------
    upcoming = page.inner_text("#upcoming")
    rows = page.query_selector_all("#upcoming li.slot")
    assert len(rows) >= 5
    assert "5 keyboard shortcuts" in upcoming  # never published, first in the queue
    assert "CET" in upcoming or "CEST" in upcoming  # channel zone, not UTC
    assert page.query_selector("#upcoming .slot-actions")  # move / cancel on planned slots

    # Reorder the queue with htmx: the last post moves up one place, without a reload.
    last = tech.entries.order_by("-position", "-id").first().post.text[:30]
    page.evaluate("window.notReloaded = true")
    page.click("#queue li.queue-item:last-child button[value=up]")
    page.wait_for_function(
        "text => { const items = document.querySelectorAll('#queue li.queue-item');"
        " return items[items.length - 2].innerText.includes(text); }",
        arg=last,
    )
    assert page.evaluate("window.notReloaded") is True
    # ...and the upcoming list follows: the 4th queue slot now takes the moved post.
    page.wait_for_function(
        "text => document.querySelectorAll('#upcoming li.slot')[3].innerText.includes(text)",
        arg=last,
    )
    assert tech.entries.order_by("-position", "-id").first().post.text[:30] != last
    page.screenshot(path=str(SCREENSHOTS / "channel.png"), full_page=True)

    # --- The dashboard and the calendar show the coming slots -------------------------
    page.goto(page.base_url + "/")
    assert page.query_selector_all("li.slot")
    assert "#news will run out of posts soon" in page.inner_text("#problems")
    page.screenshot(path=str(SCREENSHOTS / "dashboard.png"), full_page=True)
    page.goto(page.base_url + "/calendar/")
    assert page.query_selector_all(".cal-slot")
    page.screenshot(path=str(SCREENSHOTS / "calendar.png"), full_page=False)
    page.goto(page.base_url + "/accounts/")
    page.screenshot(path=str(SCREENSHOTS / "accounts.png"), full_page=True)

    # Dismissing a notice (htmx) removes it.
    page.goto(page.base_url + "/")
    page.click("#notices button:has-text('Dismiss')")
    page.wait_for_selector("text=#news will run out of posts soon", state="detached")


def test_viewer_sees_no_edit_controls(page, demo):
    viewer = UserFactory(username="victor")
    MembershipFactory(user=viewer, workspace=demo["workspace"], role=Membership.Role.VIEWER)
    login(page, "victor")
    page.goto(page.base_url + f"/channels/{demo['tech'].id}/")
    assert "you can look, not change" in page.inner_text(".readonly-note")
    assert not page.query_selector("text=+ Add schedule")
    assert not page.query_selector("#queue button")
    assert Channel.objects.filter(id=demo["tech"].id, is_paused=False).exists()
