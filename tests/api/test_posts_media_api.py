"""The API's posts beyond create/edit (issue 29, item 1): images uploaded (multipart, with
alt text) or fetched by URL under the webhooks' address rules (a loopback image server that
only an operator allow-list lets through), alt text, removal; threads; share now and pin.
Another workspace's ids are 404; a viewer reads, never writes; bad input is a clear 400."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from accounts.models import Membership
from posts.models import Post, PostImage
from scheduling.models import Timeslot
from tests.api.test_endpoints import API, client_for, future, member
from tests.factories import (
    ChannelFactory,
    DeliveryFactory,
    PostFactory,
    SocialAccountFactory,
    WorkspaceFactory,
)
from tests.networks.fake_http import FakeServer, Reply

pytestmark = pytest.mark.django_db


def png(width: int = 40, height: int = 30) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 80, 40)).save(out, format="PNG")
    return out.getvalue()


class ImageServer(FakeServer):
    """Serves /cat.png (a PNG), /cat (the same, named only by its Content-Type), /page.html
    (not an image) and 404 elsewhere."""

    def handle(self, request):
        if request.path in ("/cat.png", "/cat"):
            return Reply(200, png(), {"Content-Type": "image/png"})
        if request.path == "/page.html":
            return Reply(200, b"<html></html>", {"Content-Type": "text/html"})
        return Reply(404, b"not here", {"Content-Type": "text/plain"})


@pytest.fixture
def images_server():
    server = ImageServer().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def ws():
    return WorkspaceFactory(slug="acme")


@pytest.fixture
def api(ws):
    return client_for(member(ws, Membership.Role.EDITOR))


@pytest.fixture
def post(ws):
    return PostFactory(workspace=ws, text="With a picture")


@pytest.fixture
def channel(ws):
    return ChannelFactory(workspace=ws, slug="tech")


@pytest.fixture
def foreign_post():
    rival = WorkspaceFactory(slug="rival")
    post = PostFactory(workspace=rival)
    PostImage.objects.create(
        post=post, content_type="image/png", width=1, height=1, size=1, status="ready"
    )
    return post


# --- Upload ------------------------------------------------------------------------------


def test_a_multipart_upload_with_alt_text_is_added_and_shown_on_the_post(api, post):
    upload = SimpleUploadedFile("cat.png", png(), content_type="image/png")

    response = api.post(
        f"{API}/posts/{post.id}/images/",
        {"image": upload, "alt_text": "A cat on a mat"},
        format="multipart",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["alt_text"], body["width"], body["height"]) == ("A cat on a mat", 40, 30)
    assert body["status"] == "processing"  # re-encoded by a worker, as from the web page
    shown = api.get(f"{API}/posts/{post.id}/").json()["images"]
    assert [i["id"] for i in shown] == [body["id"]]
    assert api.get(f"{API}/posts/{post.id}/images/").json()[0]["alt_text"] == "A cat on a mat"


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [
        ("notes.txt", b"hello", "use a JPEG, PNG, GIF or WebP"),
        ("cat.png", b"\x89PNG not really", "is not an image"),
        ("cat.jpg", png(), "rename it to .png"),
        ("empty.png", b"", "is empty"),
    ],
)
def test_a_bad_image_is_a_400_with_the_reason_and_nothing_is_kept(api, post, name, data, words):
    upload = SimpleUploadedFile(name, data, content_type="application/octet-stream")
    response = api.post(f"{API}/posts/{post.id}/images/", {"image": upload}, format="multipart")
    assert response.status_code == 400, response.content
    assert words in response.json()["image"][0]
    assert not PostImage.objects.exists()


def test_neither_or_both_of_file_and_url_is_a_400(api, post):
    assert "image" in api.post(f"{API}/posts/{post.id}/images/", {}, format="json").json()
    both = api.post(
        f"{API}/posts/{post.id}/images/",
        {"image": SimpleUploadedFile("a.png", png()), "url": "https://example.com/a.png"},
        format="multipart",
    )
    assert both.status_code == 400


def test_a_fifth_image_is_refused(api, post):
    for _ in range(4):
        upload = SimpleUploadedFile("cat.png", png(), content_type="image/png")
        assert api.post(f"{API}/posts/{post.id}/images/", {"image": upload}).status_code == 201
    upload = SimpleUploadedFile("cat.png", png(), content_type="image/png")
    response = api.post(f"{API}/posts/{post.id}/images/", {"image": upload})
    assert response.status_code == 400
    assert "at most 4 images" in response.json()["image"][0]


# --- By URL -------------------------------------------------------------------------------------


def test_an_image_by_url_is_fetched_from_an_allowed_host(api, post, images_server, settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    for path in ("/cat.png", "/cat"):
        response = api.post(
            f"{API}/posts/{post.id}/images/",
            {"url": images_server.url + path, "alt_text": "fetched"},
            format="json",
        )
        assert response.status_code == 201, response.content
        assert response.json()["content_type"] == "image/png"
    assert len(images_server.calls_to("GET", "/cat.png")) == 1
    assert post.images.count() == 2


def test_a_loopback_url_is_refused_unless_allowed_and_nothing_is_fetched(
    api, post, images_server, settings
):
    settings.WEBHOOK_ALLOWED_HOSTS = []
    response = api.post(
        f"{API}/posts/{post.id}/images/", {"url": images_server.url + "/cat.png"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["url"][0]
    assert images_server.calls == []
    assert not PostImage.objects.exists()


@pytest.mark.parametrize(
    ("path", "words"),
    [("/page.html", "use a JPEG, PNG, GIF or WebP"), ("/gone.png", "answered HTTP 404")],
)
def test_a_url_that_is_no_image_is_a_400_saying_why(
    api, post, images_server, settings, path, words
):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    response = api.post(
        f"{API}/posts/{post.id}/images/", {"url": images_server.url + path}, format="json"
    )
    assert response.status_code == 400
    assert words in response.json()["url"][0]


@pytest.mark.parametrize("url", ["ftp://example.com/a.png", "not a url", "https://" + "a" * 500])
def test_a_malformed_url_is_a_400(api, post, url):
    response = api.post(f"{API}/posts/{post.id}/images/", {"url": url}, format="json")
    assert response.status_code == 400


# --- Alt text, removal ---------------------------------------------------------------------------


def test_alt_text_is_edited_and_an_image_removed(api, post):
    upload = SimpleUploadedFile("cat.png", png(), content_type="image/png")
    image_id = api.post(f"{API}/posts/{post.id}/images/", {"image": upload}).json()["id"]
    url = f"{API}/posts/{post.id}/images/{image_id}/"

    edited = api.patch(url, {"alt_text": "Now described"}, format="json")
    assert edited.status_code == 200 and edited.json()["alt_text"] == "Now described"
    too_long = api.patch(url, {"alt_text": "a" * 1501}, format="json")
    assert too_long.status_code == 400
    assert api.delete(url).status_code == 204
    assert not PostImage.objects.exists()
    assert api.delete(url).status_code == 404


# --- Threads ---------------------------------------------------------------------------------


def test_a_thread_is_created_and_read_back(api, channel):
    response = api.post(
        f"{API}/posts/",
        {"text": "1/3 A thread", "thread_parts": ["2/3 more", "3/3 end"], "channels": ["tech"]},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert api.get(f"{API}/posts/{response.json()['id']}/").json()["thread_parts"] == [
        "2/3 more",
        "3/3 end",
    ]


# --- Share now, pin ------------------------------------------------------------------------------


def test_share_now_pins_the_post_at_this_moment(api, post, channel):
    response = api.post(f"{API}/posts/{post.id}/share/", {"channel": "tech"}, format="json")
    assert response.status_code == 201, response.content
    slot = Timeslot.objects.get(id=response.json()["id"])
    assert (slot.post, slot.channel, slot.status) == (post, channel, "scheduled")
    assert slot.enqueued_at is not None  # sent to the worker at once


def test_pin_puts_the_post_at_a_time_by_channel_id(api, post, channel):
    at = future(days=2)
    response = api.post(
        f"{API}/posts/{post.id}/pin/",
        {"channel": str(channel.id), "publish_at": at.isoformat()},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert Timeslot.objects.get(post=post).publish_at == at


@pytest.mark.parametrize(
    ("action", "body", "field"),
    [
        ("share", {"channel": "nope"}, "channel"),
        ("share", {}, "channel"),
        ("pin", {"channel": "tech", "publish_at": "2001-01-01T00:00:00Z"}, "publish_at"),
        ("pin", {"channel": "tech", "publish_at": "2030-01-01T00:00:00"}, "publish_at"),
    ],
)
def test_bad_share_or_pin_is_a_400(api, post, channel, action, body, field):
    response = api.post(f"{API}/posts/{post.id}/{action}/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not Timeslot.objects.exists()


def test_a_text_too_long_for_the_channel_is_not_shared(api, ws, channel):
    channel.accounts.add(SocialAccountFactory(workspace=ws, provider="x"))
    long_post = PostFactory(workspace=ws, text="a" * 281)
    response = api.post(f"{API}/posts/{long_post.id}/share/", {"channel": "tech"}, format="json")
    assert response.status_code == 400
    assert "280" in str(response.json())
    assert not Timeslot.objects.exists()


# --- Another workspace, roles --------------------------------------------------------------------


def test_another_workspaces_post_images_and_channels_are_out_of_reach(
    api, post, channel, foreign_post
):
    image = foreign_post.images.get()
    for method, url, body in [
        ("get", f"{API}/posts/{foreign_post.id}/images/", None),
        ("post", f"{API}/posts/{foreign_post.id}/images/", {"url": "https://example.com/a.png"}),
        ("patch", f"{API}/posts/{foreign_post.id}/images/{image.id}/", {"alt_text": "x"}),
        ("delete", f"{API}/posts/{foreign_post.id}/images/{image.id}/", None),
        ("delete", f"{API}/posts/{post.id}/images/{image.id}/", None),
        ("post", f"{API}/posts/{foreign_post.id}/share/", {"channel": "tech"}),
    ]:
        assert getattr(api, method)(url, body, format="json").status_code == 404, url
    # A channel of another workspace, named by id, is unknown to this post.
    rival_channel = ChannelFactory(workspace=foreign_post.workspace)
    response = api.post(
        f"{API}/posts/{post.id}/share/", {"channel": str(rival_channel.id)}, format="json"
    )
    assert response.status_code == 400
    assert PostImage.objects.filter(id=image.id).exists() and not Timeslot.objects.exists()


@pytest.mark.parametrize("role", ["owner", "editor", "viewer"])
def test_each_role_on_images_share_and_pin(ws, post, channel, role):
    api = client_for(member(ws, role))
    writes = role != "viewer"
    assert api.get(f"{API}/posts/{post.id}/images/").status_code == 200
    shared = api.post(f"{API}/posts/{post.id}/share/", {"channel": "tech"}, format="json")
    assert shared.status_code == (201 if writes else 403)
    pinned = api.post(
        f"{API}/posts/{post.id}/pin/",
        {"channel": "tech", "publish_at": future(days=3).isoformat()},
        format="json",
    )
    assert pinned.status_code == (201 if writes else 403)
    assert Timeslot.objects.count() == (2 if writes else 0)
    upload = SimpleUploadedFile("cat.png", png(), content_type="image/png")
    added = api.post(f"{API}/posts/{post.id}/images/", {"image": upload})
    assert added.status_code == (201 if writes else 403)


def test_a_post_whose_image_is_processing_cannot_be_shared_yet(api, post, channel):
    upload = SimpleUploadedFile("cat.png", png(), content_type="image/png")
    assert api.post(f"{API}/posts/{post.id}/images/", {"image": upload}).status_code == 201
    response = api.post(f"{API}/posts/{post.id}/share/", {"channel": "tech"}, format="json")
    assert response.status_code == 400
    assert "image" in str(response.json()).lower()
    assert not Timeslot.objects.exists()


# --- Delete for good ---------------------------------------------------------------------------


def test_an_owner_deletes_a_post_that_never_published(ws, post, channel, foreign_post):
    owner, editor = (client_for(member(ws, role)) for role in ("owner", "editor"))
    url = f"{API}/posts/{post.id}/delete/"
    assert editor.post(url).status_code == 403
    assert owner.post(f"{API}/posts/{foreign_post.id}/delete/").status_code == 404
    assert owner.post(url).status_code == 204
    assert not Post.objects.filter(id=post.id).exists()
    published = PostFactory(workspace=ws)
    DeliveryFactory(post=published, timeslot__channel=channel)
    refused = owner.post(f"{API}/posts/{published.id}/delete/")
    assert refused.status_code == 409 and "Archive it instead" in refused.json()["detail"]
    assert Post.objects.filter(id=published.id).exists()
