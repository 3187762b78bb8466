"""Members in a real browser (issue 27): an owner invites an editor from the Members page, a
real worker sends the email (read from Django's outbox), the link is opened in the browser,
the editor creates their login and lands in the workspace. The Members page also fits a
375 px screen."""

from __future__ import annotations

import re

import pytest
from django.core import mail

from accounts.models import Membership
from tests.conftest import wait_for
from tests.factories import MembershipFactory, UserFactory, WorkspaceFactory
from tests.system.test_web_ui_browser import PASSWORD, login, page  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_owner_invites_an_editor_who_creates_their_login_and_lands_in_the_workspace(
    page,  # noqa: F811
    worker,
):
    owner = UserFactory(username="olga")
    workspace = WorkspaceFactory(name="Acme Agency")
    MembershipFactory(user=owner, workspace=workspace, role=Membership.Role.OWNER)

    login(page, "olga")
    page.get_by_text("Team").click()  # the team's pages are in the bar's Team menu
    page.get_by_role("navigation", name="Team").get_by_role("link", name="Members").click()
    page.wait_for_url(page.base_url + "/members/")
    page.fill("#id_email", "eddie@example.com")
    page.select_option("#id_role", "editor")
    page.get_by_role("button", name="Send invitation").click()
    page.wait_for_url(page.base_url + "/members/")
    assert "eddie@example.com" in page.inner_text("#pending-h + .table-wrap, .invitations-table")

    # The worker sends it after the request; the outbox is this process's.
    wait_for(lambda: mail.outbox, what="the invitation email")
    (message,) = mail.outbox
    assert message.to == ["eddie@example.com"]
    link = re.search(r"(https?://\S+/invite/\S+/)", message.body).group(1)
    assert link.startswith(page.base_url)

    # The owner's session ends; a fresh visitor opens the link.
    page.context.clear_cookies()
    page.goto(link)
    assert "Join Acme Agency" in page.inner_text("main")
    page.fill("#id_username", "eddie")
    page.fill("#id_password1", "a long passphrase 42")
    page.fill("#id_password2", "a long passphrase 42")
    page.get_by_role("button", name="Create my login and join").click()
    page.wait_for_url(page.base_url + "/")
    assert "Welcome to Acme Agency" in page.inner_text("main")
    membership = Membership.objects.get(user__username="eddie")
    assert membership.workspace_id == workspace.id and membership.role == Membership.Role.EDITOR
    # An editor sees no Members link (owners manage members).
    assert (
        page.get_by_role("navigation", name="Team").get_by_role("link", name="Members").count() == 0
    )


def test_the_members_page_fits_a_375px_screen(page):  # noqa: F811
    owner = UserFactory(username="olga")
    workspace = WorkspaceFactory(name="Acme Agency")
    MembershipFactory(user=owner, workspace=workspace, role=Membership.Role.OWNER)
    for role in ("editor", "approver", "viewer"):
        MembershipFactory(
            workspace=workspace, role=role, user=UserFactory(username=f"a-{role}-member")
        )
    login(page, "olga")
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(page.base_url + "/members/")
    overflow = page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= 375, f"the page is {overflow}px wide at 375px"
    assert page.get_by_role("button", name="Send invitation").is_visible()
    assert page.get_by_label("Role of a-viewer-member").is_visible()
