"""The activity log (issue 27, item 4): every action writes one entry with its actor and
source, through the services; the web, the API token, the admin and a command are told
apart; the log is append-only."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import services as account_services
from accounts.activity import activity_context, activity_record
from accounts.models import (
    ActivityAction,
    ActivityEntry,
    ActivitySource,
    ApiToken,
    Membership,
    SocialAccount,
)
from channels.models import Channel
from editor import services as editor_services
from posts import labels as label_services
from posts.models import LabelColor
from scheduling import services as scheduling_services
from scheduling.models import Schedule
from tests.factories import (
    ChannelFactory,
    MembershipFactory,
    PostFactory,
    TimeslotFactory,
    UserFactory,
    rule,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner():
    return MembershipFactory(role=Membership.Role.OWNER)


def _later(hours: int) -> dt.datetime:
    return timezone.now().replace(microsecond=0) + dt.timedelta(hours=hours)


# Each action of the list, done the way the app does it (through its service). Each maker
# takes the owner's membership and returns nothing; the entry is then looked for.
def _post_created(m):
    editor_services.post_create(workspace=m.workspace, text="Hello", author=m.user)


def _post_edited(m):
    post = PostFactory(workspace=m.workspace)
    editor_services.post_update(post=post, text="Changed", expires_at=None)


def _post_archived(m):
    scheduling_services.post_archive(post=PostFactory(workspace=m.workspace))


def _post_labeled(m):
    label = label_services.label_create(workspace=m.workspace, name="launch")
    label_services.post_labels_set(post=PostFactory(workspace=m.workspace), labels=[label])


def _slot_pinned(m):
    channel = ChannelFactory(workspace=m.workspace)
    post = PostFactory(workspace=m.workspace)
    scheduling_services.timeslot_pin(post=post, channel=channel, publish_at=_later(5))


def _slot_shared_now(m):
    channel = ChannelFactory(workspace=m.workspace)
    scheduling_services.post_share_now(post=PostFactory(workspace=m.workspace), channel=channel)


def _slot_moved(m):
    slot = TimeslotFactory(channel=ChannelFactory(workspace=m.workspace))
    scheduling_services.timeslot_reschedule(timeslot=slot, publish_at=_later(6))


def _slot_canceled(m):
    slot = TimeslotFactory(channel=ChannelFactory(workspace=m.workspace))
    scheduling_services.timeslot_cancel(timeslot=slot)


def _slot_post_set(m):
    slot = TimeslotFactory(channel=ChannelFactory(workspace=m.workspace))
    post = PostFactory(workspace=m.workspace)
    scheduling_services.timeslot_set_post(timeslot=slot, post=post)


def _schedule_edited(m):
    channel = ChannelFactory(workspace=m.workspace)
    scheduling_services.schedule_save(
        schedule=Schedule(
            channel=channel, name="mornings", recurrence=rule("RRULE:FREQ=DAILY;BYHOUR=9")
        )
    )


def _channel(m, **changes) -> Channel:
    channel = ChannelFactory(workspace=m.workspace)
    for name, value in changes.items():
        setattr(channel, name, value)
    return channel


def _channel_created(m):
    scheduling_services.channel_save(
        channel=Channel(workspace=m.workspace, name="#new", slug="new", timezone="UTC")
    )


def _channel_paused(m):
    scheduling_services.channel_save(channel=_channel(m, is_paused=True))


def _channel_resumed(m):
    channel = ChannelFactory(workspace=m.workspace, is_paused=True)
    channel.is_paused = False
    scheduling_services.channel_save(channel=channel)


def _channel_edited(m):
    scheduling_services.channel_save(channel=_channel(m, name="#renamed"))


def _account_connected(m):
    account_services.account_create_sandbox(workspace=m.workspace, handle="demo")


def _account_disconnected(m):
    account = account_services.account_create_sandbox(workspace=m.workspace, handle="gone")
    account_services.account_set_status(account=account, status=SocialAccount.Status.DISABLED)


def _label_created(m):
    label_services.label_create(workspace=m.workspace, name="evergreen")


def _label_edited(m):
    label = label_services.label_create(workspace=m.workspace, name="evergreen")
    label_services.label_update(label=label, name="Evergreen", color=LabelColor.GREEN)


def _label_deleted(m):
    label = label_services.label_create(workspace=m.workspace, name="old")
    label_services.label_delete(label=label)


def _post_deleted(m):
    from publishing.removal import post_delete

    post_delete(post=PostFactory(workspace=m.workspace))


def _channel_deleted(m):
    from publishing.removal import channel_delete

    channel_delete(channel=ChannelFactory(workspace=m.workspace))


def _member_invited(m):
    from accounts import members

    members.invitation_create(
        actor=m.user, workspace=m.workspace, email="ann@example.com", role="editor"
    )


def _other_member(m):
    return MembershipFactory(workspace=m.workspace, role="editor")


def _member_role_changed(m):
    from accounts import members

    members.member_set_role(actor=m.user, membership=_other_member(m), role="viewer")


def _member_removed(m):
    from accounts import members

    members.member_remove(actor=m.user, membership=_other_member(m))


def _settings_changed(m):
    from accounts import members

    members.workspace_rename(actor=m.user, workspace=m.workspace, name="Renamed")


def _in_review(m):
    return PostFactory(workspace=m.workspace, needs_approval=True, review_state="in_review")


def _post_approved(m):
    from posts import review

    review.post_approve(post=_in_review(m), user=m.user)


def _post_changes_requested(m):
    from posts import review

    review.post_request_changes(post=_in_review(m), user=m.user, note="Shorter, please.")


ACTIONS = {
    ActivityAction.MEMBER_INVITED: _member_invited,
    ActivityAction.MEMBER_ROLE_CHANGED: _member_role_changed,
    ActivityAction.MEMBER_REMOVED: _member_removed,
    ActivityAction.SETTINGS_CHANGED: _settings_changed,
    ActivityAction.POST_APPROVED: _post_approved,
    ActivityAction.POST_CHANGES_REQUESTED: _post_changes_requested,
    ActivityAction.POST_DELETED: _post_deleted,
    ActivityAction.CHANNEL_DELETED: _channel_deleted,
    ActivityAction.POST_CREATED: _post_created,
    ActivityAction.POST_EDITED: _post_edited,
    ActivityAction.POST_ARCHIVED: _post_archived,
    ActivityAction.POST_LABELED: _post_labeled,
    ActivityAction.SLOT_PINNED: _slot_pinned,
    ActivityAction.SLOT_SHARED_NOW: _slot_shared_now,
    ActivityAction.SLOT_MOVED: _slot_moved,
    ActivityAction.SLOT_CANCELED: _slot_canceled,
    ActivityAction.SLOT_POST_SET: _slot_post_set,
    ActivityAction.SCHEDULE_EDITED: _schedule_edited,
    ActivityAction.CHANNEL_CREATED: _channel_created,
    ActivityAction.CHANNEL_PAUSED: _channel_paused,
    ActivityAction.CHANNEL_RESUMED: _channel_resumed,
    ActivityAction.CHANNEL_EDITED: _channel_edited,
    ActivityAction.ACCOUNT_CONNECTED: _account_connected,
    ActivityAction.ACCOUNT_DISCONNECTED: _account_disconnected,
    ActivityAction.LABEL_CREATED: _label_created,
    ActivityAction.LABEL_EDITED: _label_edited,
    ActivityAction.LABEL_DELETED: _label_deleted,
}


def test_every_action_is_walked():
    assert set(ACTIONS) == set(ActivityAction)


@pytest.mark.parametrize("action", list(ACTIONS), ids=str)
@pytest.mark.parametrize("source", [ActivitySource.WEB, ActivitySource.COMMAND], ids=str)
def test_each_action_writes_one_entry_with_actor_and_source(owner, action, source):
    with activity_context(source=source, user=owner.user):
        ACTIONS[action](owner)
    entries = list(ActivityEntry.objects.filter(action=action))
    assert len(entries) == 1, [e.action for e in ActivityEntry.objects.all()]
    entry = entries[0]
    assert entry.workspace_id == owner.workspace_id
    assert entry.actor_id == owner.user.id
    assert entry.actor_name == owner.user.username
    assert entry.source == source
    assert entry.target  # what it was about, as it read then


def test_without_a_context_it_is_the_engine(owner):
    _slot_canceled(owner)
    entry = ActivityEntry.objects.get(action=ActivityAction.SLOT_CANCELED)
    assert (entry.source, entry.actor_id, entry.actor_name) == (ActivitySource.ENGINE, None, "")


def test_a_failed_change_records_nothing(owner):
    slot = TimeslotFactory(channel=ChannelFactory(workspace=owner.workspace))
    scheduling_services.timeslot_cancel(timeslot=slot)
    before = ActivityEntry.objects.count()
    with pytest.raises(Exception, match="already"):
        scheduling_services.timeslot_cancel(timeslot=slot)
    assert ActivityEntry.objects.count() == before


def test_the_context_ends_with_its_block(owner):
    with activity_context(source=ActivitySource.ADMIN, user=owner.user):
        pass
    _post_created(owner)
    assert ActivityEntry.objects.get().source == ActivitySource.ENGINE


# --- Sources, end to end ------------------------------------------------------------------


def test_a_web_page_records_the_signed_in_person_from_the_web(client, owner):
    client.force_login(owner.user)
    channel = ChannelFactory(workspace=owner.workspace)
    response = client.post(f"/channels/{channel.id}/pause/", {"paused": "1"})
    assert response.status_code in (200, 302)
    entry = ActivityEntry.objects.get(action=ActivityAction.CHANNEL_PAUSED)
    assert (entry.source, entry.actor_id, entry.channel_id) == (
        ActivitySource.WEB,
        owner.user.id,
        channel.id,
    )


def test_an_api_token_records_its_person_from_the_api(owner):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {ApiToken.objects.create(user=owner.user).key}")
    response = api.post("/api/v1/posts/", {"text": "From a script"}, format="json")
    assert response.status_code == 201, response.content
    entry = ActivityEntry.objects.get(action=ActivityAction.POST_CREATED)
    assert (entry.source, entry.actor_id, entry.post_id) == (
        ActivitySource.API,
        owner.user.id,
        response.json()["id"],
    )


def test_the_admin_records_its_person_from_the_admin(client, owner):
    staff = owner.user
    staff.is_staff = True
    staff.save()
    staff.user_permissions.set(Permission.objects.filter(codename="change_post"))
    post = PostFactory(workspace=owner.workspace)
    client.force_login(staff)
    response = client.post(
        f"/admin/posts/post/{post.id}/change/",
        {
            "workspace": owner.workspace_id,
            "author": "",
            "text": "Edited in the admin",
            "status": "ready",
            "expires_at_0": "",
            "expires_at_1": "",
            "variations-TOTAL_FORMS": "0",
            "variations-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    entry = ActivityEntry.objects.get(action=ActivityAction.POST_EDITED)
    assert (entry.source, entry.actor_id) == (ActivitySource.ADMIN, staff.id)


def test_a_command_records_itself():
    call_command("seed_demo", verbosity=0)
    sources = set(ActivityEntry.objects.values_list("source", flat=True))
    assert sources == {ActivitySource.COMMAND}


# --- Append-only ------------------------------------------------------------------------


def test_entries_cannot_be_changed_or_deleted_by_the_app(owner):
    _post_created(owner)
    entry = ActivityEntry.objects.get()
    with pytest.raises(TypeError):
        ActivityEntry.objects.update(target="rewritten")
    with pytest.raises(TypeError):
        ActivityEntry.objects.all().delete()
    with pytest.raises(TypeError):
        entry.save()
    with pytest.raises(TypeError):
        entry.delete()
    assert ActivityEntry.objects.get().target == "Hello"


def test_deleting_a_post_or_a_person_keeps_their_history(owner):
    _post_edited(owner)
    entry = ActivityEntry.objects.get()
    with activity_context(source=ActivitySource.WEB, user=owner.user):
        _post_created(owner)
    from posts.models import Post

    Post.objects.filter(id=entry.post_id).delete()
    owner.user.delete()
    kept = ActivityEntry.objects.get(action=ActivityAction.POST_CREATED)
    assert (kept.actor_id, kept.actor_name) == (None, owner.user.username)
    assert ActivityEntry.objects.filter(post_id=entry.post_id).exists()


def test_the_admin_is_read_only_even_for_superusers(client):
    superuser = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(superuser)
    m = MembershipFactory()
    _post_created(m)
    entry = ActivityEntry.objects.get()
    assert client.get(f"/admin/accounts/activityentry/{entry.id}/change/").status_code == 200
    assert client.get("/admin/accounts/activityentry/add/").status_code == 403
    assert client.get(f"/admin/accounts/activityentry/{entry.id}/delete/").status_code == 403
    changed = client.post(
        f"/admin/accounts/activityentry/{entry.id}/change/", {"target": "rewritten"}
    )
    assert changed.status_code == 403
    assert ActivityEntry.objects.get().target == "Hello"


def test_a_service_may_name_the_actor_and_source_itself(owner):
    approver = MembershipFactory(workspace=owner.workspace, role=Membership.Role.EDITOR).user
    with activity_context(source=ActivitySource.WEB, user=owner.user):
        entry = activity_record(
            workspace_id=owner.workspace_id,
            action=ActivityAction.POST_APPROVED,
            actor_id=approver.id,
            source=ActivitySource.WEB,
        )
    assert (entry.actor_id, entry.actor_name) == (approver.id, approver.username)
    nobody = activity_record(
        workspace_id=owner.workspace_id, action=ActivityAction.POST_APPROVED, actor_id=None
    )
    assert (nobody.actor_id, nobody.actor_name, nobody.source) == (None, "", "engine")
