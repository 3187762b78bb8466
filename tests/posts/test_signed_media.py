"""Post images are served only through signed URLs that expire (posts.signed_media): an
unsigned, tampered or expired URL is refused, a signed one works until its expiry, and a
member removed from the workspace gets no new URLs while the ones they kept die."""

from __future__ import annotations

import datetime as dt
import re
from html import unescape

import pytest
import time_machine
from django.test import Client
from django.urls import resolve, reverse

from accounts.models import Membership
from networks import get_provider
from posts import media_views, signed_media
from tests.factories import MembershipFactory, PostFactory, SocialAccountFactory
from tests.posts.test_images import add_image, make_delivery, png

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def image():
    post = PostFactory(text="With a picture")
    return add_image(post=post, data=png(), filename="a.png", alt_text="A blue square")


def fetch(url: str):
    return Client().get(url)  # no session: a signed URL needs none


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def image_urls(page: str) -> list[str]:
    return [unescape(u) for u in re.findall(r'<img src="([^"]+)"', page)]


def test_a_signed_url_serves_the_image_and_an_unsigned_or_tampered_one_is_refused(image):
    url = image.file.url
    path, query = url.split("?")
    assert path == f"/media/{image.file.name}"
    served = fetch(url)
    assert served.status_code == 200 and served["Content-Type"] == "image/png"
    assert body(served) == image.file.open("rb").read()
    assert served["Cache-Control"].startswith("private, max-age=")

    params = dict(p.split("=", 1) for p in query.split("&"))
    later = int(params["e"]) + 10 * 365 * 86400
    other = add_image(post=image.post, data=png(8, 8), filename="b.png")
    refused = [
        path,  # unsigned: what worked before for anyone who knew the name
        f"{path}?e={params['e']}",
        f"{path}?s={params['s']}",
        f"{path}?e={later}&s={params['s']}",  # a longer life, same signature
        f"{path}?e={params['e']}&s={params['s'][:-2]}AA",
        f"{path}?e=-{params['e']}&s={params['s']}",
        f"/media/{other.file.name}?{query}",  # another file under this file's signature
    ]
    for attempt in refused:
        response = fetch(attempt)
        assert response.status_code == 403, attempt
        assert "not valid or has expired" in response.content.decode()
    assert fetch(other.file.url).status_code == 200


def test_a_signed_url_works_until_its_expiry_and_not_after(settings, image):
    settings.MEDIA_URL_MAX_AGE = 600
    with time_machine.travel(T0, tick=False):
        url = image.file.url
        assert image.file.url == url  # pages rendered together share a URL (browser cache)
    # Valid for at least MEDIA_URL_MAX_AGE, at most a tenth longer.
    with time_machine.travel(T0 + dt.timedelta(seconds=599), tick=False):
        response = fetch(url)
        assert response.status_code == 200
        assert 0 < int(response["Cache-Control"].rsplit("=", 1)[1]) <= 61
    with time_machine.travel(T0 + dt.timedelta(seconds=661), tick=False):
        assert fetch(url).status_code == 403
        assert fetch(image.file.url).status_code == 200  # a fresh page gets a fresh URL


def test_a_removed_member_gets_no_new_urls_and_the_kept_ones_die(settings, client, image):
    settings.MEDIA_URL_MAX_AGE = 600
    post = image.post
    member = MembershipFactory(workspace=post.workspace, role=Membership.Role.EDITOR)
    MembershipFactory(user=member.user)  # and a member of another workspace, which stays
    sandbox = SocialAccountFactory(workspace=post.workspace, provider="sandbox")
    get_provider("sandbox").publish(make_delivery(sandbox, post))
    pages = [reverse("post_images", args=[post.id]), reverse("sandbox_timeline", args=[sandbox.id])]
    client.force_login(member.user)
    with time_machine.travel(T0, tick=False):
        kept = []
        for page in pages:
            response = client.get(page)
            assert response.status_code == 200
            [url] = image_urls(response.content.decode())
            assert fetch(url).status_code == 200
            kept.append(url)

        Membership.objects.filter(id=member.id).delete()

        for page in pages:
            response = client.get(page)
            assert response.status_code == 404
            assert image_urls(response.content.decode()) == []
    with time_machine.travel(T0 + dt.timedelta(seconds=599), tick=False):
        assert all(fetch(url).status_code == 200 for url in kept)  # until they expire
    with time_machine.travel(T0 + dt.timedelta(seconds=661), tick=False):
        assert all(fetch(url).status_code == 403 for url in kept)


def test_a_valid_signature_reaches_no_file_outside_the_media_root(settings, tmp_path, image):
    """Even with a signature (which nobody outside has for such a name), the storage keeps
    the path inside MEDIA_ROOT, and a missing file is a 404."""
    secret = tmp_path / "secret.txt"
    secret.write_text("not an image")
    for name in ("../secret.txt", "posts/missing.png", "posts"):
        url = f"/media/{name}?{signed_media.query(name, max_age=600)}"
        response = fetch(url)
        assert response.status_code == 404, name
        assert b"not an image" not in response.content


def test_only_get_and_head(image):
    url = image.file.url
    assert Client().head(url).status_code == 200
    assert Client().post(url).status_code == 405


def test_media_url_goes_to_the_signed_view_not_a_static_file_server():
    """No route serves MEDIA_ROOT as a directory (django.views.static.serve was it)."""
    assert resolve("/media/posts/2026/06/x.png").func is media_views.media_file
