"""queueloop.db.joined_instances builds a delivery chunk from plain rows: the instances must
be what `select_related(...).only(...)` gives (same values, converters applied, relations
cached, the rest deferred), on PostgreSQL and on SQLite."""

import datetime as dt

import pytest
from django.db import connection, models
from django.db.models import signals
from django.test.utils import CaptureQueriesContext

from accounts.models import SocialAccount
from channels.models import Channel
from publishing.models import Delivery
from queueloop.db import joined_instances
from scheduling.models import Timeslot
from tests.factories import ChannelFactory, PostFactory, SocialAccountFactory

FIELDS = {
    "": [f.attname for f in Delivery._meta.concrete_fields],
    "account": [f.attname for f in SocialAccount._meta.concrete_fields],
    "timeslot": ["id", "channel_id", "publish_at"],
    "timeslot__channel": [f.attname for f in Channel._meta.concrete_fields],
}


def _orm(ids):
    paths = [f"{p}__{a}" if p else a for p, attnames in FIELDS.items() for a in attnames]
    return list(
        Delivery.objects.filter(id__in=ids)
        .select_related("account", "timeslot__channel")
        .only(*paths)
        .order_by("id")
    )


def _loaded(obj: models.Model) -> dict:
    return {k: v for k, v in vars(obj).items() if not k.startswith("_")}


@pytest.fixture
def deliveries(db):
    made = []
    for i in range(3):
        account = SocialAccountFactory(credentials={"token": f"secret-{i}", "n": i})
        channel = ChannelFactory(workspace=account.workspace, with_sandbox=False)
        post = PostFactory(workspace=account.workspace, text=f"post {i}")
        slot = Timeslot.objects.create(
            channel=channel,
            post=post,
            publish_at=dt.datetime(2026, 12, 6, 18, 0, i, tzinfo=dt.UTC),
            status="publishing",
        )
        made.append(
            Delivery.objects.create(
                timeslot=slot, account=account, post=post, text=post.text, thread_parts=["a", i]
            )
        )
    return [d.id for d in made]


def test_the_instances_equal_the_orms(deliveries):
    want = _orm(deliveries)
    got = joined_instances(Delivery.objects.filter(id__in=deliveries).order_by("id"), fields=FIELDS)
    assert [d.id for d in got] == [d.id for d in want] == sorted(deliveries)
    for g, w in zip(got, want, strict=True):
        assert type(g) is Delivery and g._state.adding is False and g._state.db == w._state.db
        assert _loaded(g) == _loaded(w)
        assert _loaded(g.account) == _loaded(w.account)
        assert _loaded(g.timeslot) == _loaded(w.timeslot)
        assert _loaded(g.timeslot.channel) == _loaded(w.timeslot.channel)
        # Converters applied: decrypted JSON credentials, an aware datetime (SQLite too).
        assert g.account.credentials["token"].startswith("secret-")
        assert g.timeslot.publish_at.tzinfo is not None
        assert g.thread_parts == w.thread_parts and isinstance(g.thread_parts, list)


def test_relations_are_cached_and_unlisted_fields_deferred(deliveries):
    got = joined_instances(Delivery.objects.filter(id__in=deliveries).order_by("id"), fields=FIELDS)
    with CaptureQueriesContext(connection) as queries:
        for d in got:
            assert d.account.id == d.account_id
            assert d.timeslot.channel.id == d.timeslot.channel_id
    assert len(queries) == 0
    slot = got[0].timeslot
    assert slot.get_deferred_fields() == _orm([got[0].id])[0].timeslot.get_deferred_fields()
    assert "token" in slot.get_deferred_fields()
    with CaptureQueriesContext(connection) as queries:
        assert slot.token == Timeslot.objects.get(id=slot.id).token  # loads on access
    assert len(queries) == 2
    # A loaded instance saves as the ORM's would: only its own loaded fields.
    got[0].last_error = "checked"
    got[0].save(update_fields=["last_error"])
    assert Delivery.objects.get(id=got[0].id).last_error == "checked"


def test_a_model_with_init_receivers_is_built_by_the_orm(deliveries):
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance.id)

    signals.post_init.connect(receiver, sender=SocialAccount)
    try:
        got = joined_instances(
            Delivery.objects.filter(id__in=deliveries).order_by("id"), fields=FIELDS
        )
    finally:
        signals.post_init.disconnect(receiver, sender=SocialAccount)
    assert seen == [d.account_id for d in got]  # through Model.__init__, so post_init ran
    assert _loaded(got[0].account) == _loaded(_orm([got[0].id])[0].account)


def test_every_path_starts_with_its_primary_key(db):
    with pytest.raises(ValueError, match="must start with 'id'"):
        joined_instances(Delivery.objects.all(), fields={"": ["id"], "account": ["provider"]})


def test_a_path_must_be_a_foreign_key_listed_after_its_parent(db):
    with pytest.raises(ValueError, match="not a foreign key"):
        joined_instances(
            Delivery.objects.all(),
            fields={"": ["id"], "timeslot__channel": ["id"], "timeslot": ["id"]},
        )
    with pytest.raises(ValueError, match="not a foreign key"):  # a reverse relation
        joined_instances(Timeslot.objects.all(), fields={"": ["id"], "deliveries": ["id"]})
