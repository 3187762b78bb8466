"""Channel names are unique per workspace ignoring case (a UniqueConstraint on Lower(name)),
and the CSV import matches a channel by its exact name or slug. Before, the API accepted
`DTSTART` next to `dtstart` and the import matched names ignoring case, first match
winning, so imported posts could land in the wrong channel."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

from bulk.import_rows import parse_file
from channels.models import Channel
from tests.conftest import wait_for
from tests.factories import ChannelFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def upper(member):
    return ChannelFactory(workspace=member.workspace, name="DTSTART", slug="dtstart")


def test_the_api_refuses_a_name_that_differs_only_in_case(api, member, upper):
    other = ChannelFactory(workspace=member.workspace, name="news", slug="news")
    response = api.patch(f"/api/v1/channels/{other.id}/", {"name": "dtstart"}, format="json")
    assert response.status_code == 400, response.content
    assert "already has a channel" in " ".join(response.json()["name"])
    other.refresh_from_db()
    assert other.name == "news"
    # Renaming a channel to its own name in another case is fine.
    response = api.patch(f"/api/v1/channels/{upper.id}/", {"name": "DtStart"}, format="json")
    assert response.status_code == 200, response.content
    assert Channel.objects.get(pk=upper.pk).name == "DtStart"


def test_the_web_form_refuses_it_too(web, member, upper):
    response = web.post(reverse("channel_create"), {"name": "dtstart", "timezone": "UTC"})
    assert response.status_code == 400
    assert "already has a channel" in response.content.decode()
    assert Channel.objects.filter(workspace=member.workspace).count() == 1


def test_the_database_refuses_it_and_full_clean_says_why(member, upper):
    clash = Channel(workspace=member.workspace, name="dtStart", slug="other")
    with pytest.raises(ValidationError, match="already has a channel"):
        clash.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        clash.save()
    # Another workspace may use the name.
    ChannelFactory(workspace=WorkspaceFactory(), name="dtstart", slug="dtstart")


def test_csv_import_matches_names_and_slugs_exactly(member):
    ws = member.workspace
    tech = ChannelFactory(workspace=ws, name="Tech News", slug="tech-news")
    # A channel renamed after it got its slug: "b-side" is its slug and another's name.
    alpha = ChannelFactory(workspace=ws, name="Alpha", slug="b-side")
    b_side = ChannelFactory(workspace=ws, name="b-side", slug="b-side-2")
    hash_tag = ChannelFactory(workspace=ws, name="#launch", slug="launch")
    data = (
        b"text,channels\n"
        b"by name,Tech News\n"
        b"by slug,tech-news\n"
        b"name beats another's slug,b-side\n"
        b"slug,b-side-2\n"
        b"renamed one by slug,Alpha;b-side-2\n"
        b"without the hash,launch\n"
        b"with the hash,#launch\n"
        b"wrong case,tech news\n"
        b"wrong case slug,Tech-News\n"
    )
    rows = parse_file(workspace=ws, data=data).rows
    picked = {r.data["text"]: r.data["channels"] for r in rows}
    assert picked["by name"] == [tech.id]
    assert picked["by slug"] == [tech.id]
    assert picked["name beats another's slug"] == [b_side.id]
    assert picked["slug"] == [b_side.id]
    assert picked["renamed one by slug"] == [alpha.id, b_side.id]
    assert picked["without the hash"] == [hash_tag.id]
    assert picked["with the hash"] == [hash_tag.id]
    errors = {r.data["text"]: r.errors for r in rows}
    assert picked["wrong case"] == [] and errors["wrong case"] == [
        "Unknown channel(s): tech news. Names must match exactly, case included: "
        "did you mean “Tech News”?"
    ]
    assert picked["wrong case slug"] == [] and "“Tech News”" in errors["wrong case slug"][0]


@pytest.mark.django_db(transaction=True)
def test_the_migration_renames_existing_clashes_before_the_constraint():
    executor = MigrationExecutor(connection)
    executor.migrate([("channels", "0002_channel_unique_name")])
    old = executor.loader.project_state([("channels", "0002_channel_unique_name")]).apps
    Workspace = old.get_model("accounts", "Workspace")
    OldChannel = old.get_model("channels", "Channel")
    ws = Workspace.objects.create(name="W", slug="w")
    other_ws = Workspace.objects.create(name="V", slug="v")
    long_name = "x" * 100
    names = ["DTSTART", "dtstart", "DtStart", "dtstart (2)", long_name, long_name.upper()]
    for i, name in enumerate(names):
        OldChannel.objects.create(workspace=ws, name=name, slug=f"c{i}")
    OldChannel.objects.create(workspace=other_ws, name="dtstart", slug="c")

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    after = dict(Channel.objects.filter(workspace_id=ws.id).values_list("slug", "name"))
    assert after["c0"] == "DTSTART"  # the oldest keeps its name
    assert after["c1"] == "dtstart (3)"  # "(2)" is taken, ignoring case
    assert after["c2"] == "DtStart (4)"
    assert after["c3"] == "dtstart (2)"
    assert after["c4"] == long_name
    assert after["c5"] == "X" * 96 + " (2)" and len(after["c5"]) == 100
    assert Channel.objects.get(workspace_id=other_ws.id).name == "dtstart"
    assert len({n.lower() for n in after.values()}) == len(after)


def test_the_admin_refuses_it_on_a_channel_whose_workspace_is_fixed(client, member, upper):
    """Once a channel has links its workspace is read-only in the admin, so Django's own
    constraint check skips the constraint: the form checks the name itself."""
    from tests.factories import QueueEntryFactory, UserFactory

    other = ChannelFactory(workspace=member.workspace, name="news", slug="news")
    QueueEntryFactory(channel=other)  # pins the workspace
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    response = client.post(
        reverse("admin:channels_channel_change", args=[other.pk]),
        {
            "name": "dtstart",
            "slug": "news",
            "timezone": "UTC",
            "mode": "loop",
            "entries-TOTAL_FORMS": "0",
            "entries-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert "already has a channel" in response.content.decode()
    other.refresh_from_db()
    assert other.name == "news"


def lock_waiters() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_saves_racing_for_one_name_give_the_loser_a_form_error_not_a_500():
    """Both pass full_clean (neither sees the other's uncommitted row); the second then waits
    on the unique index and fails when the first commits. That is the form's name error."""
    import threading

    from scheduling.services import channel_save

    workspace = WorkspaceFactory()
    inserted, release = threading.Event(), threading.Event()

    def first():
        try:
            with transaction.atomic():
                Channel.objects.create(workspace=workspace, name="DTSTART", slug="dtstart")
                inserted.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=first)
    holder.start()
    assert inserted.wait(10)
    loser = Channel(workspace=workspace, name="dtstart", slug="dtstart-2")
    loser.full_clean()  # passes: the first row is not committed yet
    outcome: list[BaseException] = []

    def second():
        try:
            channel_save(channel=loser)
        except BaseException as exc:
            outcome.append(exc)
        finally:
            connection.close()

    racer = threading.Thread(target=second)
    racer.start()
    wait_for(lock_waiters, what="the second save to wait on the unique index")
    release.set()  # the first commits while the second waits on the index
    holder.join(10)
    racer.join(10)

    [error] = outcome
    assert isinstance(error, ValidationError), repr(error)
    assert "already has a channel" in " ".join(error.message_dict["name"])
    assert list(Channel.objects.filter(workspace=workspace).values_list("name", flat=True)) == [
        "DTSTART"
    ]
