"""In a real browser, the composer in one page: an image dropped on the drop zone (a
DataTransfer drop event, as a file dragged from the desktop) with its alt text, saved with
the post and processed by the worker; the header counter names the ticked channels'
networks; the preview shows the variations; a pin time turns the button into "Pin at …";
the sandbox timeline shows a thread as its parts and refreshes itself.

Screenshots go to artifacts/compose-images/ (gitignored)."""

from __future__ import annotations

import base64
import datetime as dt
import io
from pathlib import Path

import pytest
from django.utils import timezone
from PIL import Image

from posts.models import Post, PostImage
from publishing.models import SandboxPost
from tests.conftest import wait_for
from tests.posts.test_images import make_delivery
from tests.system.test_web_ui_browser import demo, login, page  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "compose-images"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)


def png_base64() -> str:
    out = io.BytesIO()
    Image.new("RGB", (480, 270), (40, 110, 200)).save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode()


DROP = """([data, name]) => {
    const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
    const transfer = new DataTransfer();
    transfer.items.add(new File([bytes], name, {type: "image/png"}));
    const zone = document.getElementById("drop-zone");
    for (const type of ["dragenter", "dragover", "drop"]) {
        const init = {bubbles: true, cancelable: true, dataTransfer: transfer};
        zone.dispatchEvent(new DragEvent(type, init));
    }
}"""


def test_compose_with_a_dropped_image_and_its_alt_text_in_one_page(page, demo, worker):  # noqa: F811
    tech = demo["tech"]
    login(page, "maria")
    page.goto(page.base_url + "/posts/new/")
    page.fill("#id_text", "A calm blue sea, posted with its picture.")
    page.fill("#variation-1", "The sea again, in blue.")
    page.check(f"input[name=channels][value='{tech.id}']")
    # The header counter names the ticked channels' networks (#tech: two sandbox accounts).
    page.wait_for_function(
        "document.getElementById('count-networks').textContent.includes('Sandbox')"
    )
    # The preview shows the variation too.
    page.wait_for_selector("#network-previews .net-variation >> text=The sea again, in blue.")

    page.evaluate(DROP, [png_base64(), "sea.png"])
    alt = page.locator("#image-alts textarea[name=image_alt]")
    assert alt.count() == 1
    assert page.locator("label[for=image-alt-1]").inner_text().startswith("Alt text for image 1")
    alt.fill("A calm blue sea")
    page.screenshot(path=str(ARTIFACTS / "compose-dropped-image.png"), full_page=True)

    page.click("#save-button")
    page.wait_for_url(page.base_url + "/posts/")
    assert "1 image(s) added" in page.inner_text(".messages")
    post = Post.objects.get(text="A calm blue sea, posted with its picture.")
    assert tech.entries.filter(post=post, is_active=True).exists()
    [image] = PostImage.objects.filter(post=post)
    assert image.alt_text == "A calm blue sea" and image.upload_name == "sea.png"
    wait_for(
        lambda: PostImage.objects.get(id=image.id).status == PostImage.Status.READY,
        what="the worker to process the image",
    )

    # Editing the post shows its image in the composer.
    page.goto(f"{page.base_url}/posts/{post.id}/")
    page.wait_for_function(
        "[...document.querySelectorAll('.compose-image-list img')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    assert page.locator(".compose-image-list img").get_attribute("alt") == "A calm blue sea"
    page.screenshot(path=str(ARTIFACTS / "compose-edit-with-image.png"), full_page=True)


def test_a_file_input_works_for_keyboard_users(page, demo, tmp_path):  # noqa: F811
    login(page, "maria")
    page.goto(page.base_url + "/posts/new/")
    path = tmp_path / "card.png"
    path.write_bytes(base64.b64decode(png_base64()))
    page.set_input_files("#images-input", str(path))
    page.fill("#image-alt-1", "A blue card")
    page.fill("#id_text", "Uploaded with the file input")
    page.click("#save-button")
    page.wait_for_url(page.base_url + "/posts/")
    post = Post.objects.get(text="Uploaded with the file input")
    assert list(post.images.values_list("alt_text", flat=True)) == ["A blue card"]


def test_the_pin_flows_button_says_pin_at(page, demo):  # noqa: F811
    login(page, "maria")
    when = (timezone.now() + dt.timedelta(days=2)).strftime("%Y-%m-%dT10:00")
    page.goto(f"{page.base_url}/posts/new/?pin_at={when}&tz=UTC")
    button = page.locator("#save-button")
    assert button.inner_text().startswith("Pin at ")
    assert "10:00" in button.inner_text()
    page.fill("#id_pin_at", "")
    assert button.inner_text() == "Add to queue"
    page.fill("#id_pin_at", when.replace("T10:00", "T16:30"))
    assert button.inner_text().startswith("Pin at ") and "16:30" in button.inner_text()
    page.screenshot(path=str(ARTIFACTS / "compose-pin-at.png"), full_page=True)


def test_the_sandbox_timeline_shows_a_threads_parts_and_refreshes_itself(page, demo):  # noqa: F811
    from networks import get_provider

    tech = demo["tech"]
    account = tech.accounts.get(handle="acme_blog")
    login(page, "maria")
    page.goto(f"{page.base_url}/sandbox/{account.id}/")
    page.wait_for_selector("text=Nothing published here yet.")
    post = Post.objects.create(
        workspace=demo["workspace"],
        text="A thread, part one.",
        thread_parts=["Part two follows.", "And part three ends it."],
    )
    delivery = make_delivery(account, post)
    delivery.thread_parts = post.thread_parts
    delivery.save(update_fields=["thread_parts"])
    get_provider("sandbox").publish(delivery)
    assert "---" in SandboxPost.objects.get(delivery=delivery).text  # stored joined
    # No reload: the timeline polls and swaps itself in.
    page.wait_for_selector(".tweet-reply >> text=And part three ends it.", timeout=40_000)
    assert page.locator(".tweet .tweet-text").first.inner_text() == "A thread, part one."
    assert page.locator(".tweet-reply").count() == 2
    assert "---" not in page.inner_text("#timeline")
    page.screenshot(path=str(ARTIFACTS / "sandbox-thread.png"), full_page=True)


def test_in_production_the_composer_warns_before_scheduling_images_to_a_webhook(
    page,  # noqa: F811
    demo,  # noqa: F811
    settings,
):
    from tests.factories import ChannelFactory, SocialAccountFactory

    settings.DEBUG, settings.PUBLIC_BASE_URL = False, ""
    hooks = ChannelFactory(workspace=demo["workspace"], name="#hooks", with_sandbox=False)
    hooks.accounts.add(
        SocialAccountFactory(
            workspace=demo["workspace"],
            provider="webhook",
            handle="receiver",
            credentials={"url": "http://127.0.0.1:9/hook", "secret": "s" * 24},
        )
    )
    login(page, "maria")
    page.goto(page.base_url + "/posts/new/")
    page.fill("#id_text", "To the webhook, with a picture")
    page.check(f"input[name=channels][value='{hooks.id}']")
    page.wait_for_selector("#network-previews .net-preview")
    assert "PUBLIC_BASE_URL" not in page.inner_text("#network-previews")  # no image yet
    page.evaluate(DROP, [png_base64(), "card.png"])
    page.wait_for_selector("#network-previews >> text=The images will fail on the webhook")
    assert "set PUBLIC_BASE_URL" in page.inner_text("#network-previews")
    page.screenshot(path=str(ARTIFACTS / "compose-webhook-warning.png"), full_page=True)
    assert not Post.objects.filter(text="To the webhook, with a picture").exists()
