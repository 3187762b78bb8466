"""Post images are bounded before decoding and re-encoded by a worker: an animation too big
to decode is refused from its header in the request; what is stored is the format its name
and type say, without comments or metadata (read from the stored bytes' own markers); an
image is `processing` until the worker made it, and a post cannot be scheduled until all
its images are ready."""

from __future__ import annotations

import datetime as dt
import io
import struct

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.urls import reverse
from PIL import Image, PngImagePlugin

from accounts.models import Membership
from channels.models import QueueEntry
from channels.services import queue_entry_add
from networks import Rejected, delivery_images
from posts.images import images_requeue_stale, post_image_add
from posts.models import PostImage
from posts.tasks import process_image
from scheduling.services import post_share_now, timeslot_pin
from tests.conftest import wait_for
from tests.factories import ChannelFactory, MembershipFactory, PostFactory
from tests.posts.test_images import jpeg, make_delivery, png

GPS_IFD = 0x8825


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


# --- Inputs, built small -------------------------------------------------------------------


def many_frames_gif(width: int, height: int, frames: int, *, last_frame=(1, 1)) -> bytes:
    """A GIF of `frames` frames on a width x height canvas, each frame a patch of one pixel:
    a few bytes per frame on disk, a whole canvas per frame once decoded (the probe's
    2.5 MB GIF of 1,000 frames of 1000 x 1000, in ~23 kB). `last_frame` sets the last
    frame's declared size (a frame larger than the canvas)."""
    out = [
        b"GIF89a",
        struct.pack("<HHBBB", width, height, 0x80, 0, 0),  # global colour table of 2
        b"\x00\x00\x00\xff\xff\xff",
        b"!\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00",  # loop forever
    ]
    for i in range(frames):
        size = last_frame if i == frames - 1 else (1, 1)
        out.append(b"!\xf9\x04\x00" + struct.pack("<H", 10) + b"\x00\x00")  # 100 ms
        out.append(b"," + struct.pack("<HHHHB", i % width, (i // width) % height, *size, 0))
        # LZW, minimum code size 2: clear (4), colour i % 2, end (5), in 3-bit codes.
        out.append(b"\x02\x02" + (b"\x4c\x01" if i % 2 else b"\x44\x01") + b"\x00")
    out.append(b";")
    return b"".join(out)


def apng(frames: int = 3) -> bytes:
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
    images = [Image.new("RGB", (32, 24), colours[i % 4]) for i in range(frames)]
    out = io.BytesIO()
    images[0].save(out, format="PNG", save_all=True, append_images=images[1:], duration=200)
    return out.getvalue()


def jpeg_with_metadata() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (52.0, 31.0, 12.0)})
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 80, 40)).save(
        out,
        format="JPEG",
        comment=b"secret comment: taken at home",
        exif=exif,
        xmp=b"<x:xmpmeta>secret xmp</x:xmpmeta>",
    )
    return out.getvalue()


def jpeg_markers(data: bytes) -> list[int]:
    """The marker bytes of a JPEG's segments, from SOI up to the start of scan."""
    assert data[:2] == b"\xff\xd8"
    markers, at = [], 2
    while at < len(data):
        assert data[at] == 0xFF, f"no marker at {at}"
        marker = data[at + 1]
        markers.append(marker)
        if marker == 0xDA:  # SOS: entropy-coded data follows
            break
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        at += 2 + length
    return markers


def png_chunks(data: bytes) -> list[bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        chunks.append(data[at + 4 : at + 8])
        at += 12 + length
    return chunks


def stored_bytes(image: PostImage) -> bytes:
    with image.file.open("rb") as handle:
        return handle.read()


def processed(image: PostImage) -> PostImage:
    """The worker's job, run here (the task called in this process)."""
    process_image(image.id)
    image.refresh_from_db()
    return image


@pytest.fixture
def post(db):
    return PostFactory(text="With pictures")


# --- Bounded before decoding ----------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("width", "height", "frames", "message"),
    [
        (1000, 1000, 1000, "probe.gif has 1,000 frames; an animation may have at most 350."),
        (
            6000,
            6000,
            120,
            "probe.gif has 120 frames of 6000 x 6000 pixels (4,320 megapixels in all); an "
            "animation may have at most 100 megapixels over all its frames.",
        ),
    ],
    ids=["1000-frames-of-1000x1000", "120-frames-of-6000x6000"],
)
def test_an_animation_too_big_to_decode_is_refused_from_its_header(
    post, media_root, width, height, frames, message
):
    data = many_frames_gif(width, height, frames)
    assert len(data) < 30_000  # small on disk: the cost is all in decoding
    with pytest.raises(ValidationError) as caught:
        post_image_add(post=post, data=data, filename="probe.gif")
    assert caught.value.messages == [message]
    assert not PostImage.objects.exists()
    assert not media_root.exists() or not any(media_root.rglob("*.*"))


