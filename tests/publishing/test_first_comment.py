"""A post's first comment (publishing/comments.py): posted once under the post, right after
it or after its delay, resumed after a crash without repeating the post, its failure shown
without touching the post; a post without one pays nothing for it."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Notice
from publishing import services as publishing
from publishing.models import Delivery, SandboxPost
from publishing.tasks import send_comments
from scheduling.models import Timeslot
from tests.factories import ChannelFactory, PostFactory, SocialAccountFactory
from tests.publishing.slots import due_slot

C = Delivery.CommentStatus
T0 = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)


def publish(post, channel, now):
    """The slot's batch and its delivery chunk, as the worker runs them."""
    slot = due_slot(channel, now, post=post)
    publishing.timeslots_publish(pairs=[(slot.id, str(slot.token))], now=now)
    ids = list(Delivery.objects.filter(timeslot=slot).values_list("id", flat=True))
    publishing.deliveries_send(delivery_ids=ids, now=now)
    return slot


def comment_messages(broker) -> list[dict]:
    return [m for m in broker.messages() if m["task"] == "publishing.send_comments"]


@pytest.mark.django_db
def test_a_post_goes_out_with_its_first_comment_right_after():
    channel = ChannelFactory()
    post = PostFactory(workspace=channel.workspace, text="New release", first_comment="#launch")
    now = timezone.now()

    slot = publish(post, channel, now)

    delivery = Delivery.objects.get(timeslot=slot)
    row = SandboxPost.objects.get()
    assert (delivery.status, delivery.comment_status) == ("sent", C.SENT)
    assert (row.text, row.comment) == ("New release", "#launch")
    # Its reference is kept on the delivery, as a reply to the post's first part.
    assert delivery.network_state["comment"]["id"] == f"sandbox-{row.id}-comment"
    assert delivery.external_id == f"sandbox-{row.id}"
    slot.refresh_from_db()
    assert slot.status == Timeslot.Status.PUBLISHED


@pytest.mark.django_db
def test_the_delivery_sends_the_comment_the_post_had_when_it_was_made():
    channel = ChannelFactory()
    post = PostFactory(workspace=channel.workspace, first_comment="Link: https://a.example")
    now = timezone.now()
    slot = due_slot(channel, now, post=post)
    publishing.timeslots_publish(pairs=[(slot.id, str(slot.token))], now=now)
    post.first_comment = "Edited later"
    post.save()

    publishing.deliveries_send(
        delivery_ids=list(Delivery.objects.values_list("id", flat=True)), now=now
    )

    assert SandboxPost.objects.get().comment == "Link: https://a.example"


@pytest.mark.django_db
def test_a_network_without_comments_gets_none():
    channel = ChannelFactory(with_sandbox=False)
    channel.accounts.add(
        SocialAccountFactory(workspace=channel.workspace, provider="telegram", handle="news")
    )
    post = PostFactory(workspace=channel.workspace, first_comment="Not here")
    slot = due_slot(channel, timezone.now(), post=post)

    publishing.timeslots_publish(pairs=[(slot.id, str(slot.token))], now=timezone.now())

    delivery = Delivery.objects.get()
    assert (delivery.comment, delivery.comment_status) == ("Not here", C.NOT_HERE)
    assert publishing.comments_send(delivery_ids=[delivery.id]) == {}


@pytest.mark.django_db(transaction=True)
def test_a_delayed_comment_goes_by_a_message_at_its_moment(broker):
    channel = ChannelFactory()
    post = PostFactory(workspace=channel.workspace, first_comment="Later", first_comment_delay=10)

    with time_machine.travel(T0, tick=False):
        slot = publish(post, channel, T0)

    delivery = Delivery.objects.get(timeslot=slot)
    assert (delivery.status, delivery.comment_status) == ("sent", C.DUE)
    assert SandboxPost.objects.get().comment == ""
    [message] = comment_messages(broker)
    assert message["args"] == [[delivery.id]]
    assert message["eta"].startswith("2026-06-01T09:10:00")
    # A message early (a clock ahead) claims nothing.
    with time_machine.travel(T0 + dt.timedelta(minutes=9), tick=False):
        assert publishing.comments_send(delivery_ids=[delivery.id]) == {}
    with time_machine.travel(T0 + dt.timedelta(minutes=10), tick=False):
        # The message's task, as the worker runs it at its eta.
        assert send_comments(*message["args"]) == {C.SENT: 1}
        assert send_comments(*message["args"]) == {}  # delivered twice: nothing more
    assert SandboxPost.objects.get().comment == "Later"


