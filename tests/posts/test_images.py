"""Post images: Pillow checks, metadata stripped before storing, and each network's upload
(Mastodon media, Bluesky blobs under 1,000,000 bytes) against the local fakes."""

from __future__ import annotations

import datetime as dt
import io
import random
import re

import pytest
from django.core.exceptions import ValidationError
from PIL import Image

from accounts.models import SocialAccount
from networks import get_provider
from networks.bluesky import adapter as bluesky_provider
from posts.images import image_warnings, post_image_add
from posts.media import fit_under
from posts.models import PostImage
from publishing.models import Delivery
from scheduling.models import Timeslot
from tests.factories import ChannelFactory, PostFactory, SocialAccountFactory
from tests.networks import fake_bluesky as bluesky_fakes
from tests.networks import fake_mastodon as mastodon_fakes

fake_mastodon = mastodon_fakes.fake_mastodon
fake_bluesky = bluesky_fakes.fake_bluesky
pytestmark = pytest.mark.django_db
GPS_IFD = 0x8825


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def jpeg(width=64, height=48, *, gps=False, quality=90, noise=False) -> bytes:
    image = Image.new("RGB", (width, height), (200, 80, 40))
    if noise:
        rng = random.Random(7)
        image = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
    out = io.BytesIO()
    exif = Image.Exif()
    if gps:
        exif[0x010F] = "PhoneMaker"  # Make
        exif[0x0112] = 6  # Orientation: rotate 90° to display
        exif.get_ifd(GPS_IFD).update({1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)})
    image.save(out, format="JPEG", quality=quality, exif=exif)
    return out.getvalue()


def add_image(**kwargs) -> PostImage:
    """post_image_add, then the worker's job (the posts.process_image task) run here, in this
    process and transaction: the image as it is once ready."""
    from posts.tasks import process_image

    image = post_image_add(**kwargs)
    process_image(image.id)
    image.refresh_from_db()
    return image


def png(width=32, height=32) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (width, height), (0, 128, 255, 128)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def post():
    return PostFactory(text="With pictures")


# --- What is accepted ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "filename", "message"),
    [
        (b"%PDF-1.7 not an image at all", "report.jpg", "report.jpg is not an image"),
        (b"", "empty.png", "empty.png is empty (0 bytes)."),
        (
            b"\xff" * (30 * 1024 * 1024),
            "huge.jpg",
            "huge.jpg is 30.0 MB; images may be at most 15.0 MB.",
        ),
        (
            png(),
            "photo.jpg",
            "photo.jpg is a PNG image but its name ends in .jpg: rename it to .png",
        ),
        (png(), "notes.txt", "notes.txt: use a JPEG, PNG, GIF or WebP image."),
    ],
    ids=["not-an-image", "zero-bytes", "30-mb", "png-named-jpg", "wrong-extension"],
)
def test_bad_uploads_get_clear_errors_and_store_nothing(post, media_root, data, filename, message):
    with pytest.raises(ValidationError) as caught:
        post_image_add(post=post, data=data, filename=filename)
    assert caught.value.messages == [message] or caught.value.messages[0].startswith(message)
    assert not PostImage.objects.exists()
    assert not media_root.exists() or not any(media_root.rglob("*.*"))


def test_a_decompression_bomb_is_refused_from_its_header(post):
    # 20000 x 20000 pixels of one colour: a few hundred kB of PNG, 1.6 GB decoded.
    out = io.BytesIO()
    Image.new("1", (20000, 20000)).save(out, format="PNG")
    with pytest.raises(ValidationError, match="at most 40 megapixels"):
        post_image_add(post=post, data=out.getvalue(), filename="bomb.png")


def test_exif_gps_is_gone_from_what_is_stored(post):
    original = jpeg(64, 48, gps=True)
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(GPS_IFD)  # the test can fail

    image = add_image(post=post, data=original, filename="IMG_0001.JPG", alt_text="A cat")

    stored = image.file.open("rb").read()
    reopened = Image.open(io.BytesIO(stored))
    assert dict(reopened.getexif()) == {}
    assert b"PhoneMaker" not in stored
    # The orientation was applied, not lost: 64x48 rotated is 48x64.
    assert (reopened.width, reopened.height) == (48, 64) == (image.width, image.height)
    assert image.file.name.endswith(".jpg") and "IMG_0001" not in image.file.name
    assert image.content_type == "image/jpeg" and image.size == len(stored)


