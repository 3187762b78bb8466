"""In a real browser: add two images to a post with the file picker, give them alt text,
publish to the sandbox and see them on its timeline; the Accounts page offers Mastodon and
Bluesky. Screenshots land next to test_web_ui_browser.py's."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from networks import get_provider
from tests.posts.test_images import make_delivery
from tests.system.test_web_ui_browser import SCREENSHOTS, demo, login, page  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def image_file(tmp_path, name: str, colour: tuple[int, int, int], fmt: str) -> str:
    path = tmp_path / name
    out = io.BytesIO()
    Image.new("RGB", (480, 270), colour).save(out, format=fmt)
    path.write_bytes(out.getvalue())
    return str(path)


def test_two_images_with_alt_text_reach_the_sandbox_timeline(page, demo, tmp_path, worker):  # noqa: F811
    login(page, "maria")
    post = demo["tech"].entries.order_by("position").first().post
    account = demo["tech"].accounts.get(handle="acme_blog")
    page.goto(f"{page.base_url}/posts/{post.id}/")
    page.click("text=Images (0)")
    page.set_input_files(
        "#images-input",
        [
            image_file(tmp_path, "sunrise.jpg", (250, 160, 60), "JPEG"),
            image_file(tmp_path, "sea.png", (40, 110, 200), "PNG"),
        ],
    )
    page.click("button:has-text('Upload')")
    page.wait_for_selector("text=Added 2 image(s).")
    # The worker re-encodes them; the page polls until each shows its picture.
    page.wait_for_function("document.querySelectorAll('section.card img').length === 2")
    assert page.locator("text=is being processed").count() == 0
    assert page.locator("text=has no alt text").count() == 1  # the warning the user sees
    alts = page.locator("textarea[name=alt_text]")
    alts.nth(0).fill("An orange sunrise")
    page.locator("button:has-text('Save alt text')").nth(0).click()
    page.wait_for_selector("text=Alt text of image 1 saved.")
    page.locator("textarea[name=alt_text]").nth(1).fill("A calm blue sea")
    page.locator("button:has-text('Save alt text')").nth(1).click()
    page.wait_for_selector("text=Alt text of image 2 saved.")
    assert page.locator("text=has no alt text").count() == 0
    page.screenshot(path=str(SCREENSHOTS / "post-images.png"), full_page=True)

    get_provider("sandbox").publish(make_delivery(account, post))
    page.goto(f"{page.base_url}/sandbox/{account.id}/")
    images = page.locator(".tweet-images img")
    assert [images.nth(i).get_attribute("alt") for i in range(2)] == [
        "An orange sunrise",
        "A calm blue sea",
    ]
    # Loaded (or failed: a broken image is complete too), then each has real pixels.
    page.wait_for_function("[...document.images].every(i => i.complete)")
    assert page.evaluate("[...document.images].every(i => i.naturalWidth > 0)")
    page.screenshot(path=str(SCREENSHOTS / "sandbox-images.png"), full_page=True)

    page.goto(f"{page.base_url}/accounts/")
    page.wait_for_selector("text=Connect Mastodon")
    page.screenshot(path=str(SCREENSHOTS / "accounts-networks.png"), full_page=True)
    page.click("a:has-text('Connect Bluesky')")
    page.wait_for_selector("text=Never enter your main Bluesky password here.")
    page.screenshot(path=str(SCREENSHOTS / "connect-bluesky.png"), full_page=True)
