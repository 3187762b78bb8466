"""Links that count clicks, in a real browser (issue 31): a sandbox post of a channel that
counts clicks is published through the publishing services; the browser follows its short
link from the sandbox timeline, lands on the original page (served by the test's own live
server: loopback only) with the UTM parameters, and the post's page shows 1 click.

Needs Debian's Chromium at /usr/bin/chromium, like tests/system/test_web_ui_browser.py.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from accounts.models import Membership
from links.models import ClickDay
from publishing import services as publishing
from publishing.models import Delivery
from tests.factories import ChannelFactory, MembershipFactory, PostFactory, UserFactory
from tests.publishing.slots import due_slot
from tests.system.test_web_ui_browser import login, page  # noqa: F401 (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_short_link_from_the_timeline_lands_on_the_original_and_counts_one_click(
    page,  # noqa: F811
    live_server,
    settings,
):
    settings.PUBLIC_BASE_URL = live_server.url
    user = UserFactory(username="maria")
    membership = MembershipFactory(user=user, role=Membership.Role.OWNER)
    channel = ChannelFactory(
        workspace=membership.workspace, name="#tech", slug="tech", count_clicks=True
    )
    account = channel.accounts.get()
    # The original: a page of the test's own server (never an external address).
    original = f"{live_server.url}/healthz?from=post"
    post = PostFactory(workspace=membership.workspace, text=f"Our status page: {original}.")
    now = timezone.now()
    slot = due_slot(channel, now, post=post)
    publishing.timeslots_publish(pairs=[(slot.id, str(slot.token))], now=now)
    delivery = Delivery.objects.get(timeslot=slot)
    publishing.deliveries_send(delivery_ids=[delivery.id], now=now)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SENT
    code = delivery.short_links.get().code

    login(page, "maria")
    page.goto(f"{page.base_url}/sandbox/{account.id}/")
    link = page.locator("#timeline a", has_text=f"/l/{code}")
    assert link.count() == 1
    link.click()
    page.wait_for_url(f"{live_server.url}/healthz?**")

    landed = urlsplit(page.url)
    assert f"{landed.scheme}://{landed.netloc}{landed.path}" == f"{live_server.url}/healthz"
    assert parse_qs(landed.query) == {
        "from": ["post"],
        "utm_source": ["sandbox"],
        "utm_medium": ["social"],
        "utm_campaign": ["tech"],
        "utm_content": [str(post.id)],
    }
    assert ClickDay.objects.get().count == 1

    page.goto(f"{page.base_url}/posts/{post.id}/")
    assert page.inner_text(f"#clicks-{delivery.id} .clicks") == "1"
