"""The API's channels as the web UI has them (issue 29, item 1): create, edit (accounts
too), pause/resume, delete one that never published (409 otherwise), and the queue: read
its order, set it, cap or requeue an entry, remove one. Each with another workspace's ids
(404) and each role (a viewer reads, never writes)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Membership
from channels.models import Channel, QueueEntry
from scheduling.models import Schedule, Timeslot
from scheduling.services import schedule_save
from tests.api.test_endpoints import API, client_for, member
from tests.factories import (
    ChannelFactory,
    DeliveryFactory,
    PostFactory,
    QueueEntryFactory,
    ScheduleFactory,
    SocialAccountFactory,
    TimeslotFactory,
    WorkspaceFactory,
    rule,
)

pytestmark = pytest.mark.django_db
ROLES = [Membership.Role.OWNER, Membership.Role.EDITOR, Membership.Role.VIEWER]


@pytest.fixture
def ws():
    return WorkspaceFactory(slug="acme")


@pytest.fixture
def api(ws):
    return client_for(member(ws, Membership.Role.EDITOR))


@pytest.fixture
def viewer(ws):
    return client_for(member(ws, Membership.Role.VIEWER))


@pytest.fixture
def channel(ws):
    return ChannelFactory(workspace=ws, slug="tech", name="#tech", with_sandbox=False)


@pytest.fixture
def foreign():
    """Another workspace's channel with a queue entry and an account."""
    rival = WorkspaceFactory(slug="rival")
    channel = ChannelFactory(workspace=rival, with_sandbox=False)
    entry = QueueEntryFactory(channel=channel)
    return {"channel": channel, "entry": entry, "account": SocialAccountFactory(workspace=rival)}


# --- Create, edit --------------------------------------------------------------------------


