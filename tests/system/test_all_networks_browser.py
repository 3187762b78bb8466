"""Issue 30's acceptance test, in a real browser with a real Celery worker: one channel holds
one account on every registered network, each on its loopback fake (the harnesses of
tests/networks/accounts_on_fakes.py). The composer shows a counter and a preview per network
(with its chip), the post goes into the channel's queue with an image, its alt text and a
first comment, the channel's schedule fires, and every fake holds the post once, with the
first comment under it where the network's capabilities say first_comment.

The screenshot of the composer goes to QUEUELOOP_SCREENSHOT_DIR (else a temporary folder);
the README's docs/screenshots/compose-all-networks.png comes from
`QUEUELOOP_SCREENSHOT_DIR=docs/screenshots`.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.utils import timezone

from networks import get_provider, registry
from networks.thread import comment_on
from posts.models import Post, PostImage
from publishing.models import Delivery
from scheduling import services
from scheduling.models import Timeslot
from tests.conftest import wait_for
from tests.factories import (
    ChannelFactory,
    MembershipFactory,
    ScheduleFactory,
    UserFactory,
    WorkspaceFactory,
    rule,
)
from tests.networks.accounts_on_fakes import harness_for
from tests.networks.fake_bluesky import fake_bluesky  # noqa: F401 (a fixture)
from tests.networks.fake_discord import fake_discord  # noqa: F401 (a fixture)
from tests.networks.fake_linkedin import fake_linkedin  # noqa: F401 (a fixture)
from tests.networks.fake_mastodon import fake_mastodon  # noqa: F401 (a fixture)
from tests.networks.fake_meta_graph import fake_meta  # noqa: F401 (a fixture)
from tests.networks.fake_telegram import fake_telegram  # noqa: F401 (a fixture)
from tests.networks.fake_threads import fake_threads  # noqa: F401 (a fixture)
from tests.networks.fake_x import fake_x  # noqa: F401 (a fixture)
from tests.system.test_post_images_browser import image_file
from tests.system.test_web_ui_browser import SCREENSHOTS, login, page  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NAMES = list(registry.NETWORKS)
# A link, so the networks that count one as 23 (X, Mastodon) differ from the others.
TEXT = "One post, every network: Queue Loop ships today https://example.com/launch"
COMMENT = "Questions? Ask them under this post."
ALT = "An orange launch badge"
# The channel's zone is not UTC, so the schedule's wall time is read in it.
ZONE = "Europe/Berlin"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    # Instagram and Threads fetch images from this site's public address, the webhook's
    # payload links them there (the fakes record the URL; nothing fetches it in a test).
    settings.PUBLIC_BASE_URL = "https://queueloop.example"


@pytest.fixture
def everywhere(request):
    """maria's workspace with the channel #everywhere holding one account per registered
    network, each on its fake: {"channel", "harnesses": {name: Harness}}."""
    user = UserFactory(username="maria")
    workspace = WorkspaceFactory(name="Acme Marketing")
    MembershipFactory(user=user, workspace=workspace, role="owner")
    channel = ChannelFactory(
        workspace=workspace,
        name="#everywhere",
        slug="everywhere",
        timezone=ZONE,
        with_sandbox=False,
    )
    harnesses = {name: harness_for(name, request, workspace=workspace) for name in NAMES}
    channel.accounts.add(*(h.account for h in harnesses.values()))
    return {"channel": channel, "harnesses": harnesses}


def expected_counter(name: str, account, text: str) -> str:
    network = get_provider(name)
    return f"{network.text_length(text)}/{network.limit_for(account)}"


def test_one_post_reaches_every_network_with_its_first_comment(
    page,  # noqa: F811
    worker,
    everywhere,
    fake_meta,  # noqa: F811
    fake_threads,  # noqa: F811
    tmp_path,
):
    channel, harnesses = everywhere["channel"], everywhere["harnesses"]
    commenting = {n for n in NAMES if get_provider(n).capabilities.first_comment}
    assert commenting and commenting != set(NAMES), "the test wants networks of both kinds"
    login(page, "maria")

    # --- Compose: the text, a first comment, an image with its alt text, the channel. ---
    page.goto(page.base_url + "/posts/new/")
    page.check(f"input[name=channels][value='{channel.id}']")
    page.fill("#id_text", TEXT)
    page.fill("#id_first_comment", COMMENT)
    # A JPEG: Instagram publishes JPEG images only (the others take it too).
    page.set_input_files("#images-input", image_file(tmp_path, "badge.jpg", (250, 120, 40), "JPEG"))
    page.fill("#image-alt-1", ALT)
    page.dispatch_event("#id_text", "input")
    # Once typing pauses: one counter per network, the comment's count among them.
    page.wait_for_function(
        "[...document.querySelectorAll('#network-counters li[data-network]')]"
        f".length === {len(NAMES)} && document.querySelector('#network-counters')"
        f".textContent.includes('/{get_provider('x').limit_for(None)}') && "
        "document.querySelector('#network-counters').textContent.includes('💬')"
    )
    for name, harness in harnesses.items():
        item = page.locator(f"#network-counters li[data-network={name}]")
        assert item.count() == 1, name
        assert item.locator(f".provider-{name}").count() == 1, f"{name}: no chip"
        counters = item.locator(".counter")
        assert counters.first.inner_text() == expected_counter(name, harness.account, TEXT), name
        if name in commenting:
            comment_count = expected_counter(name, harness.account, COMMENT)
            assert counters.count() == 2 and counters.nth(1).inner_text().endswith(comment_count), (
                name
            )
        else:
            assert counters.count() == 1, name
            assert "no first comment" in item.inner_text(), name
        assert "too long" not in item.inner_text(), name
    # One preview per network, with its chip, the text and (where it goes) the comment.
    previews = page.locator("#network-previews article.net-preview")
    assert previews.count() == len(NAMES)
    for name in NAMES:
        preview = page.locator(f"#network-previews article[data-network={name}]")
        assert preview.locator(f".provider-{name}").count() == 1, f"{name}: no chip"
        assert preview.locator(".net-text").first.inner_text() == TEXT, name
        comment = preview.locator(".net-comment")
        if name in commenting:
            assert COMMENT in comment.inner_text(), name
        else:
            assert "will not go to" in comment.inner_text(), name
    # With an image chosen, Instagram (every post needs one) raises no warning.
    assert "Add one before its slot" not in page.inner_text("#network-previews")
    page.screenshot(path=str(SCREENSHOTS / "compose-all-networks.png"), full_page=True)

    page.click("#save-button")  # "Add to queue"
    page.wait_for_url(page.base_url + "/posts/")
    post = Post.objects.get(text=TEXT)
    assert post.first_comment == COMMENT
    assert channel.entries.filter(post=post, is_active=True).exists()
    [image] = post.images.all()
    assert image.alt_text == ALT
    wait_for(
        lambda: PostImage.objects.get(id=image.id).status == PostImage.Status.READY,
        what="the worker to process the image",
    )

    # --- The channel's schedule fires a few seconds ahead, in the channel's zone. ---
    at = (timezone.now() + dt.timedelta(seconds=3)).replace(microsecond=0)
    wall = at.astimezone(zoneinfo.ZoneInfo(ZONE))
    schedule = ScheduleFactory(channel=channel, recurrence=rule(f"RDATE:{wall:%Y%m%dT%H%M%S}"))
    result = services.planner_run()
    assert result.created == 1 and result.enqueued == 1
    slot = Timeslot.objects.get(schedule=schedule)
    assert slot.publish_at == at  # the queue's head (our post) is taken when it fires

    def all_done() -> bool:
        deliveries = Delivery.objects.filter(timeslot=slot)
        return (
            Timeslot.objects.get(id=slot.id).status == Timeslot.Status.PUBLISHED
            and deliveries.count() == len(NAMES)
            and not deliveries.filter(
                comment_status__in=[Delivery.CommentStatus.DUE, Delivery.CommentStatus.SENDING]
            ).exists()
        )

    def state() -> str:
        rows = Delivery.objects.filter(timeslot=slot).values_list(
            "account__provider", "status", "comment_status", "last_error", "comment_error"
        )
        return f"slot {Timeslot.objects.get(id=slot.id).status}; deliveries {list(rows)}"

    try:
        wait_for(all_done, timeout=60, what="the slot to publish everywhere with its comments")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {state()}") from None
    slot.refresh_from_db()
    assert slot.published_at >= at
    assert set(Delivery.objects.filter(timeslot=slot).values_list("post", flat=True)) == {post.id}

    # --- Every fake holds the post once; the comment under it where comments go. ---
    for name, harness in harnesses.items():
        network = get_provider(name)
        delivery = Delivery.objects.get(timeslot=slot, account=harness.account)
        assert delivery.status == Delivery.Status.SENT, (name, delivery.last_error)
        # Some fakes list the comment among the account's posts (a reply is a post on X,
        # Bluesky, Threads): it is checked below as a reply under the post.
        assert [p for p in harness.posted() if p != COMMENT] == [TEXT], name
        if network.capabilities.alt_text and harness.alt_texts is not None:
            assert harness.alt_texts() == [ALT], name
        if name in commenting:
            assert delivery.comment_status == Delivery.CommentStatus.SENT, (
                name,
                delivery.comment_error,
            )
            assert harness.replies is not None, f"the {name} harness needs replies="
            assert harness.replies(comment_on(delivery)) == [COMMENT], name
        else:
            assert delivery.comment_status == Delivery.CommentStatus.NOT_HERE, name

    # Instagram and Threads were given the image's public address (they fetch it from
    # there); the media URL is signed with an expiry, so its path is compared.
    public = "https://queueloop.example" + PostImage.objects.get(id=image.id).file.url
    instagram, threads = harnesses["instagram"].account, harnesses["threads"].account
    given = [
        *(i["url"] for i in fake_meta.media_of(instagram.external_id)[0]["images"]),
        *(url for url, _alt in fake_threads.posts_of(threads.external_id)[0]["images"]),
    ]
    assert [url.split("?")[0] for url in given] == [public.split("?")[0]] * 2, given

    # The sandbox's timeline shows the post with its first comment under it.
    sandbox = harnesses["sandbox"].account
    page.goto(f"{page.base_url}/sandbox/{sandbox.id}/")
    page.wait_for_selector(f".tweet-comment >> text={COMMENT}")
    assert TEXT in page.inner_text("#timeline")