@pytest.mark.django_db
def test_a_stale_or_repeated_comment_message_does_nothing():
    channel = ChannelFactory()
    post = PostFactory(workspace=channel.workspace, first_comment="Once")
    slot = publish(post, channel, timezone.now())
    delivery = Delivery.objects.get(timeslot=slot)
    SandboxPost.objects.update(comment="")  # were it sent again, it would show here

    assert publishing.comments_send(delivery_ids=[delivery.id]) == {}
    assert SandboxPost.objects.get().comment == ""
    # A delivery whose post failed never comments.
    failed = Delivery.objects.create(
        timeslot=slot,
        account=SocialAccountFactory(workspace=channel.workspace),
        text="t",
        comment="x",
        comment_status=C.DUE,
        status="failed",
    )
    assert publishing.comments_send(delivery_ids=[failed.id, 987654]) == {}


@pytest.mark.django_db(transaction=True)
def test_a_crash_between_post_and_comment_resumes_without_repeating_the_post(broker):
    channel = ChannelFactory()
    post = PostFactory(workspace=channel.workspace, first_comment="After the crash")
    with time_machine.travel(T0, tick=False):
        slot = publish(post, channel, T0)
        # The worker died after recording the post, before its comment was claimed.
        Delivery.objects.update(comment_status=C.DUE, network_state={})
        SandboxPost.objects.update(comment="")
    broker.purge()

    result = publishing.deliveries_recover(now=T0 + dt.timedelta(minutes=2))

    delivery = Delivery.objects.get(timeslot=slot)
    assert result.comments_again == 1
    assert [m["args"] for m in comment_messages(broker)] == [[[delivery.id]]]
    assert not [m for m in broker.messages() if m["task"] == "publishing.deliver_batch"]
    assert publishing.comments_send(delivery_ids=[delivery.id]) == {delivery.id: C.SENT}
    assert list(SandboxPost.objects.values_list("text", "comment")) == [
        (post.text, "After the crash")
    ]


@pytest.mark.django_db(transaction=True)
def test_a_comment_abandoned_mid_call_is_repeated_only_where_that_is_safe(broker):
    channel = ChannelFactory(with_sandbox=False)
    for provider in ("sandbox", "x"):
        channel.accounts.add(
            SocialAccountFactory(workspace=channel.workspace, provider=provider, handle=provider)
        )
    slot = due_slot(channel, T0, post=PostFactory(workspace=channel.workspace))
    for account in channel.accounts.all():
        Delivery.objects.create(
            timeslot=slot,
            account=account,
            text="t",
            status="sent",
            sent_at=T0,
            comment="c",
            comment_status=C.SENDING,
            comment_at=T0,
        )

    result = publishing.deliveries_recover(now=T0 + dt.timedelta(minutes=5))

    status = dict(Delivery.objects.values_list("account__provider", "comment_status"))
    assert status == {"sandbox": C.DUE, "x": C.UNCONFIRMED}
    assert (result.comments_again, result.comments_unconfirmed) == (1, 1)
    x = Delivery.objects.get(account__provider="x")
    assert x.status == "sent" and "never posted twice" in x.comment_error
    assert Notice.objects.filter(kind=Notice.Kind.TIMESLOT_UNCONFIRMED).exists()
    sent_again = [m["args"][0] for m in comment_messages(broker)]
    assert sent_again == [[Delivery.objects.get(account__provider="sandbox").id]]


@pytest.mark.django_db
def test_a_failed_comment_leaves_the_post_sent_with_the_error_shown():
    channel = ChannelFactory()
    # Over the sandbox's 500 characters: the network refuses the comment.
    post = PostFactory(workspace=channel.workspace, first_comment="x" * 501)

    slot = publish(post, channel, timezone.now())

    delivery = Delivery.objects.get(timeslot=slot)
    assert (delivery.status, delivery.comment_status) == ("sent", C.FAILED)
    assert "The first comment" in delivery.comment_error and "500" in delivery.comment_error
    assert SandboxPost.objects.count() == 1  # the post, once; no second post
    slot.refresh_from_db()
    assert slot.status == Timeslot.Status.PUBLISHED
    notice = Notice.objects.get(kind=Notice.Kind.TIMESLOT_FAILED)
    assert "first comment did not go out" in notice.message


@pytest.mark.django_db
def test_a_post_that_failed_takes_no_comment_and_says_why():
    channel = ChannelFactory()
    # The post itself over the sandbox's 500 characters: refused for good.
    post = PostFactory(workspace=channel.workspace, text="y" * 501, first_comment="#c")

    slot = publish(post, channel, timezone.now())

    delivery = Delivery.objects.get(timeslot=slot)
    assert (delivery.status, delivery.comment_status) == ("failed", C.FAILED)
    assert "the post itself did not go out" in delivery.comment_error
    assert not SandboxPost.objects.exists()


