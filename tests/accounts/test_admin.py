"""The Django admin: every page renders, lists stay O(1) in queries, workspaces stay apart,
secrets never show, and the actions go through the services."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import (
    ApiToken,
    EventType,
    Invitation,
    MastodonApp,
    Membership,
    OutboxEvent,
    SocialAccount,
)
from bulk.models import ChannelFeed, ImportJob
from channels.models import Channel
from integrations.models import Endpoint, EventDelivery
from posts.models import Label, PostComment
from scheduling.models import Schedule, Timeslot
from tests.factories import (
    ChannelFactory,
    DeliveryFactory,
    MembershipFactory,
    NoticeFactory,
    PlannerStateFactory,
    PostFactory,
    QueueEntryFactory,
    SandboxPostFactory,
    ScheduleFactory,
    SocialAccountFactory,
    TimeslotFactory,
    UserFactory,
    VariationFactory,
    WorkspaceFactory,
)

pytestmark = pytest.mark.django_db

SECRET = "tok-ADMIN-SECRET-0a1b2c3d"


MAKERS = {
    "accounts.Workspace": WorkspaceFactory,
    "accounts.Membership": MembershipFactory,
    "accounts.SocialAccount": lambda: SocialAccountFactory(credentials={"access_token": SECRET}),
    "accounts.Notice": NoticeFactory,
    "accounts.Invitation": lambda: Invitation.objects.create(
        workspace=WorkspaceFactory(),
        email="guest@example.com",
        role="editor",
        expires_at=timezone.now() + dt.timedelta(days=7),
    ),
    "accounts.MastodonApp": lambda: MastodonApp.objects.create(
        instance_url="https://fake.social",
        redirect_uri="https://queueloop.example/connect/mastodon/callback/",
        client_id="client-id",
        secret={"client_secret": SECRET},
    ),
    "channels.Channel": ChannelFactory,
    "channels.QueueEntry": QueueEntryFactory,
    "posts.Post": PostFactory,
    "posts.Variation": VariationFactory,
    "posts.PostComment": lambda: PostComment.objects.create(post=PostFactory(), text="A note"),
    "scheduling.Schedule": ScheduleFactory,
    "scheduling.Timeslot": TimeslotFactory,
    "scheduling.PlannerState": PlannerStateFactory,
    "publishing.Delivery": DeliveryFactory,
    "publishing.SandboxPost": SandboxPostFactory,
    "auth.User": UserFactory,
    "auth.Group": lambda: Group.objects.create(name="editors"),
    "accounts.ApiToken": lambda: ApiToken.objects.create(user=UserFactory()),
    "bulk.ImportJob": lambda: ImportJob.objects.create(
        workspace=WorkspaceFactory(), filename="x.csv"
    ),
    "bulk.ChannelFeed": lambda: ChannelFeed.objects.create(
        channel=ChannelFactory(), url="https://blog.example.com/feed.xml"
    ),
    "integrations.Endpoint": lambda: _endpoint(),
    "integrations.EventDelivery": lambda: _event_delivery(),
    "accounts.ActivityEntry": lambda: _activity_entry(),
    "posts.Label": lambda: Label.objects.create(workspace=WorkspaceFactory(), name="evergreen"),
    "results.Snapshot": lambda: _snapshot(),
    "results.Tracking": lambda: _tracking(),
}


def _activity_entry():
    from accounts.activity import activity_record
    from accounts.models import ActivityAction

    return activity_record(
        workspace_id=WorkspaceFactory().id, action=ActivityAction.SETTINGS_CHANGED, target="x"
    )


def _endpoint():
    return Endpoint.objects.create(
        workspace=WorkspaceFactory(),
        url="https://hooks.example.com/x",
        credentials={"secret": SECRET},
    )


def _event_delivery():
    endpoint = _endpoint()
    event = OutboxEvent.objects.create(
        public_id=uuid.uuid4(), workspace=endpoint.workspace, type=EventType.IMPORT_FINISHED
    )
    return EventDelivery.objects.create(endpoint=endpoint, event=event)


def _snapshot():
    from django.utils import timezone

    from results.models import Snapshot

    return Snapshot.objects.create(
        delivery=DeliveryFactory(), taken_at=timezone.now(), age="1h", likes=1
    )


def _tracking():
    from django.utils import timezone

    from results.models import Tracking

    return Tracking.objects.create(
        delivery=DeliveryFactory(), sent_at=timezone.now(), next_age="1h", due_at=timezone.now()
    )


OUR_MODELS = {label for label in MAKERS if label.split(".")[0] != "auth"}
# Records of what happened (and the planner's watermark) are never created by hand;
# timeslots come from schedules or from pinning a post in the app.
NOT_ADDABLE = {
    "accounts.Invitation",  # made on the Members page, which emails the link
    "accounts.ActivityEntry",  # append-only: written by the services that made the change
    "accounts.ApiToken",  # made by its person, who sees the key once
    "bulk.ImportJob",
    "bulk.ChannelFeed",
    "integrations.Endpoint",  # added on the Webhooks page, where the address is checked
    "integrations.EventDelivery",
    "accounts.MastodonApp",
    "publishing.Delivery",
    "publishing.SandboxPost",
    "results.Snapshot",
    "results.Tracking",
    "scheduling.PlannerState",
    "scheduling.Timeslot",
    "posts.PostComment",  # written in the app, where mentions notify
}


def url(model, action: str, *args) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{action}", args=args)


@pytest.fixture
def superuser_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_every_one_of_our_models_is_registered():
    registered = {model._meta.label for model in admin.site._registry}
    assert OUR_MODELS <= registered, OUR_MODELS - registered


@pytest.mark.parametrize("model", list(admin.site._registry), ids=lambda m: m._meta.label)
def test_superuser_gets_every_page(superuser_client, model):
    label = model._meta.label
    assert label in MAKERS, f"add a maker for {label} to this test"
    obj = MAKERS[label]()

    changelist = superuser_client.get(url(model, "changelist"))
    assert changelist.status_code == 200, label
    assert changelist.context["cl"].result_count >= 1

    # Every search field is a real lookup: a bad path would be a 500 here.
    searched = superuser_client.get(url(model, "changelist"), {"q": "x"})
    assert searched.status_code == 200, label

    change = superuser_client.get(url(model, "change", obj.pk))
    assert change.status_code == 200, label

    add = superuser_client.get(url(model, "add"))
    assert add.status_code == (403 if label in NOT_ADDABLE else 200), label


# --- Query counts --------------------------------------------------------------------


def _count_queries(client, path) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def _varied_timeslot(i: int):
    # Vary every relation the list shows: pinned or planned, published or not.
    if i % 2:
        channel = ChannelFactory()
        post = PostFactory(workspace=channel.workspace)
        return TimeslotFactory(channel=channel, schedule=None, post=post)
    slot = TimeslotFactory()
    slot.published_post = PostFactory(workspace=slot.channel.workspace)
    slot.status = Timeslot.Status.PUBLISHED
    slot.save()
    DeliveryFactory(timeslot=slot)
    return slot


@pytest.mark.parametrize(
    "model, make",
    [(Timeslot, _varied_timeslot), (DeliveryFactory._meta.model, lambda i: DeliveryFactory())],
    ids=["timeslot", "delivery"],
)
def test_changelist_queries_do_not_grow_with_rows(superuser_client, model, make):
    path = url(model, "changelist")
    make(0)
    superuser_client.get(path)  # warm the session and content-type caches
    one = _count_queries(superuser_client, path)
    for i in range(1, 10):
        make(i)
    ten = _count_queries(superuser_client, path)
    assert model.objects.count() == 10
    assert ten == one, f"{model.__name__} list: {one} queries for 1 row, {ten} for 10"


# --- Workspace isolation -------------------------------------------------------------


def _staff(workspace, *perms, role=Membership.Role.EDITOR):
    user = UserFactory(is_staff=True)
    MembershipFactory(user=user, workspace=workspace, role=role)
    user.user_permissions.set(Permission.objects.filter(codename__in=perms))
    return user


def test_staff_member_sees_only_their_workspaces_channels(client):
    mine = ChannelFactory(name="#mine-visible")
    theirs = ChannelFactory(name="#theirs-hidden")
    client.force_login(_staff(mine.workspace, "view_channel", "change_channel"))

    page = client.get(url(Channel, "changelist"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "#mine-visible" in html
    assert "#theirs-hidden" not in html
    assert theirs.workspace.name not in html  # not even in the workspace filter

    # The other workspace's change page does not exist for them.
    other = client.get(url(Channel, "change", theirs.pk))
    assert other.status_code == 302
    assert client.get(url(Channel, "change", mine.pk)).status_code == 200


def test_staff_member_cannot_point_a_row_at_another_workspace(client):
    mine = WorkspaceFactory()
    theirs = WorkspaceFactory()
    client.force_login(_staff(mine, "view_channel", "add_channel"))

    response = client.post(
        url(Channel, "add"),
        {
            "workspace": theirs.pk,
            "name": "#sneaky",
            "slug": "sneaky",
            "timezone": "UTC",
            "mode": "loop",
            "entries-TOTAL_FORMS": "0",
            "entries-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200  # the form again, with an error
    assert "workspace" in response.context["adminform"].form.errors
    assert not Channel.objects.filter(slug="sneaky").exists()


def test_staff_filters_and_timeslot_lists_are_scoped(client):
    mine = TimeslotFactory(channel=ChannelFactory(name="#mine-slots"))
    TimeslotFactory(channel=ChannelFactory(name="#theirs-slots"))
    client.force_login(_staff(mine.channel.workspace, "view_timeslot"))

    page = client.get(url(Timeslot, "changelist"))
    assert page.status_code == 200
    assert [t.pk for t in page.context["cl"].result_list] == [mine.pk]
    assert "#theirs-slots" not in page.content.decode()  # neither a row nor a filter choice


def test_a_viewer_member_can_look_but_not_change(client):
    channel = ChannelFactory(name="#read-only")
    client.force_login(
        _staff(channel.workspace, "view_channel", "change_channel", role=Membership.Role.VIEWER)
    )
    page = client.get(url(Channel, "change", channel.pk))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    response = client.post(url(Channel, "change", channel.pk), {"name": "#renamed"})
    assert response.status_code == 403
    channel.refresh_from_db()
    assert channel.name == "#read-only"


def test_planner_state_is_superuser_only(client):
    PlannerStateFactory()
    client.force_login(_staff(WorkspaceFactory(), "view_plannerstate"))
    assert client.get(url(PlannerStateFactory._meta.model, "changelist")).status_code == 403


# --- Secrets -------------------------------------------------------------------------


def test_social_account_page_never_shows_credentials(superuser_client):
    account = SocialAccountFactory(
        handle="brand", credentials={"access_token": SECRET, "refresh_token": SECRET + "-r"}
    )
    page = superuser_client.get(url(SocialAccount, "change", account.pk))
    assert page.status_code == 200
    html = page.content.decode()
    assert SECRET not in html
    assert 'name="credentials"' not in html
    assert "credentials set" in html.lower()
    assert "icon-yes" in html  # the boolean "credentials set" shows yes

    listing = superuser_client.get(url(SocialAccount, "changelist"))
    assert SECRET not in listing.content.decode()

    # Saving the form (which has no credentials field) keeps the stored credentials.
    response = superuser_client.post(
        url(SocialAccount, "change", account.pk),
        {
            "workspace": account.workspace_id,
            "provider": account.provider,
            "handle": "brand-renamed",
            "external_id": "",
            "status": account.status,
            "last_error": "",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    account = SocialAccount.objects.get(pk=account.pk)
    assert account.handle == "brand-renamed"
    assert account.credentials == {"access_token": SECRET, "refresh_token": SECRET + "-r"}


# --- Actions ---------------------------------------------------------------------------


def _action(client, model, action, objs, **extra):
    return client.post(
        url(model, "changelist"),
        {"action": action, "_selected_action": [o.pk for o in objs], **extra},
        follow=True,
    )


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_cancel_action_cancels_scheduled_slots_and_reports_the_rest(superuser_client):
    scheduled = TimeslotFactory()
    published = TimeslotFactory(status=Timeslot.Status.PUBLISHED)
    old_token = scheduled.token

    response = _action(superuser_client, Timeslot, "cancel_selected", [scheduled, published])
    assert response.status_code == 200

    scheduled.refresh_from_db()
    published.refresh_from_db()
    assert scheduled.status == Timeslot.Status.CANCELED
    assert scheduled.reason == "Canceled by a user."
    assert scheduled.token != old_token  # any queued message is now a no-op
    assert published.status == Timeslot.Status.PUBLISHED
    text = " ".join(_messages(response))
    assert "Canceled 1 timeslot(s)" in text
    assert f"#{published.pk} (published)" in text


def test_requeue_action_rotates_tokens_and_enqueues_near_slots(
    superuser_client, broker, django_capture_on_commit_callbacks
):
    now = timezone.now()
    near = TimeslotFactory(publish_at=now + dt.timedelta(minutes=10))
    far = TimeslotFactory(publish_at=now + dt.timedelta(hours=5))
    done = TimeslotFactory(status=Timeslot.Status.FAILED)
    tokens = {t.pk: t.token for t in (near, far, done)}

    with django_capture_on_commit_callbacks(execute=True):
        response = _action(superuser_client, Timeslot, "requeue_selected", [near, far, done])

    for slot in (near, far, done):
        slot.refresh_from_db()
    assert near.token != tokens[near.pk] and near.enqueued_at is not None
    assert far.token != tokens[far.pk] and far.enqueued_at is None  # the planner will send it
    assert done.token == tokens[done.pk] and done.status == Timeslot.Status.FAILED

    sent = [m["args"] for m in broker.publish_messages()]
    assert sent == [[near.pk, str(near.token)]]
    text = " ".join(_messages(response))
    assert "Requeued 2 timeslot(s)" in text
    assert f"#{done.pk} (failed)" in text


def test_pause_and_resume_go_through_channel_save(superuser_client):
    schedule = ScheduleFactory()
    channel = schedule.channel
    soon = timezone.now() + dt.timedelta(minutes=30)
    slot = TimeslotFactory(channel=channel, schedule=schedule, publish_at=soon)

    _action(superuser_client, Channel, "pause_selected", [channel])
    channel.refresh_from_db()
    slot.refresh_from_db()
    assert channel.is_paused
    assert slot.status == Timeslot.Status.CANCELED  # reconciled: a paused channel plans nothing

    response = _action(superuser_client, Channel, "resume_selected", [channel])
    channel.refresh_from_db()
    assert not channel.is_paused
    assert "1 channel(s) resumed" in " ".join(_messages(response))


def test_rescheduling_in_the_admin_rotates_the_token(superuser_client):
    slot = TimeslotFactory()
    old_token = slot.token
    new_time = (timezone.now() + dt.timedelta(days=1)).replace(second=0, microsecond=0)
    response = superuser_client.post(
        url(Timeslot, "change", slot.pk),
        {
            "publish_at_0": new_time.strftime("%Y-%m-%d"),
            "publish_at_1": new_time.strftime("%H:%M:%S"),
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    slot.refresh_from_db()
    assert slot.publish_at == new_time
    assert slot.token != old_token
    assert slot.detached  # a moved planned slot is left alone by reconciliation


def test_a_schedule_the_app_would_refuse_is_refused_in_the_admin(superuser_client):
    channel = ChannelFactory()
    response = superuser_client.post(
        url(Schedule, "add"),
        {
            "channel": channel.pk,
            "name": "flood",
            "recurrence": "RRULE:FREQ=SECONDLY",
            "starts_on": "2020-01-06",
            "is_active": "on",
        },
    )
    assert response.status_code == 200
    assert "recurrence" in response.context["adminform"].form.errors
    assert not Schedule.objects.filter(name="flood").exists()
