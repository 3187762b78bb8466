"""Problems at once, in a real browser (issue 13): a webhook that fails its first attempt,
sent by a real worker, is on the dashboard right after that one attempt, with "retrying,
next try at …" and the buttons; Give up ends it for good.

Needs Debian's Chromium at /usr/bin/chromium, like tests/system/test_web_ui_browser.py.
"""

from __future__ import annotations

import pytest
from django.utils import timezone

from accounts.models import Membership
from publishing.models import Delivery
from scheduling import services
from scheduling.models import Timeslot
from tests.conftest import wait_for
from tests.factories import (
    ChannelFactory,
    MembershipFactory,
    PostFactory,
    SocialAccountFactory,
    UserFactory,
)
from tests.receiver import Receiver
from tests.system.test_web_ui_browser import login, page  # noqa: F401 (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def failing_hook():
    r = Receiver(status=500).start()
    yield r
    r.stop()


def test_a_failing_webhook_is_on_the_dashboard_after_one_attempt(page, worker, failing_hook):  # noqa: F811
    user = UserFactory(username="maria")
    membership = MembershipFactory(user=user, role=Membership.Role.OWNER)
    channel = ChannelFactory(
        workspace=membership.workspace, name="#tech", timezone="UTC", with_sandbox=False
    )
    account = SocialAccountFactory(
        workspace=membership.workspace,
        provider="webhook",
        handle="hook",
        credentials={"url": failing_hook.url, "secret": "whsec-test-0123456789"},
    )
    channel.accounts.add(account)
    post = PostFactory(workspace=membership.workspace, text="A hook that is down")
    login(page, "maria")
    page.goto(page.base_url + "/")
    assert page.locator("#problem-deliveries").count() == 0

    slot = services.timeslot_pin(post=post, channel=channel, publish_at=timezone.now())
    wait_for(
        lambda: Delivery.objects.filter(timeslot=slot, attempts=1).exclude(last_error="").exists(),
        what="the worker's first attempt to fail",
    )
    assert len(failing_hook.requests) == 1
    delivery = Delivery.objects.get(timeslot=slot)

    page.reload()
    row = page.locator(f"#delivery-{delivery.id}")
    text = row.text_content()
    assert "Retrying" in text
    assert "next try at" in text or "retrying now" in text or "sending now" in text
    assert "The webhook answered 500" in text
    assert "All good" not in page.inner_text("main")

    # Give up is offered while the delivery waits for its next try (not during the try).
    give_up = row.get_by_role("button", name="Give up")

    def offered() -> bool:
        page.reload()
        return give_up.count() == 1

    wait_for(offered, what="the Give up button")
    give_up.click()
    page.wait_for_load_state()
    wait_for(
        lambda: Delivery.objects.get(id=delivery.id).status == Delivery.Status.FAILED,
        what="Give up to fail the delivery",
    )
    assert Timeslot.objects.get(id=slot.id).status == Timeslot.Status.FAILED