def test_at_most_four_images_and_missing_alt_text_is_a_warning(post):
    for n in range(4):
        post_image_add(post=post, data=png(), filename=f"{n}.png", alt_text="" if n == 2 else "x")
    with pytest.raises(ValidationError, match="at most 4 images"):
        post_image_add(post=post, data=png(), filename="5.png")
    assert [i.position for i in post.images.all()] == [0, 1, 2, 3]
    assert image_warnings(post=post) == [
        "Image 3 has no alt text: people using screen readers will not know what it shows."
    ]


def test_fit_under_reencodes_and_never_drops():
    big = jpeg(2400, 1800, quality=98, noise=True)
    assert len(big) > 3_000_000
    small, content_type = fit_under(big, "image/jpeg", max_bytes=1_000_000)
    assert len(small) <= 1_000_000 and content_type == "image/jpeg"
    assert Image.open(io.BytesIO(small)).width > 600
    same, _ = fit_under(png(), "image/png", max_bytes=1_000_000)
    assert same == png()


def test_two_lanes_read_one_image_row_without_closing_each_others_file(post):
    """The deliveries of one post share its image rows across the lanes' threads: one
    network finishing its read must not close the file another is still reading (CI saw X
    fail with "I/O operation on closed file" while Mastodon and Bluesky read the same row)."""
    from networks.media import image_bytes

    image = add_image(post=post, data=jpeg(), filename="a.jpg", alt_text="A")
    reading = image.file.open("rb")  # a lane that opened the row's file and reads on
    other = image_bytes(image)  # another lane reads the same row, start to end
    assert reading.read() == other and len(other) == image.size
    reading.close()


# --- Each network's upload -------------------------------------------------------------------


def make_delivery(account: SocialAccount, post) -> Delivery:
    channel = ChannelFactory(workspace=account.workspace, with_sandbox=False)
    channel.accounts.add(account)
    slot = Timeslot.objects.create(
        channel=channel, post=post, publish_at=dt.datetime.now(dt.UTC), status="publishing"
    )
    return Delivery.objects.create(timeslot=slot, account=account, post=post, text=post.text)


def test_mastodon_publishes_four_images_with_their_alt_texts(fake_mastodon):
    account_id, token = fake_mastodon.add_account("alice")
    account = SocialAccountFactory(
        provider="mastodon",
        external_id=f"{account_id}@fake",
        credentials={"access_token": token},
        options={"instance": fake_mastodon.url, "image_size_limit": 16 * 1024 * 1024},
    )
    post = PostFactory(workspace=account.workspace, text="Four pictures")
    for n in range(4):
        add_image(post=post, data=jpeg(40 + n, 30), filename=f"{n}.jpg", alt_text=f"Alt {n}")

    published = get_provider("mastodon").publish(make_delivery(account, post))

    [status] = fake_mastodon.statuses
    assert status["id"] == published.external_id
    assert [m["description"] for m in status["media_attachments"]] == [f"Alt {n}" for n in range(4)]
    uploads = fake_mastodon.calls_to("POST", "/api/v2/media")
    assert len(uploads) == 4
    assert all(u.multipart()["file"][1] == "image/jpeg" for u in uploads)


def test_a_3_mb_jpeg_goes_to_bluesky_under_1_000_000_bytes(fake_bluesky):
    did = fake_bluesky.add_account("alice.test", "abcd-efgh-ijkl-mnop")
    _, info = bluesky_provider.sign_in(fake_bluesky.url, "alice.test", "abcd-efgh-ijkl-mnop")
    account = SocialAccountFactory(
        provider="bluesky",
        handle="alice.test",
        external_id=did,
        credentials={"app_password": "abcd-efgh-ijkl-mnop", "session": info["session"]},
        options={"service": fake_bluesky.url},
    )
    post = PostFactory(workspace=account.workspace, text="A big photo")
    big = jpeg(2400, 1800, quality=98, noise=True)
    assert len(big) > 3_000_000
    image = add_image(post=post, data=big, filename="big.jpg", alt_text="Static noise")
    assert image.size > 1_000_000  # stored as uploaded (re-encoded), shrunk only for Bluesky

    get_provider("bluesky").publish(make_delivery(account, post))

    [record] = fake_bluesky.posts_of(did)
    [embedded] = record["embed"]["images"]
    assert embedded["alt"] == "Static noise"
    assert (embedded["aspectRatio"]["width"], embedded["aspectRatio"]["height"]) == (2400, 1800)
    blob = fake_bluesky.blobs[embedded["image"]["ref"]["$link"]]
    assert blob["size"] <= 1_000_000 and blob["mimeType"] == "image/jpeg"
    assert Image.open(io.BytesIO(blob["bytes"])).format == "JPEG"


