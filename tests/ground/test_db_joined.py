"""ground.db.joined_instances builds a delivery chunk from plain rows: the instances must
be what `select_related(...).only(...)` gives (same values, converters applied, relations
cached, the rest deferred), on PostgreSQL and on SQLite. JoinedQuery gives the same rows
from a statement compiled once; the `__any` lookup selects what `__in` selects."""

import datetime as dt

import pytest
from django.db import connection, models, transaction
from django.db.models import signals
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from accounts.models import SocialAccount
from channels.models import Channel
from ground.db import Ids, JoinedQuery, joined_instances
from publishing.models import Delivery
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


def test_any_selects_what_in_selects(deliveries):
    a, b, c = deliveries
    slot_ids = list(Delivery.objects.filter(id__in=[a, c]).values_list("timeslot_id", flat=True))
    for ids in ([a, c], {c, a}, (b,), [], [a, a, 10**12]):
        want = list(Delivery.objects.filter(id__in=ids).order_by("id"))
        assert list(Delivery.objects.filter(id__any=ids).order_by("id")) == want
    # A foreign key by its attname and by its name, in an UPDATE and in an exclude.
    assert set(Delivery.objects.filter(timeslot_id__any=slot_ids).values_list("id", flat=True)) == {
        a,
        c,
    }
    assert Delivery.objects.filter(timeslot__any=slot_ids).count() == 2
    assert Delivery.objects.exclude(id__any=[a]).filter(id__in=deliveries).count() == 2
    assert Delivery.objects.filter(id__any=[b]).update(last_error="any") == 1
    assert Delivery.objects.get(id=b).last_error == "any"
    # As __in takes them: an instance by its pk, None dropped, a key no column holds.
    want = list(Delivery.objects.filter(id__in=[a, None, c]).order_by("id"))
    assert list(Delivery.objects.filter(id__any=[a, None, c]).order_by("id")) == want
    # A key no 64-bit column holds matches nothing (PostgreSQL would refuse the whole array).
    assert [d.id for d in Delivery.objects.filter(id__any=[2**63, -(2**63) - 1, b])] == [b]
    slot = Timeslot.objects.get(deliveries__id=a)
    want = list(Delivery.objects.filter(timeslot__in=[slot, None]))
    assert list(Delivery.objects.filter(timeslot__any=[slot, None])) == want
    assert [d.id for d in want] == [a]


def test_any_passes_the_list_as_one_parameter(deliveries):
    sql3, params3 = Delivery.objects.filter(id__any=deliveries).query.sql_with_params()
    sql1, params1 = Delivery.objects.filter(id__any=deliveries[:1]).query.sql_with_params()
    assert sql3 == sql1  # the statement does not grow with the list
    assert params3 == (Ids(deliveries),) and type(params3[0]) is Ids
    assert params1 == (Ids(deliveries[:1]),)
    with pytest.raises((TypeError, ValueError)):  # only integers are ever written in
        list(Delivery.objects.filter(id__any=["1); DROP TABLE x; --"]))


CHUNK = JoinedQuery(lambda ids: Delivery.objects.filter(id__any=ids).order_by("id"), fields=FIELDS)


def test_a_joined_query_gives_what_joined_instances_gives(deliveries):
    for ids in (deliveries, deliveries[1:], [deliveries[0]], []):
        want = joined_instances(Delivery.objects.filter(id__in=ids).order_by("id"), fields=FIELDS)
        got = CHUNK.fetch(ids)
        assert [d.id for d in got] == [d.id for d in want] == sorted(ids)
        for g, w in zip(got, want, strict=True):
            assert _loaded(g) == _loaded(w) and g._state.db == w._state.db
            assert _loaded(g.account) == _loaded(w.account)  # decrypted, as values_list does
            assert _loaded(g.timeslot) == _loaded(w.timeslot)  # aware datetimes on SQLite
            assert _loaded(g.timeslot.channel) == _loaded(w.timeslot.channel)


def test_a_joined_query_compiles_once(deliveries, monkeypatch):
    query = JoinedQuery(
        lambda ids: Delivery.objects.filter(id__any=ids).order_by("id"), fields=FIELDS
    )
    compiled = []
    real = JoinedQuery._compile
    monkeypatch.setattr(
        JoinedQuery, "_compile", lambda self, n: compiled.append(n) or real(self, n)
    )
    with CaptureQueriesContext(connection) as queries:
        assert len(query.fetch(deliveries)) == 3
        assert len(query.fetch(deliveries[:2])) == 2
    assert compiled == [1]  # the second run only put its list in
    assert queries[0]["sql"].replace(str(deliveries[2]), "") != queries[0]["sql"]
    assert str(deliveries[2]) not in queries[1]["sql"]


def test_a_joined_query_refuses_what_it_cannot_replay(deliveries):
    # Only the lists are replayed: a slice (or anything else built from them) is refused.
    with pytest.raises(ValueError, match="no slice"):
        JoinedQuery(lambda ids: Delivery.objects.filter(id__any=ids)[:1], fields=FIELDS).fetch([1])
    with pytest.raises(TypeError, match="takes 1 list"):
        CHUNK.fetch(deliveries, deliveries)
    # A list that does not reach the statement as one parameter (an __in) cannot be put in.
    with pytest.raises(ValueError, match="__any"):
        JoinedQuery(lambda ids: Delivery.objects.filter(id__in=ids), fields=FIELDS).fetch([1])
    with pytest.raises(ValueError, match="plain columns"):
        JoinedQuery(
            lambda ids: Delivery.objects.filter(id__any=ids).annotate(n=models.Value(1)),
            fields=FIELDS,
        ).fetch([1])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_locking_joined_query_is_refused_outside_a_transaction_on_every_run(deliveries):
    locked = JoinedQuery(
        lambda ids: Delivery.objects.select_for_update().filter(id__any=ids).order_by("id"),
        fields={"": ["id"]},
    )
    with transaction.atomic():
        assert [d.id for d in locked.fetch(deliveries)] == sorted(deliveries)
    with pytest.raises(TransactionManagementError):  # compiled already: checked here too
        locked.fetch(deliveries)


def test_a_batch_reads_variations_in_their_order(db):
    from posts.models import Post, Variation
    from publishing.claim import _with_variations

    post = PostFactory(text="main")
    Variation.objects.create(post=post, text="second", position=2)  # the lower id
    Variation.objects.create(post=post, text="first", position=1)
    bare = PostFactory(text="alone")
    twin = Post.objects.get(id=post.id)  # one post read twice (a queue entry and a pin)
    with CaptureQueriesContext(connection) as queries:
        _with_variations([post, twin, bare])
    assert len(queries) == 1
    with CaptureQueriesContext(connection) as queries:
        assert post.texts() == twin.texts() == ["main", "first", "second"]
        assert bare.texts() == ["alone"]
    assert len(queries) == 0
    assert Post.objects.get(id=post.id).texts() == post.texts()  # as the query path reads them
