"""Threads through the composer and the API: parts split on `---` lines, each part checked
against every network of the post's channels (one validation path), nothing saved on error."""

from __future__ import annotations

import pytest
from django.urls import reverse

from editor.services import split_thread
from posts.models import Post
from tests.api.test_endpoints import API, client_for
from tests.factories import ChannelFactory, XAccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def x_channel(member):
    channel = ChannelFactory(workspace=member.workspace, slug="tech", with_sandbox=False)
    channel.accounts.add(XAccountFactory(workspace=member.workspace))
    return channel


def test_split_thread_on_separator_lines_only():
    assert split_thread("Two\n---\nThree\r\n---\r\n\n---\nFour --- not a separator") == [
        "Two",
        "Three",
        "Four --- not a separator",
    ]
    assert split_thread("") == []


def test_the_composer_saves_a_thread(web, x_channel):
    response = web.post(
        reverse("post_create"),
        {
            "text": "Part one",
            "thread": "Part two\n---\nPart three",
            "channels": [x_channel.id],
            "status": "ready",
        },
    )
    assert response.status_code == 302
    post = Post.objects.get()
    assert post.thread_parts == ["Part two", "Part three"]
    page = web.get(reverse("post_edit", args=[post.id])).content.decode()
    assert "Part two\n---\nPart three" in page


def test_the_composer_refuses_a_part_over_xs_limit_and_saves_nothing(web, x_channel):
    response = web.post(
        reverse("post_create"),
        {
            "text": "Part one",
            "thread": "fine\n---\n" + "x" * 281,
            "channels": [x_channel.id],
            "status": "ready",
        },
    )
    assert response.status_code == 400
    assert "Thread part 3: X counts this text as 281 characters" in response.content.decode()
    assert not Post.objects.exists()


def test_the_api_creates_and_edits_a_thread(member, x_channel):
    api = client_for(member.user)
    response = api.post(
        f"{API}/posts/",
        {"text": "One", "thread_parts": ["Two", "Three"], "channels": ["tech"]},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["thread_parts"] == ["Two", "Three"]
    post_id = response.json()["id"]
    response = api.patch(f"{API}/posts/{post_id}/", {"thread_parts": ["Only two"]}, format="json")
    assert response.status_code == 200, response.content
    assert Post.objects.get(id=post_id).thread_parts == ["Only two"]


def test_the_api_refuses_a_part_over_the_limit_with_a_400(member, x_channel):
    api = client_for(member.user)
    response = api.post(
        f"{API}/posts/",
        {"text": "One", "thread_parts": ["x" * 281], "channels": ["tech"]},
        format="json",
    )
    assert response.status_code == 400
    assert "Thread part 2: X counts this text as 281" in str(response.json()["thread_parts"])
    assert not Post.objects.exists()


def test_share_now_refuses_a_thread_whose_part_is_too_long_for_the_channel(web, x_channel):
    from posts.models import Post as PostModel
    from scheduling.models import Timeslot
    from tests.factories import PostFactory

    post = PostFactory(workspace=x_channel.workspace, text="Fine", thread_parts=["z" * 281])
    response = web.post(reverse("post_share", args=[post.id]), {"channel": x_channel.id})
    assert response.status_code == 302
    assert not Timeslot.objects.filter(post=post).exists()
    page = web.get(reverse("post_list")).content.decode()
    assert "Thread part 2: X counts this text as 281 characters" in page
    assert PostModel.objects.get(id=post.id).thread_parts == ["z" * 281]


def test_editing_into_an_x_channel_checks_the_thread_and_changes_nothing(web, x_channel):
    from channels.models import QueueEntry
    from tests.factories import PostFactory

    post = PostFactory(workspace=x_channel.workspace, text="Fine", thread_parts=["ok"])
    response = web.post(
        reverse("post_edit", args=[post.id]),
        {"text": "Fine", "thread": "w" * 290, "channels": [x_channel.id], "status": "ready"},
    )
    assert response.status_code == 400
    assert "Thread part 2: X counts this text as 290 characters" in response.content.decode()
    post.refresh_from_db()
    assert post.thread_parts == ["ok"]
    assert not QueueEntry.objects.filter(post=post, channel=x_channel).exists()


def test_the_post_list_says_a_post_is_a_thread(web, x_channel):
    from tests.factories import PostFactory

    PostFactory(workspace=x_channel.workspace, text="Threaded", thread_parts=["2", "3"])
    assert "thread of 3" in web.get(reverse("post_list")).content.decode()