@pytest.mark.django_db
def test_the_limits_are_settings(post, settings):
    settings.IMAGE_MAX_FRAMES = 4
    settings.IMAGE_MAX_TOTAL_PIXELS = 10_000
    with pytest.raises(ValidationError, match="has 5 frames; an animation may have at most 4"):
        post_image_add(post=post, data=many_frames_gif(10, 10, 5), filename="five.gif")
    with pytest.raises(ValidationError, match="at most 10,000 pixels over all its frames"):
        post_image_add(post=post, data=many_frames_gif(100, 100, 2), filename="big.gif")
    image = processed(post_image_add(post=post, data=many_frames_gif(10, 10, 4), filename="ok.gif"))
    assert image.status == PostImage.Status.READY
    stored = Image.open(io.BytesIO(stored_bytes(image)))
    assert stored.format == "GIF" and stored.is_animated


@pytest.mark.django_db
def test_a_frame_larger_than_its_canvas_fails_in_the_worker_with_the_reason(post):
    # The header says 10 x 10 x 2 frames; the last frame declares 3000 x 3000, which only
    # decoding finds (Pillow grows the canvas while seeking to it).
    data = many_frames_gif(10, 10, 2, last_frame=(3000, 3000))
    image = processed(post_image_add(post=post, data=data, filename="liar.gif"))
    assert image.status == PostImage.Status.FAILED
    assert image.failure_code == PostImage.Failure.REFUSED
    assert image.failure_reason == (
        "liar.gif has a frame larger than the size its header declares (10 x 10); export it again."
    )
    assert not image.file


# --- What is stored is what its name and type say, without metadata -----------------------


@pytest.mark.django_db
def test_an_animated_png_is_stored_as_an_animated_png(post):
    image = processed(post_image_add(post=post, data=apng(3), filename="anim.png"))

    stored = stored_bytes(image)
    assert stored[:8] == b"\x89PNG\r\n\x1a\n"  # not WebP (b"RIFF....WEBP")
    assert b"acTL" in png_chunks(stored)
    reopened = Image.open(io.BytesIO(stored))
    assert (reopened.format, reopened.n_frames) == ("PNG", 3)
    assert image.file.name.endswith(".png") and image.content_type == "image/png"
    assert image.size == len(stored)


@pytest.mark.django_db
def test_a_jpeg_comment_exif_and_xmp_are_gone_from_the_stored_bytes(
    post, media_root, django_capture_on_commit_callbacks
):
    original = jpeg_with_metadata()
    assert {0xFE, 0xE1} <= set(jpeg_markers(original))  # COM and APP1: the test can fail

    image = post_image_add(post=post, data=original, filename="photo.jpg")
    with django_capture_on_commit_callbacks(execute=True):  # the upload's deletion
        processed(image)

    stored = stored_bytes(image)
    markers = jpeg_markers(stored)
    assert 0xFE not in markers  # COM
    assert 0xE1 not in markers  # APP1: EXIF and XMP
    assert b"secret" not in stored and b"PhoneMaker" not in stored
    assert image.file.name.endswith(".jpg") and image.content_type == "image/jpeg"
    # The upload (metadata and all) is deleted once processed: only the stored file is left.
    assert [p.name for p in media_root.rglob("*") if p.is_file()] == [
        image.file.name.split("/")[-1]
    ]


@pytest.mark.django_db
def test_png_text_and_a_gif_comment_are_gone_too(post):
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "secret author")
    info.add_itxt("Comment", "secret itxt")
    out = io.BytesIO()
    Image.new("RGB", (20, 20), (1, 2, 3)).save(out, format="PNG", pnginfo=info)
    png_image = processed(post_image_add(post=post, data=out.getvalue(), filename="a.png"))
    chunks = png_chunks(stored_bytes(png_image))
    assert not {b"tEXt", b"iTXt", b"zTXt", b"eXIf"} & set(chunks)

    frames = [Image.new("RGB", (20, 20), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], comment=b"secret")
    assert b"secret" in out.getvalue() and Image.open(out).n_frames == 3
    gif = processed(post_image_add(post=post, data=out.getvalue(), filename="a.gif"))
    assert b"secret" not in stored_bytes(gif)
    assert Image.open(io.BytesIO(stored_bytes(gif))).n_frames == 3


# --- Processing, then ready; scheduling waits for it ----------------------------------------


@pytest.fixture
def editor_client(client, post):
    member = MembershipFactory(workspace=post.workspace, role=Membership.Role.EDITOR)
    client.force_login(member.user)
    return client


