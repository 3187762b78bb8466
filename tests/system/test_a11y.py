"""Accessibility and the phone layout, measured in a real browser on the demo workspace.

- axe-core (shipped by axe-playwright-python) checks every main page against the WCAG 2.0/2.1
  A and AA rules at 1280 px and at 375 px, logged in with `seed_demo`'s data plus some
  history (published, failed and projected slots, deliveries, a notice, a sandbox timeline).
  The test prints violations per page and fails on any.
- At 375 px no page scrolls sideways (`scrollWidth <= innerWidth`); a screenshot of each
  page is kept (QUEUELOOP_SCREENSHOT_DIR, else a temporary folder whose path is printed).
- A keyboard-only run: log in, compose a post into a queue, reorder the queue, move a
  slot, pause the channel, with Tab/Shift-Tab/Enter/Space/arrow keys and typing only.

Needs Debian's Chromium at /usr/bin/chromium, like tests/system/test_web_ui_browser.py.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connections
from django.utils import timezone

from accounts.models import Membership, Notice, SocialAccount, Workspace
from channels.models import Channel
from ops.management.commands.seed_demo import DEFAULT_DEMO_PASSWORD
from posts.models import Post
from publishing.models import Delivery, SandboxPost
from scheduling.models import Schedule, Timeslot
from scheduling.services import timeslot_pin

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(
    os.environ.get("QUEUELOOP_SCREENSHOT_DIR") or tempfile.mkdtemp(prefix="ql-a11y-")
)
# The WCAG 2.0 and 2.1 success criteria at levels A and AA; axe's "best-practice" and
# WCAG 2.2 rules are not part of the promise (README, Accessibility).
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 812}

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _browser_missing_reason() -> str | None:
    if not os.path.exists(CHROMIUM):
        return f"{CHROMIUM} is missing (install Debian's chromium: apt-get install -y chromium)"
    try:
        import axe_playwright_python  # noqa: F401
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"{exc.name} is not installed (pip install -r requirements-dev.txt)"
    return None


@pytest.fixture
def browser(live_server, broker, monkeypatch):
    reason = _browser_missing_reason()
    if reason:
        if os.environ.get("QUEUELOOP_REQUIRE_BROWSER") == "1":
            pytest.fail(f"QUEUELOOP_REQUIRE_BROWSER=1 but {reason}")
        print(f"\nSKIPPING browser tests: {reason}")
        pytest.skip(reason)
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        browser.base_url = live_server.url
        yield browser
        browser.close()
        connections.close_all()


def new_page(browser, viewport: dict):
    context = browser.new_context(viewport=viewport, locale="en-US", timezone_id="UTC")
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.base_url = browser.base_url
    return page


@pytest.fixture
def demo():
    """`make run`'s demo workspace, plus the history a few days of running leave behind."""
    call_command("seed_demo", verbosity=0)
    workspace = Workspace.objects.get(slug="demo")
    # The demo's busy channel (every 10 minutes): it has planned slots to move at any hour.
    tech = Channel.objects.get(workspace=workspace, slug="demo-live")
    news = Channel.objects.get(workspace=workspace, slug="news")
    account = SocialAccount.objects.get(workspace=workspace, handle="ql_live")
    posts = list(Post.objects.filter(workspace=workspace).order_by("id"))
    schedule = Schedule.objects.get(channel=tech)
    now = timezone.now().replace(second=0, microsecond=0)
    for hours, status, reason in [
        (2, Timeslot.Status.PUBLISHED, ""),
        (5, Timeslot.Status.PUBLISHED, ""),
        (26, Timeslot.Status.FAILED, "@queueloop_demo: Failed — rate limited too long"),
        (30, Timeslot.Status.MISSED, "The planner was down: 31 minutes late"),
    ]:
        post = posts[hours % len(posts)]
        when = now - dt.timedelta(hours=hours, minutes=now.minute % 5)
        slot = Timeslot.objects.create(
            channel=tech,
            schedule=schedule,
            publish_at=when,
            planned_for=when,
            status=status,
            reason=reason,
            published_post=post if status == Timeslot.Status.PUBLISHED else None,
            published_text=post.text if status == Timeslot.Status.PUBLISHED else "",
        )
        if status == Timeslot.Status.MISSED:
            continue
        sent = status == Timeslot.Status.PUBLISHED
        delivery = Delivery.objects.create(
            timeslot=slot,
            account=account,
            post=post,
            text=post.text,
            status=Delivery.Status.SENT if sent else Delivery.Status.FAILED,
            url=f"/sandbox/{account.id}/" if sent else "",
            last_error="" if sent else "rate limited too long",
            attempts=1,
            sent_at=slot.publish_at if sent else None,
        )
        if sent:
            row = SandboxPost.objects.create(account=account, delivery=delivery, text=post.text)
            # As the sandbox network records it (networks/sandbox.py): its results can be read.
            Delivery.objects.filter(id=delivery.id).update(external_id=f"sandbox-{row.id}")
    Notice.objects.create(
        workspace=workspace,
        kind=Notice.Kind.QUEUE_EMPTY,
        message="#news will run out of posts soon: add a few to its queue.",
    )
    # An import waiting for confirmation (with a refused line), one finished, and a feed.
    from bulk import imports
    from bulk.models import ChannelFeed

    data = b"text,channels\nFrom the CSV,tech\nNowhere,no-such-channel\n"
    preview = imports.import_preview(workspace=workspace, user=None, filename="a.csv", data=data)
    finished = imports.import_preview(workspace=workspace, user=None, filename="b.csv", data=data)
    imports.import_start(job=finished)
    imports.import_chunk_run(job_id=finished.id, first_line=2, last_line=3)
    ChannelFeed.objects.create(
        channel=tech,
        url="https://blog.example.com/feed.xml",
        last_error="The feed answered HTTP 404.",
    )
    # The sent deliveries' first counts (the sandbox's), for the post's results page.
    from results.collector import metrics_collect

    metrics_collect(now=timezone.now())
    sent_post = posts[2 % len(posts)]
    return {
        "results_post": sent_post,
        "import_preview": preview,
        "import_done": finished,
        "workspace": workspace,
        "tech": tech,
        "news": news,
        "account": account,
        "schedule": schedule,
        "post": posts[0],
        # The furthest planned slot: still movable while the walk reaches its panel.
        "slot": Timeslot.objects.filter(channel=tech, status=Timeslot.Status.SCHEDULED)
        .order_by("-publish_at")
        .first(),
    }


