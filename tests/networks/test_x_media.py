"""X images at the HTTP boundary: each image goes up through POST /2/media/upload (base64 in
JSON, tweet_image) with its alt text through POST /2/media/metadata, then the tweet names
the media ids. The fake X (tests/networks/fake_x.py) checks the request shapes."""

from __future__ import annotations

import base64
import datetime as dt
import io

import pytest
import requests
import time_machine
from PIL import Image

from publishing.models import Delivery
from publishing.services import delivery_send
from tests.factories import PostFactory, XAccountFactory
from tests.networks import fake_x as fakes
from tests.networks.test_x import oauth2_credentials
from tests.posts.test_images import add_image, jpeg, make_delivery, png

fake_x = fakes.fake_x
secrets_never_logged = fakes.secrets_never_logged
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("secrets_never_logged")]

T0 = dt.datetime(2026, 3, 2, 14, 0, tzinfo=dt.UTC)
UPLOAD = "/2/media/upload"
METADATA = "/2/media/metadata"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def account(fake_x, clock):
    fake_x.add_user("1001", "queueloop")
    return XAccountFactory(
        handle="queueloop",
        external_id="1001",
        credentials=oauth2_credentials(fake_x.issue_tokens("1001")),
    )


def test_four_images_are_uploaded_with_their_alt_texts_then_tweeted(fake_x, account):
    post = PostFactory(workspace=account.workspace, text="Four pictures")
    for n in range(4):
        add_image(post=post, data=jpeg(40 + n, 30), filename=f"{n}.jpg", alt_text=f"Alt {n}")
    delivery = make_delivery(account, post)

    assert delivery_send(delivery_id=delivery.id) == "sent"

    [tweet] = fake_x.tweets("1001")
    assert [m["alt_text"] for m in tweet["media"]] == [f"Alt {n}" for n in range(4)]
    uploads = fake_x.calls_to("POST", UPLOAD)
    assert len(uploads) == 4
    assert all(u.json["media_category"] == "tweet_image" for u in uploads)
    assert all(u.json["media_type"] == "image/jpeg" for u in uploads)
    assert all(u.bearer == account.credentials["access_token"] for u in uploads)
    first = Image.open(io.BytesIO(base64.b64decode(uploads[0].json["media"])))
    assert first.size == (40, 30)
    metadata = fake_x.calls_to("POST", METADATA)
    assert [m.json["metadata"]["alt_text"]["text"] for m in metadata] == [
        f"Alt {n}" for n in range(4)
    ]
    [tweet_call] = fake_x.calls_to("POST", "/2/tweets")
    assert tweet_call.json["media"]["media_ids"] == [t["id"] for t in tweet["media"]]
    assert Delivery.objects.get(id=delivery.id).external_id == tweet["id"]


def test_an_image_over_5_mb_is_shrunk_and_one_without_alt_text_gets_no_metadata(fake_x, account):
    post = PostFactory(workspace=account.workspace, text="A big photo")
    big = jpeg(3000, 2400, quality=98, noise=True)
    assert len(big) > 5 * 1024 * 1024
    add_image(post=post, data=big, filename="big.jpg")
    add_image(post=post, data=png(), filename="small.png", alt_text="A blue square")

    assert delivery_send(delivery_id=make_delivery(account, post).id) == "sent"

    [tweet] = fake_x.tweets("1001")
    assert len(tweet["media"]) == 2
    assert len(tweet["media"][0]["bytes"]) <= 5 * 1024 * 1024
    assert tweet["media"][1]["media_type"] == "image/png"
    [metadata] = fake_x.calls_to("POST", METADATA)
    assert metadata.json["metadata"]["alt_text"]["text"] == "A blue square"


def test_a_token_without_media_write_fails_with_xs_reason_and_no_tweet(fake_x, clock):
    fake_x.add_user("1001", "queueloop")
    tokens = fake_x.issue_tokens("1001", scope="tweet.read tweet.write users.read offline.access")
    account = XAccountFactory(handle="queueloop", credentials=oauth2_credentials(tokens))
    post = PostFactory(workspace=account.workspace, text="No scope")
    add_image(post=post, data=png(), filename="a.png", alt_text="A")
    delivery = make_delivery(account, post)

    assert delivery_send(delivery_id=delivery.id) == "failed"

    assert "media.write" in Delivery.objects.get(id=delivery.id).last_error
    assert fake_x.calls_to("POST", "/2/tweets") == []


def test_an_upload_that_times_out_is_retried_not_left_unconfirmed(fake_x, account, clock):
    post = PostFactory(workspace=account.workspace, text="Retry me")
    add_image(post=post, data=png(), filename="a.png", alt_text="A")
    delivery = make_delivery(account, post)
    fake_x.script_exception("POST", UPLOAD, requests.ReadTimeout("slow"))

    assert delivery_send(delivery_id=delivery.id) == "pending"
    assert fake_x.calls_to("POST", "/2/tweets") == []

    clock.shift(dt.timedelta(hours=1))
    assert delivery_send(delivery_id=delivery.id) == "sent"
    assert len(fake_x.tweets("1001")) == 1


def test_a_gif_goes_to_x_as_a_still_png_of_its_first_frame(fake_x, account):
    frames = [Image.new("RGB", (20, 10), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    post = PostFactory(workspace=account.workspace, text="Animated")
    add_image(post=post, data=out.getvalue(), filename="anim.gif", alt_text="Red, then blue")

    assert delivery_send(delivery_id=make_delivery(account, post).id) == "sent"

    [upload] = fake_x.calls_to("POST", UPLOAD)
    assert upload.json["media_type"] == "image/png"
    still = Image.open(io.BytesIO(base64.b64decode(upload.json["media"])))
    assert still.format == "PNG" and still.size == (20, 10)
    assert still.convert("RGB").getpixel((0, 0)) == (255, 0, 0)


def test_oauth1_keys_sign_the_uploads_too(fake_x, clock):
    keys = fake_x.issue_oauth1_keys("1001")
    account = XAccountFactory(handle="keys", credentials={"auth": "oauth1", **keys})
    post = PostFactory(workspace=account.workspace, text="Signed picture")
    add_image(post=post, data=png(), filename="a.png", alt_text="Blue")

    assert delivery_send(delivery_id=make_delivery(account, post).id) == "sent"

    [upload] = fake_x.calls_to("POST", UPLOAD)
    assert upload.headers["Authorization"].startswith("OAuth ")
    [tweet] = fake_x.tweets("1001")
    assert [m["alt_text"] for m in tweet["media"]] == ["Blue"]