@pytest.mark.django_db
def test_an_unprocessed_image_shows_processing_and_the_post_cannot_be_scheduled(
    editor_client, post
):
    channel = ChannelFactory(workspace=post.workspace)
    response = editor_client.post(
        reverse("post_images", args=[post.id]),
        {"images": [SimpleUploadedFile("cat.jpg", jpeg(gps=True))], "alt_text": "A cat"},
    )
    assert response.status_code == 302
    [image] = post.images.all()
    assert image.status == PostImage.Status.PROCESSING and not image.file
    page = editor_client.get(response["Location"]).content.decode()
    assert "Image 1 (64\N{MULTIPLICATION SIGN}48) is being processed" in page
    assert 'hx-trigger="every 2s"' in page  # the page polls until it is ready

    message = (
        "Image 1 is still being processed: schedule the post once it is ready (its Images "
        "page shows when)."
    )
    for schedule in (
        lambda: queue_entry_add(channel=channel, post=post),
        lambda: timeslot_pin(
            post=post, channel=channel, publish_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
        ),
        lambda: post_share_now(post=post, channel=channel),
    ):
        with pytest.raises(ValidationError) as caught:
            schedule()
        assert caught.value.messages == [message]
    assert not QueueEntry.objects.filter(post=post).exists()
    assert not post.pinned_timeslots.exists()

    processed(image)

    assert image.status == PostImage.Status.READY and image.file
    page = editor_client.get(response["Location"]).content.decode()
    assert f'src="/media/{image.file.name}?' in page and 'alt="A cat"' in page
    assert 'hx-trigger="every 2s"' not in page
    assert queue_entry_add(channel=channel, post=post).is_active


@pytest.mark.django_db
def test_a_failed_image_shows_why_and_blocks_scheduling_until_removed(editor_client, post):
    channel = ChannelFactory(workspace=post.workspace)
    whole = jpeg(200, 150, noise=True)
    truncated = whole[: len(whole) // 2]  # a header that reads, pixels that do not
    image = processed(post_image_add(post=post, data=truncated, filename="cut.jpg"))

    assert image.status == PostImage.Status.FAILED
    reason = "cut.jpg is damaged: it could not be read to the end."
    assert image.failure_reason == reason
    page = editor_client.get(reverse("post_images", args=[post.id])).content.decode()
    assert f"Image 1 could not be processed: {reason}" in page
    with pytest.raises(ValidationError) as caught:
        queue_entry_add(channel=channel, post=post)
    assert caught.value.messages == [
        f"Image 1 could not be processed ({reason}): remove it or upload it again before "
        "scheduling the post."
    ]
    editor_client.post(reverse("post_image_remove", args=[post.id, image.id]))
    assert queue_entry_add(channel=channel, post=post).is_active


@pytest.mark.django_db
def test_a_queued_posts_image_not_ready_yet_fails_the_delivery_instead_of_publishing(post):
    from tests.factories import SocialAccountFactory

    account = SocialAccountFactory(workspace=post.workspace, provider="webhook")
    image = post_image_add(post=post, data=png(), filename="late.png")
    delivery = make_delivery(account, post)
    with pytest.raises(Rejected, match=r"Image 1 of the post is not ready \(processing\)"):
        delivery_images(delivery)
    processed(image)
    assert [i.id for i in delivery_images(make_delivery(account, post))] == [image.id]


@pytest.mark.django_db
def test_a_run_that_killed_its_worker_is_not_tried_forever(post):
    image = post_image_add(post=post, data=png(), filename="a.png")
    PostImage.objects.filter(id=image.id).update(attempts=2)  # two runs began, none ended
    processed(image)
    assert image.status == PostImage.Status.FAILED
    assert image.failure_code == PostImage.Failure.WORKER_LOST


@pytest.mark.django_db
def test_an_image_whose_message_was_lost_is_sent_again(
    post, broker, django_capture_on_commit_callbacks
):
    t0 = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
    with time_machine.travel(t0, tick=False):
        image = post_image_add(post=post, data=png(), filename="a.png")  # never committed here
    with time_machine.travel(t0 + dt.timedelta(minutes=4), tick=False):
        assert images_requeue_stale() == 0
    with (
        time_machine.travel(t0 + dt.timedelta(minutes=6), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert images_requeue_stale() == 1
    assert [(m["task"], m["args"]) for m in broker.messages()] == [
        ("posts.process_image", [image.id])
    ]


def test_the_real_worker_makes_an_upload_ready(worker, broker, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    post = PostFactory(text="Processed by a worker")
    channel = ChannelFactory(workspace=post.workspace)
    with transaction.atomic():  # the message goes after commit
        image = post_image_add(post=post, data=apng(2), filename="anim.png", alt_text="Blink")
    wait_for(
        lambda: PostImage.objects.get(id=image.id).status != PostImage.Status.PROCESSING,
        what="the worker to process the image",
    )
    image.refresh_from_db()
    assert image.status == PostImage.Status.READY, image.failure_reason
    assert Image.open(io.BytesIO(stored_bytes(image))).n_frames == 2
    assert queue_entry_add(channel=channel, post=post).is_active