# Pages before the login (the walk logs in when it reaches the dashboard).
LOGGED_OUT = [
    ("login", "/login/"),
    ("password reset", "/password-reset/"),
    ("login unlock", "/login/unlock/"),
]
# Logged out too, with a link made for the run (an invitee creating their login).
INVITATION = "invitation"


def invitation_page(demo) -> tuple[str, str]:
    from accounts import members

    owner = Membership.objects.filter(workspace=demo["tech"].workspace, role="owner").first()
    invitation = members.invitation_create(
        actor=owner.user, workspace=owner.workspace, email="invitee@example.com", role="editor"
    )
    return (INVITATION, f"/invite/{members.invitation_token(invitation)}/")


def main_pages(demo) -> list[tuple[str, str]]:
    """Every main page a marketer uses, logged in (the login page is checked logged out)."""
    tech = demo["tech"]
    return [
        ("dashboard", "/"),
        ("channels", "/channels/"),
        ("channel", f"/channels/{tech.id}/"),
        ("channel settings", f"/channels/{tech.id}/settings/"),
        ("schedule editor", f"/schedules/{demo['schedule'].id}/"),
        ("new schedule", f"/channels/{tech.id}/schedules/new/"),
        ("posts", "/posts/"),
        ("compose", "/posts/new/"),
        ("edit post", f"/posts/{demo['post'].id}/"),
        ("calendar (week)", "/calendar/?view=week"),
        ("calendar (month)", "/calendar/?view=month"),
        ("calendar (day)", "/calendar/?view=day"),
        ("calendar slot", f"/calendar/slots/t{demo['slot'].id}/"),
        ("accounts", "/accounts/"),
        ("sandbox timeline", f"/sandbox/{demo['account'].id}/"),
        ("profile", "/profile/"),
        ("API tokens", "/settings/tokens/"),
        ("members", "/members/"),
        ("delete channel", f"/channels/{tech.id}/delete/"),
        ("import", "/posts/import/"),
        ("import preview", f"/posts/import/{demo['import_preview'].id}/"),
        ("import report", f"/posts/import/{demo['import_done'].id}/"),
        ("feeds", f"/channels/{tech.id}/feeds/"),
        ("post results", f"/posts/{demo['results_post'].id}/results/"),
        ("results", "/results/"),
        ("channel results", f"/channels/{tech.id}/results/"),
        ("channel audience", f"/channels/{tech.id}/audience/"),
    ]