def test_create_a_channel_with_accounts_as_the_web_form_does(api, ws):
    account = SocialAccountFactory(workspace=ws)
    body = {"name": "News desk", "timezone": "Europe/Paris", "accounts": [account.id]}

    response = api.post(f"{API}/channels/", body, format="json")

    assert response.status_code == 201, response.content
    data = response.json()
    channel = Channel.objects.get(id=data["id"])
    assert (channel.slug, channel.timezone, channel.workspace) == ("news-desk", "Europe/Paris", ws)
    assert [a["id"] for a in data["accounts"]] == [account.id]
    assert data["mode"] == "loop" and data["is_paused"] is False
    # The same slug rule as the web form: a second "News desk!" gets -2.
    again = api.post(f"{API}/channels/", {"name": "News-Desk!", "timezone": "UTC"}, format="json")
    assert again.json()["slug"] == "news-desk-2"


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"name": "  ", "timezone": "UTC"}, "name", "needs a name"),
        ({"name": "#tech", "timezone": "UTC"}, "name", "already has a channel"),
        ({"name": "x", "timezone": "Mars/Olympus"}, "timezone", ""),
        ({"name": "x", "timezone": "UTC", "mode": "sometimes"}, "mode", ""),
        ({"name": "x", "timezone": "UTC", "accounts": ["a"]}, "accounts", ""),
        ({"name": "x", "timezone": "UTC", "workspace": "rival"}, "workspace", "not a member"),
    ],
)
def test_bad_channel_input_is_a_400_that_names_the_field(api, channel, foreign, body, field, words):
    before = Channel.objects.count()
    response = api.post(f"{API}/channels/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert words in " ".join(map(str, response.json()[field]))
    assert Channel.objects.count() == before


def test_another_workspaces_account_is_unknown_not_linked(api, channel, foreign):
    response = api.patch(
        f"{API}/channels/{channel.id}/", {"accounts": [foreign["account"].id]}, format="json"
    )
    assert response.status_code == 400
    assert "Unknown account" in response.json()["accounts"][0]
    assert not channel.accounts.exists()


def test_edit_renames_changes_mode_and_accounts(api, ws, channel):
    first, second = SocialAccountFactory(workspace=ws), SocialAccountFactory(workspace=ws)
    channel.accounts.add(first)
    response = api.patch(
        f"{API}/channels/{channel.id}/",
        {"name": "Tech news", "mode": "once", "accounts": [second.id]},
        format="json",
    )
    assert response.status_code == 200, response.content
    channel.refresh_from_db()
    assert (channel.name, channel.mode, channel.slug) == ("Tech news", "once", "tech")
    assert list(channel.accounts.all()) == [second]


def test_pause_and_resume_re_plan_the_schedules(api, channel):
    # Every half hour: the planning window (75 min) always holds some of its slots.
    schedule_save(
        schedule=Schedule(
            channel=channel, name="half-hourly", recurrence=rule("RRULE:FREQ=HOURLY;BYMINUTE=0,30")
        )
    )
    scheduled = Timeslot.objects.filter(channel=channel, status="scheduled")
    assert scheduled.exists()

    paused = api.post(f"{API}/channels/{channel.id}/pause/")
    assert paused.status_code == 200 and paused.json()["is_paused"] is True
    assert not scheduled.exists()

    resumed = api.post(f"{API}/channels/{channel.id}/resume/")
    assert resumed.status_code == 200 and resumed.json()["is_paused"] is False
    assert scheduled.exists()  # planned again at once, as the web UI's resume does


# --- Delete --------------------------------------------------------------------------------


@pytest.fixture
def owner(ws):
    return client_for(member(ws, Membership.Role.OWNER))


def test_an_owner_deletes_a_channel_that_never_published(owner, api, channel):
    ScheduleFactory(channel=channel)
    QueueEntryFactory(channel=channel)
    TimeslotFactory(channel=channel, status=Timeslot.Status.CANCELED)

    # Editors pause, owners delete (publishing/removal_views.py, the same rule).
    refused = api.delete(f"{API}/channels/{channel.id}/")
    assert refused.status_code == 403 and "owners" in refused.json()["detail"]
    assert owner.delete(f"{API}/channels/{channel.id}/").status_code == 204
    assert not Channel.objects.filter(id=channel.id).exists()
    assert not Schedule.objects.exists() and not QueueEntry.objects.exists()


def test_a_channel_that_published_is_refused_with_409_and_kept(owner, channel):
    DeliveryFactory(timeslot=TimeslotFactory(channel=channel, status="published"))

    response = owner.delete(f"{API}/channels/{channel.id}/")

    assert response.status_code == 409
    assert "Pause it instead" in response.json()["detail"]
    assert Channel.objects.filter(id=channel.id).exists()


# --- The queue -------------------------------------------------------------------------------


@pytest.fixture
def queue(ws, channel):
    posts = [PostFactory(workspace=ws, text=f"post {n}") for n in range(4)]
    entries = [
        QueueEntryFactory(channel=channel, post=p, position=n) for n, p in enumerate(posts, 1)
    ]
    QueueEntry.objects.filter(id=entries[3].id).update(is_active=False)
    return posts


def test_the_queue_reads_in_order_active_first(api, channel, queue):
    response = api.get(f"{API}/channels/{channel.id}/queue/")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 4
    assert [e["post"] for e in body["results"]] == [p.id for p in queue]
    assert [e["is_active"] for e in body["results"]] == [True, True, True, False]
    active = api.get(f"{API}/channels/{channel.id}/queue/", {"is_active": "true"}).json()
    assert active["count"] == 3


def test_queue_order_puts_the_given_posts_first(api, channel, queue):
    response = api.post(
        f"{API}/channels/{channel.id}/queue/order/", {"posts": [queue[2].id]}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["posts"] == [queue[2].id, queue[0].id, queue[1].id]
    order = QueueEntry.objects.filter(channel=channel, is_active=True).order_by("position")
    assert [e.post_id for e in order] == [queue[2].id, queue[0].id, queue[1].id]


@pytest.mark.parametrize("which", ["spent", "twice", "foreign"])
def test_a_bad_queue_order_is_a_400_and_changes_nothing(api, channel, queue, foreign, which):
    posts = {
        "spent": [queue[3].id],
        "twice": [queue[1].id, queue[1].id],
        "foreign": [foreign["entry"].post_id],
    }[which]
    before = list(QueueEntry.objects.order_by("id").values_list("position", flat=True))
    response = api.post(
        f"{API}/channels/{channel.id}/queue/order/", {"posts": posts}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["posts"]
    assert list(QueueEntry.objects.order_by("id").values_list("position", flat=True)) == before


def test_an_entry_is_capped_requeued_and_removed(api, channel, queue):
    spent = QueueEntry.objects.get(post=queue[3])
    url = f"{API}/channels/{channel.id}/queue/{spent.id}/"

    capped = api.patch(url, {"max_publications": 3}, format="json")
    assert capped.status_code == 200 and capped.json()["max_publications"] == 3
    assert capped.json()["is_active"] is True  # a loop entry under its new cap comes back

    assert api.patch(url, {"is_active": False}, format="json").status_code == 400
    assert api.patch(url, {"max_publications": 0}, format="json").status_code == 400
    assert api.delete(url).status_code == 204
    assert not QueueEntry.objects.filter(id=spent.id).exists()


# --- Another workspace, roles -----------------------------------------------------------------


def test_another_workspaces_channel_and_entries_are_404(api, channel, foreign):
    other, entry = foreign["channel"], foreign["entry"]
    for method, url, body in [
        ("get", f"{API}/channels/{other.id}/queue/", None),
        ("patch", f"{API}/channels/{other.id}/", {"name": "mine"}),
        ("delete", f"{API}/channels/{other.id}/", None),
        ("post", f"{API}/channels/{other.id}/pause/", None),
        ("post", f"{API}/channels/{other.id}/queue/order/", {"posts": [entry.post_id]}),
        ("patch", f"{API}/channels/{other.id}/queue/{entry.id}/", {"max_publications": 1}),
        ("delete", f"{API}/channels/{other.id}/queue/{entry.id}/", None),
        # An entry of another channel under one's own channel: 404 too.
        ("delete", f"{API}/channels/{channel.id}/queue/{entry.id}/", None),
    ]:
        response = getattr(api, method)(url, body, format="json")
        assert response.status_code == 404, (method, url, response.content)
    other.refresh_from_db()
    assert (other.is_paused, QueueEntry.objects.filter(id=entry.id).exists()) == (False, True)


@pytest.mark.parametrize("role", ROLES)
def test_each_role_reads_and_only_owners_and_editors_write(ws, channel, queue, role):
    api = client_for(member(ws, role))
    writes = role != Membership.Role.VIEWER
    entry = QueueEntry.objects.get(post=queue[0])
    assert api.get(f"{API}/channels/{channel.id}/queue/").status_code == 200
    calls = [
        ("post", f"{API}/channels/", {"name": f"new {role}", "timezone": "UTC"}, 201),
        ("patch", f"{API}/channels/{channel.id}/", {"name": f"#tech {role}"}, 200),
        ("post", f"{API}/channels/{channel.id}/pause/", None, 200),
        ("post", f"{API}/channels/{channel.id}/resume/", None, 200),
        ("post", f"{API}/channels/{channel.id}/queue/order/", {"posts": [queue[1].id]}, 200),
        ("patch", f"{API}/channels/{channel.id}/queue/{entry.id}/", {"max_publications": 2}, 200),
    ]
    for method, url, body, ok in calls:
        response = getattr(api, method)(url, body, format="json")
        assert response.status_code == (ok if writes else 403), (role, url, response.content)
    deleted = api.delete(f"{API}/channels/{channel.id}/")
    assert deleted.status_code == (204 if role == Membership.Role.OWNER else 403)


def test_a_queue_page_costs_the_same_queries_whatever_its_length(api, ws, channel):
    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert api.get(f"{API}/channels/{channel.id}/queue/").status_code == 200
        return len(ctx.captured_queries)

    QueueEntryFactory(channel=channel, post=PostFactory(workspace=ws))
    few = queries()
    for _ in range(15):
        QueueEntryFactory(channel=channel, post=PostFactory(workspace=ws))
    assert queries() == few
