"""The first comment through the composer and the API: saved with its delay, counted per
network that has comments (the others named: it never goes there), refused with a clear
message (400) when too long or its delay out of range, nothing saved."""

from __future__ import annotations

import pytest
from django.urls import reverse

from posts.models import Post
from tests.api.test_endpoints import API, client_for
from tests.factories import ChannelFactory, PostFactory, SocialAccountFactory, XAccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def x_channel(member):
    channel = ChannelFactory(workspace=member.workspace, slug="tech", with_sandbox=False)
    channel.accounts.add(XAccountFactory(workspace=member.workspace))
    return channel


def test_the_composer_saves_a_first_comment_and_its_delay(web, x_channel):
    response = web.post(
        reverse("post_create"),
        {
            "text": "Launch day",
            "first_comment": "  https://example.com #launch  ",
            "first_comment_delay": "5",
            "channels": [x_channel.id],
            "status": "ready",
        },
    )

    assert response.status_code == 302
    post = Post.objects.get()
    assert (post.first_comment, post.first_comment_delay) == ("https://example.com #launch", 5)
    page = web.get(reverse("post_edit", args=[post.id])).content.decode()
    assert "https://example.com #launch</textarea>" in page
    assert 'name="first_comment_delay"' in page and 'value="5"' in page
    listing = web.get(reverse("post_list")).content.decode()
    assert "https://example.com #launch" in listing


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"first_comment": "x" * 281}, "First comment: X counts this text as 281 characters"),
        ({"first_comment": "ok", "first_comment_delay": "61"}, "less than or equal to 60"),
        ({"first_comment": "ok", "first_comment_delay": "-1"}, "greater than or equal to 0"),
        ({"first_comment": "ok", "first_comment_delay": "soon"}, "Enter a whole number"),
    ],
)
def test_the_composer_refuses_a_bad_first_comment_and_saves_nothing(
    web, x_channel, fields, message
):
    response = web.post(
        reverse("post_create"),
        {"text": "Launch", "channels": [x_channel.id], "status": "ready", **fields},
    )

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Post.objects.exists()


def test_the_preview_counts_the_comment_per_network_and_names_those_without(web, member):
    channel = ChannelFactory(workspace=member.workspace, with_sandbox=False)
    channel.accounts.add(XAccountFactory(workspace=member.workspace))
    channel.accounts.add(
        SocialAccountFactory(workspace=member.workspace, provider="telegram", handle="news")
    )

    body = web.get(
        reverse("post_preview"),
        {"text": "Hi", "first_comment": "x" * 281, "channels": [channel.id]},
    ).content.decode()

    assert "281/280" in body
    assert "first comment too long for X" in body
    assert "The first comment will not go to Telegram: it has no comments." in body
    quiet = web.get(reverse("post_preview"), {"text": "Hi", "channels": [channel.id]})
    assert "first comment" not in quiet.content.decode().lower()


def test_the_preview_shows_the_comments_text_under_the_post(web, member):
    channel = ChannelFactory(workspace=member.workspace, with_sandbox=False)
    channel.accounts.add(XAccountFactory(workspace=member.workspace))

    body = web.get(
        reverse("post_preview"),
        {"text": "Hi", "first_comment": "Links <below>", "channels": [channel.id]},
    ).content.decode()

    comment = body[body.index('class="net-part net-comment') :]
    assert '<p class="net-text">Links &lt;below&gt;</p>' in comment[: comment.index("</div>")]


def test_the_api_creates_edits_and_shows_a_first_comment(member, x_channel):
    api = client_for(member.user)
    response = api.post(
        f"{API}/posts/",
        {"text": "One", "first_comment": "#tag", "first_comment_delay": 3, "channels": ["tech"]},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["first_comment"], body["first_comment_delay"]) == ("#tag", 3)
    post_id = body["id"]

    response = api.patch(f"{API}/posts/{post_id}/", {"first_comment": ""}, format="json")

    assert response.status_code == 200, response.content
    post = Post.objects.get(id=post_id)
    assert (post.first_comment, post.first_comment_delay) == ("", 3)
    # Form data too (curl --data).
    response = api.post(
        f"{API}/posts/",
        {"text": "Two", "first_comment": "link", "first_comment_delay": "0", "channels": "tech"},
    )
    assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"first_comment": "x" * 281}, "first_comment", "First comment: X counts this text"),
        ({"first_comment_delay": 61}, "first_comment_delay", "less than or equal to 60"),
        ({"first_comment_delay": "later"}, "first_comment_delay", "A valid integer is required"),
        ({"first_comment": ["a list"]}, "first_comment", "Not a valid string"),
    ],
)
def test_the_api_refuses_a_bad_first_comment_with_a_400(member, x_channel, fields, field, message):
    api = client_for(member.user)

    response = api.post(
        f"{API}/posts/", {"text": "One", "channels": ["tech"], **fields}, format="json"
    )

    assert response.status_code == 400, response.content
    assert message in " ".join(response.json().get(field, [])), response.json()
    assert not Post.objects.exists()


def test_the_api_refuses_a_nul_in_the_comment_sent_as_form_data(member, x_channel):
    api = client_for(member.user)

    response = api.post(
        f"{API}/posts/", {"text": "One", "first_comment": "a\x00b"}, format="multipart"
    )

    assert response.status_code == 400, response.content
    assert "NUL character" in response.json()["detail"]
    assert not Post.objects.exists()


def test_an_api_edit_with_a_comment_too_long_is_a_400_and_changes_nothing(member, x_channel):
    post = PostFactory(workspace=member.workspace, first_comment="kept")
    post.entries.create(channel=x_channel)
    api = client_for(member.user)

    response = api.patch(f"{API}/posts/{post.id}/", {"first_comment": "x" * 281}, format="json")

    assert response.status_code == 400, response.content
    assert "First comment: X counts this text as 281" in response.content.decode()
    post.refresh_from_db()
    assert post.first_comment == "kept"
