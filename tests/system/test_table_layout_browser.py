"""Tables lay out with long content, at a desktop width and on a phone.

A failed delivery carrying a 300-character error, a 280-character post and 12 accounts
(each with a long last error and a channel) on the dashboard, the accounts page (with its
"Deliveries that need you" problems panel), a channel page and the import preview: no
page scrolls sideways, no cell holding more than 40 characters is squeezed to a word per
line (narrower than 160 px), no table runs past its card. Screenshots go to
artifacts/table-layout/ (gitignored) so a person can look at them.

Needs Debian's Chromium at /usr/bin/chromium, like tests/system/test_web_ui_browser.py.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.utils import timezone

from accounts.models import Membership
from tests.factories import (
    ChannelFactory,
    DeliveryFactory,
    MembershipFactory,
    PostFactory,
    SocialAccountFactory,
    TimeslotFactory,
    UserFactory,
    WorkspaceFactory,
)
from tests.system.test_a11y import browser  # noqa: F401 (the browser fixture)

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "table-layout"
PASSWORD = "correct horse battery staple"
WIDTHS = [1280, 375]

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# A real failure's shape: a network's long JSON answer, with few spaces to break at.
LONG_ERROR = (
    "HTTP 403 from https://api.example.social/2/tweets: "
    + '{"detail":"You are not permitted to perform this action.","type":"about:blank",'
    + '"title":"Forbidden","status":403,"reason":"client-not-enrolled","registration_url":'
    + '"https://developer.example.social/en/portal/product/enrolment/projects/apps/'
    + "keys-and-tokens/regenerate-your-access-tokens-because-this-one-expired-long-ago"
)
LONG_ERROR = (LONG_ERROR + "x" * 300)[:300]
LONG_TEXT = (
    "Our spring release is here: a calendar that finally shows the whole week at once, "
    "threads you can rearrange by dragging, alt text on every image, and a queue that "
    "refills itself from your blog's feed. Read the notes and tell us what you think: "
    "https://blog.example.com/releases/2027-spring-edition-notes"
)
LONG_TEXT = (LONG_TEXT + " more" * 60)[:280]


@pytest.fixture
def crowded():
    """A workspace after a bad day: a long failure, a long post, a dozen accounts."""
    user = UserFactory(username="maria")
    workspace = WorkspaceFactory(name="Acme Marketing")
    MembershipFactory(user=user, workspace=workspace, role=Membership.Role.OWNER)
    channel = ChannelFactory(
        workspace=workspace, name="#product-announcements", slug="product", with_sandbox=False
    )
    accounts = []
    for i in range(12):
        account = SocialAccountFactory(
            workspace=workspace,
            handle=f"acme_regional_team_{i:02d}",
            status="needs_reconnect" if i % 3 == 0 else "active",
            last_error=LONG_ERROR if i % 2 == 0 else "",
            last_checked_at=timezone.now() - dt.timedelta(hours=i),
        )
        accounts.append(account)
    channel.accounts.add(*accounts)
    post = PostFactory(workspace=workspace, text=LONG_TEXT, author=user)
    now = timezone.now().replace(second=0, microsecond=0)
    for hours, status in [(2, "failed"), (5, "published"), (9, "failed")]:
        slot = TimeslotFactory(
            channel=channel,
            schedule=None,
            post=post,
            publish_at=now - dt.timedelta(hours=hours),
            status=status,
            published_post=post,
            published_text=LONG_TEXT,
            reason="" if status == "published" else f"@acme_regional_team_00: {LONG_ERROR}",
        )
        for account in accounts[:3]:
            DeliveryFactory(
                timeslot=slot,
                account=account,
                post=post,
                text=LONG_TEXT,
                status="sent" if status == "published" else "failed",
                url="" if status == "failed" else f"/sandbox/{account.id}/",
                last_error=LONG_ERROR if status == "failed" else "",
            )
    return {"channel": channel}


MEASURE = r"""() => {
  const problems = [];
  const scroll = document.scrollingElement.scrollWidth;
  if (scroll > window.innerWidth) problems.push(`page scrolls sideways: ${scroll} px`);
  for (const cell of document.querySelectorAll('main td, main th')) {
    if (!cell.getClientRects().length) continue;
    const text = cell.innerText.trim();
    const width = cell.getBoundingClientRect().width;
    if (text.length > 40 && width < 160) {
      problems.push(`cell ${Math.round(width)} px wide for ${text.length} chars: `
                    + text.slice(0, 40));
    }
  }
  for (const table of document.querySelectorAll('main table')) {
    const card = table.closest('.card') || table.closest('main');
    const box = card.getBoundingClientRect();
    const t = table.getBoundingClientRect();
    if (t.right > box.right + 1 || t.left < box.left - 1) {
      problems.push(`table ${Math.round(t.left)}..${Math.round(t.right)} past its card `
                    + `${Math.round(box.left)}..${Math.round(box.right)}`);
    }
    // Text cut off at a cell's edge with no way to read it: a cell whose content is
    // wider than the cell and that neither scrolls nor offers the full text.
    for (const cell of table.querySelectorAll('td')) {
      if (cell.scrollWidth > cell.clientWidth + 1) {
        problems.push(`cell content cut off: ${cell.innerText.trim().slice(0, 40)}`);
      }
    }
  }
  // Nothing else (a button, a long word) sticks out of its card either.
  for (const card of document.querySelectorAll('main .card')) {
    if (card.scrollWidth > card.clientWidth + 1) {
      problems.push(`card content ${card.scrollWidth} px wide in a ${card.clientWidth} px card`);
    }
  }
  return problems;
}"""


def test_long_errors_texts_and_many_accounts_lay_out_at_desktop_and_phone(browser, crowded):  # noqa: F811
    pages = [
        ("dashboard", "/"),
        ("accounts", "/accounts/"),
        ("channel", f"/channels/{crowded['channel'].id}/"),
    ]
    found = {}
    for width in WIDTHS:
        context = browser.new_context(
            viewport={"width": width, "height": 900}, locale="en-US", timezone_id="UTC"
        )
        context.set_default_timeout(15_000)
        page = context.new_page()
        page.goto(browser.base_url + "/login/")
        page.fill("#id_username", "maria")
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(browser.base_url + "/")
        for name, path in pages:
            page.goto(browser.base_url + path)
            # The long text and error are on the page (in full, on demand), not dropped.
            assert LONG_ERROR[:60] in page.content(), f"{name}: the error is not shown"
            problems = page.evaluate(MEASURE)
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"{width}px-{name}.png"), full_page=True)
            if problems:
                found[f"{name} at {width} px"] = problems[:5]
        context.close()
    print(f"\nscreenshots: {ARTIFACTS}")
    assert not found, found


def test_accounts_table_stacks_labelled_cells_on_a_phone(browser, crowded):  # noqa: F811
    context = browser.new_context(viewport={"width": 375, "height": 900}, locale="en-US")
    page = context.new_page()
    page.goto(browser.base_url + "/login/")
    page.fill("#id_username", "maria")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(browser.base_url + "/")
    page.goto(browser.base_url + "/accounts/")
    # Every column of the first row is inside the viewport, under its column's name.
    cells = page.evaluate(
        """() => [...document.querySelectorAll('.accounts-table tbody tr:first-child td')]
          .map(td => ({label: getComputedStyle(td, '::before').content,
                       right: td.getBoundingClientRect().right}))"""
    )
    # The full error is one click away: the summary opens the rest in place.
    more = page.locator("details.more", has_text="Show all").filter(
        has=page.locator(".more-full", has_text=LONG_ERROR[-40:])
    )
    full = more.first.locator(".more-full")
    assert not full.is_visible()
    more.first.locator("summary").click()
    assert full.is_visible() and full.inner_text() == LONG_ERROR
    context.close()
    labels = [c["label"].strip('"') for c in cells]
    assert {"Channels", "Last check", "Last error"} <= set(labels), labels
    assert all(c["right"] <= 375 for c in cells), cells