# The claim and the chunk of one pinned slot to one sandbox account, without a first comment:
# what they cost before first comments existed (22, measured on the tree before them), plus
# the settle's transaction and its one outbox INSERT for the `timeslot.published` event
# (integrations, 3) and the claim's read of the workspace's blackouts (1). A comment must
# add no query to a post that has none.
QUERIES_WITHOUT_COMMENT = 26


@pytest.mark.django_db
def test_a_post_without_a_comment_adds_no_query_to_the_publish_path():
    channel = ChannelFactory()
    post = PostFactory(workspace=channel.workspace)
    now = timezone.now()
    slot = due_slot(channel, now, post=post)

    with CaptureQueriesContext(connection) as queries:
        publishing.timeslots_publish(pairs=[(slot.id, str(slot.token))], now=now)
        publishing.deliveries_send(
            delivery_ids=list(Delivery.objects.values_list("id", flat=True)), now=now
        )

    assert Delivery.objects.get().status == "sent"
    assert len(queries) == QUERIES_WITHOUT_COMMENT, "\n".join(q["sql"][:90] for q in queries)
    assert not [q for q in queries if "FOR UPDATE SKIP LOCKED" in q["sql"]]


@pytest.mark.django_db
def test_the_comments_error_is_shown_on_the_dashboard_the_channel_and_the_api(web, member):
    from django.urls import reverse

    from tests.api.test_endpoints import API, client_for

    channel = ChannelFactory(workspace=member.workspace)
    post = PostFactory(workspace=member.workspace, first_comment="y" * 501)
    slot = publish(post, channel, timezone.now())
    delivery = Delivery.objects.get(timeslot=slot)

    for page in (reverse("dashboard"), reverse("channel_detail", args=[channel.id])):
        body = web.get(page).content.decode()
        assert "First comment: failed" in body, page
        assert "The first comment: " in body, page
    data = client_for(member.user).get(f"{API}/deliveries/{delivery.id}/").json()
    assert (data["status"], data["comment_status"]) == ("sent", "failed")
    assert "500" in data["comment_error"] and data["comment_url"] is None


@pytest.mark.django_db
def test_a_sent_comment_links_to_itself(web, member):
    from django.urls import reverse

    channel = ChannelFactory(workspace=member.workspace)
    post = PostFactory(workspace=member.workspace, first_comment="#ok")
    publish(post, channel, timezone.now())

    body = web.get(reverse("dashboard")).content.decode()

    row = SandboxPost.objects.get()
    assert f'#comment-{row.id}">sent</a>' in body


@pytest.mark.django_db
def test_the_sandbox_timeline_shows_the_comment_under_its_post(web, member):
    from django.urls import reverse

    channel = ChannelFactory(workspace=member.workspace)
    post = PostFactory(workspace=member.workspace, text="The post", first_comment="Its comment")
    publish(post, channel, timezone.now())
    account = channel.accounts.get()

    body = web.get(reverse("sandbox_timeline", args=[account.id])).content.decode()

    row = SandboxPost.objects.get()
    assert body.index("The post") < body.index(f'id="comment-{row.id}"') < body.index("Its comment")


@pytest.mark.django_db
def test_a_comment_whose_post_id_is_unknown_is_never_sent():
    """A person marked an unconfirmed post sent: no id to reply to, so no comment (on X a
    reply to nothing would be a second post)."""
    channel = ChannelFactory()
    slot = due_slot(channel, T0, post=PostFactory(workspace=channel.workspace))
    delivery = Delivery.objects.create(
        timeslot=slot,
        account=channel.accounts.get(),
        text="t",
        status="sent",
        sent_at=T0,
        comment="c",
        comment_status=C.DUE,
    )

    assert publishing.comments_send(delivery_ids=[delivery.id]) == {delivery.id: C.FAILED}
    delivery.refresh_from_db()
    assert "unknown" in delivery.comment_error
    assert not SandboxPost.objects.exists()


@pytest.mark.django_db
def test_a_comment_for_an_account_disabled_since_the_post_is_not_sent():
    channel = ChannelFactory()
    post = PostFactory(workspace=channel.workspace, first_comment="Later", first_comment_delay=5)
    with time_machine.travel(T0, tick=False):
        slot = publish(post, channel, T0)
    channel.accounts.update(status="disabled")

    with time_machine.travel(T0 + dt.timedelta(minutes=5), tick=False):
        delivery = Delivery.objects.get(timeslot=slot)
        assert publishing.comments_send(delivery_ids=[delivery.id]) == {delivery.id: C.FAILED}

    delivery.refresh_from_db()
    assert "needs reconnecting" in delivery.comment_error
    assert SandboxPost.objects.get().comment == ""
