"""Images in the composer itself: uploaded with the post (each with its alt text) through
posts.images.post_image_add, so bounded and processed in the background; a refused image
refuses the whole save (a 400 with the reason, nothing saved); share now waits for no image.
The browser side (drop zone, alt fields) is tests/system/test_compose_images_browser.py."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from posts.models import Post, PostImage
from tests.factories import ChannelFactory, PostFactory, QueueEntryFactory
from tests.posts.test_images import png

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def channel(member):
    return ChannelFactory(workspace=member.workspace, name="#tech")


def upload(name: str = "sea.png", data: bytes | None = None) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data if data is not None else png(), content_type="image/png")


def test_new_post_with_two_images_and_their_alt_texts(
    web, channel, broker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = web.post(
            reverse("post_create"),
            {
                "text": "Two pictures",
                "channels": [channel.id],
                "status": "ready",
                "action": "save",
                "images": [upload("a.png"), upload("b.png")],
                "image_alt": ["First picture", "Second picture"],
            },
        )
    assert response.status_code == 302, response.content.decode()[:3000]
    post = Post.objects.get(text="Two pictures")
    images = list(post.images.order_by("position"))
    assert [(i.upload_name, i.alt_text, i.status) for i in images] == [
        ("a.png", "First picture", PostImage.Status.PROCESSING),
        ("b.png", "Second picture", PostImage.Status.PROCESSING),
    ]
    assert channel.entries.filter(post=post, is_active=True).exists()
    # Processed by a worker: one message per image went to the broker.
    sent = [m for m in broker.messages() if m["task"] == "posts.process_image"]
    assert sorted(m["args"][0] for m in sent) == sorted(i.id for i in images)


def test_an_existing_post_gets_more_images_when_edited(web, channel):
    post = PostFactory(workspace=channel.workspace, text="Edit me")
    QueueEntryFactory(channel=channel, post=post)
    response = web.post(
        reverse("post_edit", args=[post.id]),
        {
            "text": "Edit me",
            "channels": [channel.id],
            "status": "ready",
            "action": "save",
            "images": [upload()],
            "image_alt": ["A sea"],
        },
    )
    assert response.status_code == 302
    assert list(post.images.values_list("alt_text", flat=True)) == ["A sea"]


def test_a_refused_image_saves_nothing_and_says_why(web, channel):
    response = web.post(
        reverse("post_create"),
        {
            "text": "Not an image attached",
            "channels": [channel.id],
            "status": "ready",
            "action": "save",
            "images": [upload("notes.png", b"plain text, not a picture")],
            "image_alt": [""],
        },
    )
    assert response.status_code == 400
    assert "notes.png" in response.content.decode()
    assert not Post.objects.filter(text="Not an image attached").exists()
    assert not PostImage.objects.exists()


def test_share_now_with_new_images_is_refused_with_the_way_out(web, channel):
    response = web.post(
        reverse("post_create"),
        {
            "text": "Right now, with a picture",
            "channels": [channel.id],
            "status": "ready",
            "action": "share_now",
            "images": [upload()],
            "image_alt": ["A sea"],
        },
    )
    assert response.status_code == 400
    assert "add the post to the queue or pin it" in response.content.decode()
    assert not Post.objects.exists()


def test_the_pin_prefill_names_the_time_on_the_button(web, channel):
    when = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).replace(hour=10, minute=0)
    page = web.get(
        reverse("post_create") + f"?pin_at={when:%Y-%m-%dT%H:%M}&tz=UTC"
    ).content.decode()
    assert f">Pin at {when:%a} {when.day} {when:%b} 10:00</button>" in page
    assert ">Add to queue</button>" in web.get(reverse("post_create")).content.decode()
