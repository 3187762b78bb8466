"""publishing/sql.py reads a publish batch's channels and variations in plain SQL, and
ground.db.insert_returning_ids writes its deliveries: each must give what the ORM gives,
on the database the tests run on (PostgreSQL in CI; DATABASE_URL=sqlite:///... for SQLite)."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from channels.models import Channel
from ground.db import insert_returning_ids
from posts.models import Variation
from publishing import sql
from publishing.models import Delivery
from scheduling.models import Timeslot
from tests.factories import ChannelFactory, PostFactory, SocialAccountFactory

AT = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)


@pytest.mark.django_db(transaction=True)
def test_locked_channels_are_the_orms_and_locked_in_id_order():
    rnd = random.Random(4)
    made = [
        ChannelFactory(
            with_sandbox=False,
            is_paused=rnd.random() < 0.5,
            mode=rnd.choice(["loop", "once"]),
            count_clicks=rnd.random() < 0.5,
            utm_campaign=rnd.choice(["{channel}", "spring"]),
        )
        for _ in range(5)
    ]
    ids = [c.id for c in made][::-1][:4]
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        got = sql.channels_locked(ids + ids[:1])
    assert list(got) == sorted(ids)
    for channel in Channel.objects.filter(id__in=ids):
        row = got[channel.id]
        assert (row.workspace_id, row.name, row.is_paused, row.mode) == (
            channel.workspace_id,
            channel.name,
            channel.is_paused,
            channel.mode,
        )
        assert type(row.is_paused) is bool
        assert (row.slug, row.count_clicks, row.utm) == (
            channel.slug,
            channel.count_clicks,
            (channel.utm_source, channel.utm_medium, channel.utm_campaign, channel.utm_content),
        )
        assert type(row.count_clicks) is bool
    assert len(queries) == 1
    statement = queries[0]["sql"]
    assert "ORDER BY id" in statement
    assert ("FOR UPDATE" in statement) == (connection.vendor == "postgresql")
    assert sql.channels_locked([]) == {}


@pytest.mark.django_db
@pytest.mark.parametrize("seed", range(4))
def test_variations_are_the_orms_in_the_models_order(seed):
    rnd = random.Random(seed)
    posts = [PostFactory() for _ in range(4)]
    for _ in range(12):
        Variation.objects.create(
            post=rnd.choice(posts), text=f"v {rnd.random()} 100%", position=rnd.randrange(3)
        )
    asked = [p.id for p in posts[:3]]
    got = sql.variations_by_post(asked + asked)
    for post in posts[:3]:
        want = [v.text for v in Variation.objects.filter(post=post)]  # the model's ordering
        assert [v.text for v in got.get(post.id, [])] == want
        # What Post.texts() reads from variation_list.
        post.variation_list = got.get(post.id, [])
        assert post.texts() == [post.text, *want]
    assert posts[3].id not in got
    assert sql.variations_by_post([]) == {}


@pytest.mark.django_db
def test_inserted_deliveries_equal_the_orms_defaults():
    account = SocialAccountFactory()
    channel = ChannelFactory(workspace=account.workspace, with_sandbox=False)
    post = PostFactory(workspace=account.workspace)
    slots = [
        Timeslot.objects.create(channel=channel, post=post, publish_at=AT + dt.timedelta(seconds=i))
        for i in range(3)
    ]
    rows = [
        {
            "timeslot_id": slot.id,
            "account_id": account.id,
            "post_id": post.id,
            "text": f"100% sure {i} %s %(x)s",  # percent signs stay text
            "thread_parts": ["a", i],
            "dispatched_at": AT,
        }
        for i, slot in enumerate(slots)
    ]
    ids = insert_returning_ids(Delivery, rows)
    assert len(ids) == 3
    orm = Delivery.objects.create(
        timeslot=Timeslot.objects.create(channel=channel, post=post, publish_at=AT),
        account=account,
        post=post,
        text="x",
    )
    skip = {"id", "timeslot", "text", "thread_parts", "dispatched_at", "created_at", "updated_at"}
    for delivery_id, row in zip(ids, rows, strict=True):
        got = Delivery.objects.get(id=delivery_id)
        assert (got.timeslot_id, got.text, got.thread_parts, got.dispatched_at) == (
            row["timeslot_id"],
            row["text"],
            row["thread_parts"],
            AT,
        )
        for field in Delivery._meta.concrete_fields:
            if field.name not in skip:
                assert getattr(got, field.attname) == getattr(orm, field.attname), field.name
    assert insert_returning_ids(Delivery, []) == []
