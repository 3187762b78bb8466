"""A channel's queue and history as CSV: the queue in the import's columns (so it imports
back), the history one line per delivery; formula cells defused."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership
from bulk import imports
from posts.models import Post
from publishing.models import Delivery
from scheduling.models import Timeslot
from tests.factories import (
    ChannelFactory,
    MembershipFactory,
    QueueEntryFactory,
    ScheduleFactory,
    SocialAccountFactory,
    VariationFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def tech(member):
    return ChannelFactory(workspace=member.workspace, name="#tech", slug="tech")


def read(response) -> list[dict]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_the_queue_exports_with_counts_and_imports_back(web, member, tech):
    first = QueueEntryFactory(channel=tech, post__text="First post", position=1)
    first.times_published, first.max_publications = 4, 10
    first.last_published_at = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
    first.save()
    VariationFactory(post=first.post, text="First, again", position=1)
    QueueEntryFactory(channel=tech, post__text="=HYPERLINK(evil)", position=2)
    spent = QueueEntryFactory(channel=tech, post__text="Spent", position=3)
    spent.is_active = False
    spent.save()

    rows = read(web.get(reverse("channel_export_queue", args=[tech.id])))
    assert [r["text"] for r in rows] == ["First post", "'=HYPERLINK(evil)", "Spent"]
    assert rows[0] == {
        "text": "First post",
        "variations": "First, again",
        "channels": "#tech",
        "publish_at": "",
        "max_publications": "10",
        "image_url": "",
        "position": "1",
        "active": "yes",
        "times_published": "4",
        "last_published_at": "2026-05-01T12:00:00+00:00",
    }
    assert rows[2]["active"] == "no"

    # The same file imports back into a fresh queue, formula guard taken off.
    body = b"".join(web.get(reverse("channel_export_queue", args=[tech.id])).streaming_content)
    other = MembershipFactory()
    ChannelFactory(workspace=other.workspace, name="#tech", slug="tech")
    job = imports.import_preview(
        workspace=other.workspace, user=other.user, filename="q.csv", data=body
    )
    assert (job.total, job.errors) == (3, 0)
    [row] = job.rows.filter(line=3)
    assert row.data["text"] == "=HYPERLINK(evil)"
    assert job.rows.get(line=2).data["variations"] == ["First, again"]


def test_the_history_has_one_line_per_delivery(web, member, tech):
    account = SocialAccountFactory(workspace=member.workspace, handle="demo")
    tech.accounts.add(account)
    post = QueueEntryFactory(channel=tech, post__text="Hello").post
    schedule = ScheduleFactory(channel=tech)
    now = timezone.now()
    sent_at = now - dt.timedelta(hours=2)
    published = Timeslot.objects.create(
        channel=tech, schedule=schedule, publish_at=sent_at, planned_for=sent_at,
        status=Timeslot.Status.PUBLISHED, published_post=post, published_text="Hello",
    )  # fmt: skip
    Delivery.objects.create(
        timeslot=published, account=account, post=post, text="Hello",
        status=Delivery.Status.SENT, url="https://example.com/1", sent_at=sent_at,
    )  # fmt: skip
    missed_at = now - dt.timedelta(hours=1)
    Timeslot.objects.create(
        channel=tech, schedule=schedule, publish_at=missed_at, planned_for=missed_at,
        status=Timeslot.Status.MISSED, reason="The planner was down",
    )  # fmt: skip
    future = now + dt.timedelta(hours=3)
    Timeslot.objects.create(channel=tech, schedule=schedule, publish_at=future, planned_for=future)

    rows = read(web.get(reverse("channel_export_history", args=[tech.id])))
    assert [(r["status"], r["account"], r["delivery_status"]) for r in rows] == [
        ("missed", "", ""),
        ("published", "demo", "sent"),
    ]
    assert rows[0]["reason"] == "The planner was down"
    assert rows[1]["url"] == "https://example.com/1" and rows[1]["text"] == "Hello"
    assert rows[1]["publish_at"] == sent_at.isoformat()


def test_export_is_scoped_to_the_workspace(web, member, tech):
    other = ChannelFactory()
    assert web.get(reverse("channel_export_queue", args=[other.id])).status_code == 404
    assert web.get(reverse("channel_export_history", args=[other.id])).status_code == 404


@pytest.mark.parametrize("role", [Membership.Role.VIEWER, Membership.Role.APPROVER])
def test_a_viewer_may_export(client, member, tech, role):
    viewer = MembershipFactory(workspace=member.workspace, role=role)
    client.force_login(viewer.user)
    assert read(client.get(reverse("channel_export_queue", args=[tech.id]))) == []


def test_the_channel_page_links_to_export_and_feeds(web, tech):
    html = web.get(reverse("channel_detail", args=[tech.id])).content.decode()
    assert reverse("channel_export_queue", args=[tech.id]) in html
    assert reverse("channel_export_history", args=[tech.id]) in html
    assert reverse("channel_feeds", args=[tech.id]) in html
    assert reverse("import_upload") in web.get(reverse("post_list")).content.decode()


def test_export_queries_do_not_grow_with_the_queue(web, tech, django_assert_max_num_queries):
    for i in range(30):
        VariationFactory(post=QueueEntryFactory(channel=tech, post__text=f"p{i}").post, text="v")
    with django_assert_max_num_queries(12):
        rows = read(web.get(reverse("channel_export_queue", args=[tech.id])))
    assert len(rows) == 30 and Post.objects.count() == 30


def test_history_export_queries_do_not_grow_with_the_slots(
    web, member, tech, django_assert_max_num_queries
):
    account = SocialAccountFactory(workspace=member.workspace)
    schedule = ScheduleFactory(channel=tech)
    now = timezone.now()
    for i in range(1, 31):
        at = now - dt.timedelta(hours=i)
        slot = Timeslot.objects.create(
            channel=tech, schedule=schedule, publish_at=at, planned_for=at,
            status=Timeslot.Status.PUBLISHED, published_text=f"t{i}",
        )  # fmt: skip
        Delivery.objects.create(timeslot=slot, account=account, text=f"t{i}", status="sent")
    with django_assert_max_num_queries(12):
        rows = read(web.get(reverse("channel_export_history", args=[tech.id])))
    assert len(rows) == 30 and rows[0]["text"] == "t1" and rows[-1]["text"] == "t30"


def test_history_export_reads_in_keyset_chunks_without_gaps_or_repeats(
    web, member, tech, monkeypatch
):
    """Chunks of BATCH slots, each after the last one sent by (publish_at, id): slots that
    share an instant across a chunk's edge come out once each, newest first."""
    from bulk import exports

    monkeypatch.setattr(exports, "BATCH", 3)
    account = SocialAccountFactory(workspace=member.workspace)
    schedule = ScheduleFactory(channel=tech)
    now = timezone.now()
    made = []
    for i in range(8):
        at = now - dt.timedelta(hours=1 + i // 4)  # two instants of four slots each
        slot = Timeslot.objects.create(
            channel=tech, schedule=None if i % 4 else schedule, post=None if i % 4 == 0
            else QueueEntryFactory(channel=tech).post, publish_at=at, planned_for=at,
            status=Timeslot.Status.PUBLISHED, published_text=f"t{i}",
        )  # fmt: skip
        Delivery.objects.create(timeslot=slot, account=account, text="", status="sent")
        made.append(slot)
    with CaptureQueriesContext(connection) as ctx:
        rows = read(web.get(reverse("channel_export_history", args=[tech.id])))
    expected = sorted(made, key=lambda s: (s.publish_at, s.id), reverse=True)
    reads = [q["sql"] for q in ctx.captured_queries if 'FROM "scheduling_timeslot"' in q["sql"]]
    # Bounded reads, no cursor over the whole history: 8 slots in chunks of 3.
    assert len(reads) == 3 and all(sql.endswith("LIMIT 3") for sql in reads)
    assert [r["text"] for r in rows] == [s.published_text for s in expected]