# --- The images page -------------------------------------------------------------------------


@pytest.fixture
def editor_client(client, post):
    from accounts.models import Membership
    from tests.factories import MembershipFactory

    member = MembershipFactory(workspace=post.workspace, role=Membership.Role.EDITOR)
    client.force_login(member.user)
    return client


def upload(client, post, *files, alt=""):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse

    return client.post(
        reverse("post_images", args=[post.id]),
        {"images": [SimpleUploadedFile(name, data) for name, data in files], "alt_text": alt},
    )


def test_uploading_through_the_page_stores_and_serves_the_image(editor_client, post):
    from posts.tasks import process_image

    response = upload(editor_client, post, ("cat.jpg", jpeg(gps=True)), alt="A ginger cat")
    assert response.status_code == 302
    [image] = post.images.all()
    process_image(image.id)  # the worker's job
    image.refresh_from_db()
    assert image.alt_text == "A ginger cat"
    page = editor_client.get(response["Location"]).content.decode()
    assert f'src="/media/{image.file.name}?e=' in page and "A ginger cat" in page
    served = editor_client.get(image.file.url)
    assert served.status_code == 200
    assert b"".join(served.streaming_content) == image.file.open("rb").read()


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("notes.jpg", b"hello, not an image", "notes.jpg is not an image (or it is damaged)."),
        ("empty.jpg", b"", "empty.jpg is empty (0 bytes)."),
        ("photo.jpg", png(), "photo.jpg is a PNG image but its name ends in .jpg"),
        (
            "huge.jpg",
            b"\0" * (30 * 1024 * 1024),
            "huge.jpg is 30.0 MB; images may be at most 15.0 MB.",
        ),
    ],
    ids=["not-an-image", "zero-bytes", "png-named-jpg", "30-mb"],
)
def test_bad_uploads_through_the_page_are_a_400_with_the_reason(
    editor_client, post, name, data, message
):
    response = upload(editor_client, post, (name, data), ("good.png", png()))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert [i.content_type for i in post.images.all()] == ["image/png"]  # the good one went in


def test_another_workspaces_post_is_a_404(editor_client):
    other = PostFactory()
    assert upload(editor_client, other, ("a.png", png())).status_code == 404
    assert not PostImage.objects.exists()


def test_the_sandbox_timeline_shows_the_images_with_their_alt_text(editor_client, post):
    from django.urls import reverse

    account = SocialAccountFactory(workspace=post.workspace, provider="sandbox")
    image = add_image(post=post, data=png(), filename="a.png", alt_text="A blue square")
    get_provider("sandbox").publish(make_delivery(account, post))

    page = editor_client.get(reverse("sandbox_timeline", args=[account.id])).content.decode()
    signed = (
        rf'<img src="/media/{re.escape(image.file.name)}\?e=\d+&amp;s=[\w-]+" alt="A blue square"'
    )
    assert re.search(signed, page)


def test_bluesky_publishes_four_images_with_alt_texts(fake_bluesky):
    did = fake_bluesky.add_account("alice.test", "abcd-efgh-ijkl-mnop")
    _, info = bluesky_provider.sign_in(fake_bluesky.url, "alice.test", "abcd-efgh-ijkl-mnop")
    account = SocialAccountFactory(
        provider="bluesky",
        handle="alice.test",
        external_id=did,
        credentials={"app_password": "abcd-efgh-ijkl-mnop", "session": info["session"]},
        options={"service": fake_bluesky.url},
    )
    post = PostFactory(workspace=account.workspace, text="Four pictures")
    for n in range(4):
        add_image(post=post, data=jpeg(40 + n, 30), filename=f"{n}.jpg", alt_text=f"Alt {n}")

    get_provider("bluesky").publish(make_delivery(account, post))

    [record] = fake_bluesky.posts_of(did)
    images = record["embed"]["images"]
    assert [i["alt"] for i in images] == [f"Alt {n}" for n in range(4)]
    assert [i["aspectRatio"]["width"] for i in images] == [40, 41, 42, 43]
    assert len(fake_bluesky.calls_to("POST", "/xrpc/com.atproto.repo.uploadBlob")) == 4
