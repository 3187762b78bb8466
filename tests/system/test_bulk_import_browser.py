"""The import in a real browser: Posts → Import CSV → preview with a refused line →
confirm → the progress bar follows the workers (htmx polling) → the report."""

from __future__ import annotations

import pytest

from accounts.models import Membership
from bulk import imports
from bulk.models import ImportJob
from posts.models import Post
from tests.factories import ChannelFactory, MembershipFactory, UserFactory
from tests.system.test_web_ui_browser import login, page  # noqa: F401  (the browser fixture)

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CSV = b"text,channels\nFirst imported post,tech\nNowhere,no-such-channel\nSecond one,tech\n"


def test_upload_preview_confirm_progress_report(page):  # noqa: F811
    user = UserFactory(username="importer")
    member = MembershipFactory(user=user, role=Membership.Role.OWNER)
    ChannelFactory(workspace=member.workspace, name="#tech", slug="tech")

    login(page, "importer")
    page.goto(page.base_url + "/posts/")
    page.get_by_role("link", name="Import CSV").click()
    page.get_by_label("CSV file").set_input_files(
        {"name": "posts.csv", "mimeType": "text/csv", "buffer": CSV}
    )
    page.get_by_role("button", name="Check the file").click()

    expect(page.locator("#line-3")).to_contain_text("Unknown channel(s): no-such-channel.")
    assert Post.objects.count() == 0
    page.get_by_role("button", name="Import 2 posts").click()

    bar = page.get_by_role("progressbar")
    expect(bar).to_have_attribute("aria-valuenow", "0")
    expect(bar).to_have_attribute("aria-valuemax", "2")
    # The worker's part, done here: the page was loaded before and only polls.
    job = ImportJob.objects.get()
    imports.import_chunk_run(job_id=job.id, first_line=2, last_line=4)
    expect(page.locator("#import-progress .progress-text")).to_contain_text(
        "Done: 2 posts imported, 1 row not imported."
    )
    expect(page.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "2")
    # The live region says it once, outside the swapped block.
    expect(page.locator("#import-announce")).to_have_text(
        "Import done: 2 post(s) imported, 1 row(s) not imported."
    )
    expect(page.locator("#line-3")).to_be_visible()
    assert sorted(Post.objects.values_list("text", flat=True)) == [
        "First imported post",
        "Second one",
    ]