def login(page) -> None:
    page.goto(page.base_url + "/login/")
    page.fill("#id_username", "demo")
    page.fill("#id_password", DEFAULT_DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(page.base_url + "/")


def axe_violations(page) -> list[dict]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(
        page,
        options={"runOnly": {"type": "tag", "values": WCAG_TAGS}, "resultTypes": ["violations"]},
    )
    return results.response["violations"]


def describe(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        targets = ", ".join(" ".join(n["target"]) for n in v["nodes"][:3])
        lines.append(f"    {v['id']} ({v['impact']}) x{len(v['nodes'])}: {targets}")
    return "\n".join(lines)


def check_page(page) -> dict:
    """axe's WCAG A/AA violations, plus what axe leaves to best practice but we promise:
    one h1, the landmarks, and (on a phone) no sideways scrolling."""
    structure = page.evaluate(
        r"""() => ({
            h1: document.querySelectorAll('h1').length,
            main: document.querySelectorAll('main').length,
            header: document.querySelectorAll('header').length,
            nav: document.querySelectorAll('nav').length,
            skip: !!document.querySelector('a.skip-link[href="#main"]'),
            leaks: /\{[#%]|[#%]\}/.test(document.body.innerText),
            scrollWidth: document.documentElement.scrollWidth,
            innerWidth: window.innerWidth,
            height: document.documentElement.scrollHeight,
        })"""
    )
    return {"violations": axe_violations(page), **structure}


def walk(page, pages, width: int, screenshots: bool = False) -> dict[str, dict]:
    """Visit each page, check it, print one line per page."""
    found = {}
    print(f"\nAt {width} px: axe-core WCAG 2.1 A/AA violations (rules/elements), page size")
    for name, path in pages:
        if name == "dashboard":  # the first page behind the login
            login(page)
        started = time.monotonic()
        page.goto(page.base_url + path)
        found[name] = result = check_page(page)
        result["seconds"] = time.monotonic() - started
        nodes = sum(len(v["nodes"]) for v in result["violations"])
        print(
            f"  {name:<18} {len(result['violations']):>2} / {nodes:<4}"
            f" {result['scrollWidth']:>4} x {result['height']:<5} px  {result['seconds']:.1f} s"
        )
        if result["violations"]:
            print(describe(result["violations"]))
        if screenshots:
            shot = SCREENSHOTS / f"{width}px-{re.sub(r'[^a-z]+', '-', name).strip('-')}.png"
            page.screenshot(path=str(shot), full_page=True)
    if screenshots:
        print(f"  screenshots: {SCREENSHOTS}")
    return found


def assert_accessible(found: dict[str, dict]) -> None:
    failing = {n: [v["id"] for v in r["violations"]] for n, r in found.items() if r["violations"]}
    assert not failing, f"axe WCAG 2.1 A/AA violations: {failing}"
    assert {n: r["h1"] for n, r in found.items() if r["h1"] != 1} == {}, "one h1 per page"
    assert all(r["main"] == 1 and r["skip"] for r in found.values()), "main and a skip link"
    assert not [n for n, r in found.items() if r["leaks"]], "template syntax shown on a page"
    logged_in = {n: r for n, r in found.items() if n not in dict(LOGGED_OUT) and n != INVITATION}
    assert all(r["header"] == 1 and r["nav"] >= 1 for r in logged_in.values()), "header, nav"


def test_every_main_page_passes_axe_at_1280px(browser, demo):
    page = new_page(browser, DESKTOP)
    pages = [*LOGGED_OUT, invitation_page(demo), *main_pages(demo)]
    found = walk(page, pages, DESKTOP["width"])
    assert_accessible(found)


def test_every_main_page_passes_axe_and_fits_a_phone_at_375px(browser, demo):
    """Issue 14 at 375 px, and issue 13's phone layout: no page scrolls sideways."""
    page = new_page(browser, PHONE)
    pages = [*LOGGED_OUT, invitation_page(demo), *main_pages(demo)]
    found = walk(page, pages, PHONE["width"], screenshots=True)
    assert_accessible(found)
    too_wide = {n: r["scrollWidth"] for n, r in found.items() if r["scrollWidth"] > 375}
    assert not too_wide, f"pages that scroll sideways at 375 px: {too_wide}"


# --- Keyboard only ---------------------------------------------------------------------------


def focused(page, selector: str) -> bool:
    return page.evaluate("s => !!document.activeElement?.matches(s)", selector)


def assert_focus_visible(page) -> None:
    """The focused element draws a ring at least 2 px wide (WCAG 2.4.7)."""
    style, width, what = page.evaluate(
        """() => { const el = document.activeElement, cs = getComputedStyle(el);
                   return [cs.outlineStyle, parseFloat(cs.outlineWidth),
                           el.outerHTML.slice(0, 80)]; }"""
    )
    assert style != "none" and width >= 2, f"no visible focus on {what}"


def press_until(page, selector: str, key: str = "Tab", limit: int = 120) -> None:
    """Press Tab (or Shift+Tab) until the element matching selector has the focus."""
    for _ in range(limit):
        page.keyboard.press(key)
        if focused(page, selector):
            assert_focus_visible(page)
            return
    raise AssertionError(f"{key} never reached {selector}")


def test_keyboard_only_compose_queue_reorder_move_and_pause(browser, demo):
    """Log in, compose into a queue, reorder it, move a slot, pause the channel: keys only.

    "Move a calendar slot" uses the slot's Move form on the channel page; moving one in the
    calendar itself (Space, arrows, Enter) is tests/system/test_calendar_browser.py's."""
    tech = demo["tech"]
    page = new_page(browser, DESKTOP)
    page.goto(page.base_url + "/login/")

    # Log in: the username field has the focus; Tab to the password; Enter submits.
    assert focused(page, "#id_username")
    page.keyboard.type("demo")
    page.keyboard.press("Tab")
    page.keyboard.type(DEFAULT_DEMO_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(page.base_url + "/")

    # The first Tab reaches the skip link, visible; Enter jumps to the content.
    page.keyboard.press("Tab")
    assert focused(page, "a.skip-link")
    assert_focus_visible(page)
    assert page.evaluate("document.activeElement.getBoundingClientRect().top >= 0")
    page.keyboard.press("Enter")
    assert focused(page, "main#main")
    # Dismiss the notice: the focus goes to the Problems section, the change is announced.
    press_until(page, "#notices button")
    page.keyboard.press("Enter")
    page.wait_for_function(
        "document.querySelector('#announcer').textContent === 'Notice dismissed.'"
    )
    assert focused(page, "section#problems")
    assert not Notice.objects.filter(workspace=demo["workspace"], dismissed_at=None).exists()
    # Back up (Shift+Tab) into the top bar to "+ New post".
    press_until(page, "header a[href='/posts/new/']", key="Shift+Tab")
    page.keyboard.press("Enter")
    page.wait_for_url(page.base_url + "/posts/new/")

    # Compose: type, tick #tech with Space, Enter on "Add to queue".
    press_until(page, "#id_text")
    text = "Keyboard-only users schedule posts too."
    page.keyboard.type(text)
    # The polite live region says the count once typing pauses (not per keystroke).
    page.wait_for_function(
        "document.querySelector('#count-text-live').textContent === '39 of 280 characters'"
    )
    press_until(page, f"input[name=channels][value='{tech.id}']")
    page.keyboard.press("Space")
    assert page.is_checked(f"input[name=channels][value='{tech.id}']")
    press_until(page, "button[value=save]")
    page.keyboard.press("Enter")
    page.wait_for_url(page.base_url + "/posts/")
    entry = tech.entries.get(post__text=text)
    assert list(tech.entries.order_by("position", "id"))[-1] == entry

    # To the channel: the main navigation, then its card.
    press_until(page, "nav.mainnav a[href='/channels/']")
    page.keyboard.press("Enter")
    page.wait_for_url(page.base_url + "/channels/")
    press_until(page, f"a.channel-card[href='/channels/{tech.id}/']")
    page.keyboard.press("Enter")
    page.wait_for_url(page.base_url + f"/channels/{tech.id}/")

    # Reorder: Enter on "Move up"; the swap keeps the focus there and says where it went.
    total = tech.entries.filter(is_active=True).count()
    press_until(page, f"#entry-{entry.id} button[value=up]")
    page.keyboard.press("Enter")
    page.wait_for_function(
        "n => document.querySelector('#announcer').textContent.includes(`number ${n} of`)",
        arg=total - 1,
    )
    assert focused(page, f"#entry-{entry.id} button[value=up]")
    # Alt+ArrowUp moves the focused post again.
    page.keyboard.press("Alt+ArrowUp")
    page.wait_for_function(
        "n => document.querySelector('#announcer').textContent.includes(`number ${n} of`)",
        arg=total - 2,
    )
    assert focused(page, f"#entry-{entry.id} button")
    queue = list(tech.entries.filter(is_active=True).order_by("position", "id"))
    assert queue.index(tech.entries.get(id=entry.id)) == total - 3

    # Move a slot one minute later: Shift+Tab up to its Move control, Enter opens it, Tab
    # into the date field, arrow keys change the minute, Enter submits. (A day later would
    # land on the schedule's own slot of the next day: refused, a channel's slots are at
    # least CHANNEL_MIN_INTERVAL apart.)
    slot = Timeslot.objects.filter(channel=tech, status="scheduled").order_by("publish_at")[2]
    press_until(page, f"#slot-{slot.id} details.move summary", key="Shift+Tab")
    page.keyboard.press("Enter")
    press_until(page, f"#slot-{slot.id} input[name=publish_at]")
    before = page.input_value(f"#slot-{slot.id} input[name=publish_at]")
    # Chromium's date field for en-US: month / day / year / hour / minute; four → reach the
    # minute (the demo's slots are at :05, :15 ... :55, so +1 never wraps the hour).
    for _ in range(4):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowUp")
    after = page.input_value(f"#slot-{slot.id} input[name=publish_at]")
    assert after != before
    page.keyboard.press("Enter")
    page.wait_for_url(page.base_url + f"/channels/{tech.id}/#upcoming")
    slot.refresh_from_db()
    assert slot.detached
    assert slot.publish_at.astimezone(tech.tz).strftime("%Y-%m-%dT%H:%M") == after

    # Move a calendar slot: the main navigation to the calendar, Tab to the slot, Space picks
    # it up, ArrowDown takes it an hour later, Enter drops it there.
    when = (timezone.now() + dt.timedelta(days=1)).replace(
        hour=3, minute=2, second=0, microsecond=0
    )
    pinned = timeslot_pin(post=entry.post, channel=tech, publish_at=when)
    press_until(page, "nav.mainnav a[href='/calendar/']", key="Shift+Tab")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/calendar/.*"))
    if not page.locator(f'.cal-slot[data-key="t{pinned.id}"]').count():
        press_until(page, "a[rel=next]")  # tomorrow is in next week
        page.keyboard.press("Enter")
        page.wait_for_selector(f'.cal-slot[data-key="t{pinned.id}"]')
    press_until(page, f'.cal-slot[data-key="t{pinned.id}"]', limit=600)
    page.keyboard.press("Space")
    page.wait_for_function("document.querySelector('#announcer').textContent.includes('Picked up')")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.wait_for_selector(".messages .msg-success")
    pinned.refresh_from_db()
    assert pinned.publish_at == when + dt.timedelta(hours=1)
    # Back to the channel by the main navigation.
    press_until(page, "nav.mainnav a[href='/channels/']", key="Shift+Tab")
    page.keyboard.press("Enter")
    page.wait_for_url(page.base_url + "/channels/")
    press_until(page, f"a.channel-card[href='/channels/{tech.id}/']")
    page.keyboard.press("Enter")
    page.wait_for_url(page.base_url + f"/channels/{tech.id}/")

    # Pause the channel: Tab to "Pause", Space presses it.
    press_until(page, "form.pause-form button")
    page.keyboard.press("Space")
    page.wait_for_selector("form.pause-form button:has-text('Resume')")
    tech.refresh_from_db()
    assert tech.is_paused

    # A form that comes back with an error puts the focus on the field to fix, marked
    # invalid and described by the error text.
    page.goto(page.base_url + "/channels/new/")
    press_until(page, "#id_name")
    page.keyboard.type("   ")  # passes the browser's `required`, not the server's
    page.keyboard.press("Enter")
    page.wait_for_selector("#id_name_error")
    assert focused(page, "#id_name[aria-invalid='true']")
    assert "id_name_error" in page.get_attribute("#id_name", "aria-describedby").split()
    assert "required" in page.inner_text("#id_name_error")
