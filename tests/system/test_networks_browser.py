"""In a real browser, with a real Celery worker and the local fakes of X, Mastodon and
Bluesky: compose a post, add two images with alt text, see one counter and one preview per
network of the channel, share it now, and every fake receives the post with both images
and their alt texts."""

from __future__ import annotations

import pytest

from accounts.models import SocialAccount
from networks.bluesky import adapter as bluesky_provider
from publishing.models import Delivery
from tests.conftest import wait_for
from tests.factories import (
    ChannelFactory,
    MembershipFactory,
    SocialAccountFactory,
    UserFactory,
    WorkspaceFactory,
    XAccountFactory,
)
from tests.networks import fake_bluesky as bluesky_fakes
from tests.networks import fake_mastodon as mastodon_fakes
from tests.networks import fake_x as x_fakes
from tests.system.test_a11y import axe_violations, describe
from tests.system.test_post_images_browser import image_file
from tests.system.test_web_ui_browser import SCREENSHOTS, login, page  # noqa: F401 (fixtures)

fake_x = x_fakes.fake_x
fake_mastodon = mastodon_fakes.fake_mastodon
fake_bluesky = bluesky_fakes.fake_bluesky
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
APP_PASSWORD = "abcd-efgh-ijkl-mnop"
ALTS = ["An orange sunrise", "A calm blue sea"]


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def networks(fake_x, fake_mastodon, fake_bluesky):
    from tests.networks.test_x import oauth2_credentials

    user = UserFactory(username="maria")
    workspace = WorkspaceFactory(name="Acme Marketing")
    MembershipFactory(user=user, workspace=workspace, role="owner")
    channel = ChannelFactory(workspace=workspace, name="#tech", slug="tech", with_sandbox=False)
    fake_x.add_user("1001", "acme")
    x_tokens = fake_x.issue_tokens("1001")
    import time

    credentials = oauth2_credentials(x_tokens)
    credentials["expires_at"] = int(time.time()) + x_tokens["expires_in"]
    x = XAccountFactory(workspace=workspace, handle="acme", external_id="1001")
    x.credentials = credentials
    x.save()
    mastodon_id, token = fake_mastodon.add_account("acme")
    mastodon = SocialAccountFactory(
        workspace=workspace,
        provider=SocialAccount.Provider.MASTODON,
        handle="acme@fake.social",
        external_id=f"{mastodon_id}@fake.social",
        credentials={"access_token": token},
        options={"instance": fake_mastodon.url, "max_characters": 500},
    )
    did = fake_bluesky.add_account("acme.test", APP_PASSWORD)
    _, info = bluesky_provider.sign_in(fake_bluesky.url, "acme.test", APP_PASSWORD)
    bluesky = SocialAccountFactory(
        workspace=workspace,
        provider=SocialAccount.Provider.BLUESKY,
        handle="acme.test",
        external_id=did,
        credentials={"app_password": APP_PASSWORD, "session": info["session"]},
        options={"service": fake_bluesky.url},
    )
    channel.accounts.add(x, mastodon, bluesky)
    return {"channel": channel, "did": did, "mastodon_id": mastodon_id}


def test_compose_with_two_images_shows_three_counters_and_reaches_three_fakes(
    page,  # noqa: F811
    worker,
    networks,
    fake_x,
    fake_mastodon,
    fake_bluesky,
    tmp_path,
):
    channel = networks["channel"]
    text = "Sunrise and sea from the office https://example.com/photos"
    login(page, "maria")

    # Compose: tick the channel; one counter per network appears once typing pauses.
    page.goto(page.base_url + "/posts/new/")
    page.check(f"input[name=channels][value='{channel.id}']")
    page.click("#id_text")
    page.keyboard.type(text)
    # "Sunrise and sea from the office " is 32 characters, and the link 23 on X.
    page.wait_for_function(
        "document.querySelector('#network-counters li[data-network=x] .counter')"
        "?.textContent.trim() === '55/280'"
    )
    items = page.locator("#network-counters li[data-network]")
    assert items.count() == 3
    counters = {
        items.nth(i).get_attribute("data-network"): items.nth(i).locator(".counter").inner_text()
        for i in range(3)
    }
    # X and Mastodon count the link as 23; Bluesky counts every grapheme of it.
    assert counters == {"x": "55/280", "mastodon": "55/500", "bluesky": f"{len(text)}/300"}
    assert page.get_attribute("#network-counters", "aria-live") == "polite"
    # A thread part: each network gets a second counter and a reply in its preview.
    page.fill("#id_thread", "And the second part")
    page.dispatch_event("#id_thread", "input")
    page.wait_for_function(
        "document.querySelectorAll('#network-counters li[data-network=x] .counter').length === 2"
    )
    assert page.locator("#network-previews >> text=Part 2, a reply to part 1").count() == 3
    page.fill("#id_thread", "")
    page.dispatch_event("#id_thread", "input")
    page.wait_for_function(
        "document.querySelectorAll('#network-counters li[data-network=x] .counter').length === 1"
    )
    page.click("button[value=save]")
    page.wait_for_url(page.base_url + "/posts/")

    # Two images with alt text, on the post's images page.
    from posts.models import Post

    post = Post.objects.get(text=text)
    page.goto(f"{page.base_url}/posts/{post.id}/images/")
    page.set_input_files(
        "#images-input",
        [
            image_file(tmp_path, "sunrise.jpg", (250, 160, 60), "JPEG"),
            image_file(tmp_path, "sea.png", (40, 110, 200), "PNG"),
        ],
    )
    page.click("button:has-text('Upload')")
    page.wait_for_selector("text=Added 2 image(s).")
    for n, alt in enumerate(ALTS):
        page.locator("textarea[name=alt_text]").nth(n).fill(alt)
        page.locator("button:has-text('Save alt text')").nth(n).click()
        page.wait_for_selector(f"text=Alt text of image {n + 1} saved.")

    # Back on the post: three previews, each with both images and their alt texts.
    page.goto(f"{page.base_url}/posts/{post.id}/")
    page.wait_for_function(
        "document.querySelectorAll('#network-previews article.net-preview').length === 3"
    )
    for network in ("x", "mastodon", "bluesky"):
        images = page.locator(f"#network-previews article[data-network={network}] img")
        assert [images.nth(i).get_attribute("alt") for i in range(images.count())] == ALTS
    # Loaded (or failed: a broken image is complete too), then each has real pixels.
    page.wait_for_function("[...document.images].every(i => i.complete)")
    assert page.evaluate("[...document.images].every(i => i.naturalWidth > 0)")
    violations = axe_violations(page)
    assert not violations, describe(violations)
    page.screenshot(path=str(SCREENSHOTS / "compose-networks.png"), full_page=True)
    page.set_viewport_size({"width": 375, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(SCREENSHOTS / "compose-networks-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})

    # Share now: the worker publishes to the three fakes.
    page.click("button[value=share_now]")
    page.wait_for_url(page.base_url + "/posts/")
    wait_for(
        lambda: Delivery.objects.filter(post=post, status=Delivery.Status.SENT).count() == 3,
        timeout=30,
        what="three sent deliveries",
    )
    [tweet] = fake_x.tweets("1001")
    assert tweet["text"] == text
    assert [m["alt_text"] for m in tweet["media"]] == ALTS
    [status] = fake_mastodon.statuses
    assert [m["description"] for m in status["media_attachments"]] == ALTS
    [record] = fake_bluesky.posts_of(networks["did"])
    assert [i["alt"] for i in record["embed"]["images"]] == ALTS
