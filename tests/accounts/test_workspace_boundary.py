"""The workspace boundary in the admin (issue 10, finding 1).

A staff member of two workspaces used to move a queued post (or a channel's account) from
workspace A to B in the admin; after losing A, they still published to A's account and
edited A's queue through the API. Now an object's workspace never changes once linked.
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError

from accounts.admin_mixins import workspace_path
from accounts.models import Membership, Workspace
from tests.accounts.test_admin import MAKERS, NOT_ADDABLE, url
from tests.factories import (
    ChannelFactory,
    MembershipFactory,
    PostFactory,
    QueueEntryFactory,
    SocialAccountFactory,
    UserFactory,
    WorkspaceFactory,
)

pytestmark = pytest.mark.django_db


OUR_APPS = ["accounts", "channels", "posts", "scheduling", "publishing"]


def staff_of(*workspaces, role=Membership.Role.OWNER):
    """A non-superuser staff member with every permission on our models: only the workspace
    scoping stands between them and other workspaces' rows. (Users and groups are Django's
    own admin: whoever is given auth permissions can already make themselves superuser.)"""
    user = UserFactory(is_staff=True)
    for workspace in workspaces:
        MembershipFactory(user=user, workspace=workspace, role=role)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label__in=OUR_APPS))
    return user


@pytest.fixture
def two(client):
    a, b = WorkspaceFactory(name="A"), WorkspaceFactory(name="B")
    user = staff_of(a, b, role=Membership.Role.EDITOR)
    client.force_login(user)
    return a, b, user


def test_a_queued_post_cannot_be_moved_to_another_workspace_in_the_admin(client, two):
    a, b, user = two
    entry = QueueEntryFactory(channel=ChannelFactory(workspace=a))
    post = entry.post
    page = client.get(url(type(post), "change", post.pk))
    assert page.status_code == 200
    assert "workspace" not in page.context["adminform"].form.fields  # shown read-only

    response = client.post(
        url(type(post), "change", post.pk),
        {"workspace": b.pk, "author": "", "text": "moved?", "status": "ready"},
    )
    assert response.status_code in (200, 302)
    post.refresh_from_db()
    assert post.workspace_id == a.pk

    # Then removed from A: A's post is not theirs in the admin nor in the API.
    Membership.objects.filter(user=user, workspace=a).delete()
    assert client.get(url(type(post), "change", post.pk)).status_code == 302
    assert client.patch(
        f"/api/v1/posts/{post.pk}/", {"text": "hijacked"}, "application/json"
    ).status_code in (403, 404)


def test_a_channel_account_cannot_be_moved_to_another_workspace_in_the_admin(client, two):
    a, b, _ = two
    channel = ChannelFactory(workspace=a)
    account = channel.accounts.get()
    client.post(
        url(type(account), "change", account.pk),
        {
            "workspace": b.pk,
            "provider": account.provider,
            "handle": account.handle,
            "external_id": "",
            "status": "active",
            "last_error": "",
        },
    )
    account.refresh_from_db()
    assert account.workspace_id == a.pk


@pytest.mark.parametrize("kind", ["post", "account", "channel"])
def test_the_model_refuses_the_move_whatever_form_saves_it(kind):
    channel = ChannelFactory()
    entry = QueueEntryFactory(channel=channel)
    obj = {"post": entry.post, "account": channel.accounts.get(), "channel": channel}[kind]
    obj.workspace = WorkspaceFactory()
    with pytest.raises(ValidationError) as refused:
        obj.full_clean()
    assert "cannot move to another workspace" in str(refused.value)


def test_an_unlinked_post_or_account_may_still_move():
    post, account = PostFactory(), SocialAccountFactory()
    for obj in (post, account):
        obj.workspace = WorkspaceFactory()
        obj.full_clean(exclude=["author"])


SCOPED = [m for m in admin.site._registry if m._meta.app_label in OUR_APPS and workspace_path(m)]
SCOPED.append(Workspace)  # its path is "" (it is the workspace)
NEVER_DELETED = {"accounts.ActivityEntry"}


@pytest.mark.parametrize("model", SCOPED, ids=lambda m: m._meta.label)
def test_staff_get_nothing_of_another_workspace_in_any_admin_form(client, model):
    """Change, delete and add forms for a non-superuser staff member who holds every model
    permission but is a member of none of the objects' workspaces."""
    client.force_login(staff_of(WorkspaceFactory()))
    foreign = MAKERS[model._meta.label]()  # its factory makes it in a fresh workspace

    assert client.get(url(model, "change", foreign.pk)).status_code == 302
    # A model nobody may delete (the append-only log) refuses before looking the row up:
    # 403 for every id, its own workspace's too, so it tells nothing either.
    refused = 403 if model._meta.label in NEVER_DELETED else 302
    assert client.get(url(model, "delete", foreign.pk)).status_code == refused
    response = client.post(url(model, "delete", foreign.pk), {"post": "yes"})
    assert response.status_code == refused
    assert model.objects.filter(pk=foreign.pk).exists()

    add = client.get(url(model, "add"))
    assert add.status_code == (403 if model._meta.label in NOT_ADDABLE else 200)
    if add.status_code != 200:
        return
    # No select on the add form offers a row of another workspace.
    for name, field in add.context["adminform"].form.fields.items():
        queryset = getattr(field, "queryset", None)
        if queryset is None or workspace_path(queryset.model) is None:
            continue
        foreign_related = getattr(foreign, f"{name}_id", None)
        if foreign_related is not None:
            assert not queryset.filter(pk=foreign_related).exists(), (model, name)
        if queryset.model is model:
            assert not queryset.filter(pk=foreign.pk).exists(), (model, name)
