"""Members in the web UI (issue 27, item 1): invitations, roles, removal, leaving, renaming,
switching; permissions checked in accounts.members, not only in the views."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from accounts import members
from accounts.models import ApiToken, Invitation, Membership, Workspace
from tests.factories import MembershipFactory, UserFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db

ROLES = Membership.Role


@pytest.fixture
def owner():
    return MembershipFactory(role=ROLES.OWNER)


@pytest.fixture
def ws(owner) -> Workspace:
    return owner.workspace


@pytest.fixture
def web(client, owner):
    client.force_login(owner.user)
    return client


def invite_link(message) -> str:
    return re.search(r"https?://[^/\s]+(/invite/\S+/)", message.body).group(1)


def invite(mail_jobs, web, email="new@example.com", role="editor"):
    with mail_jobs():
        response = web.post(reverse("invitation_create"), {"email": email, "role": role})
        assert mail.outbox == []  # never inside the request
    return response


# --- Inviting ---------------------------------------------------------------------------------


def test_owner_invites_by_email_and_the_link_is_sent_after_the_request(web, ws, mail_jobs):
    response = invite(mail_jobs, web)
    assert response.status_code == 302
    invitation = Invitation.objects.get()
    assert invitation.role == ROLES.EDITOR and invitation.workspace == ws
    assert invitation.expires_at - invitation.created_at == dt.timedelta(days=7)
    (message,) = mail.outbox
    assert message.to == ["new@example.com"] and ws.name in message.subject
    path = invite_link(message)
    # Nothing of the link is stored (invariant 5).
    token = path.rstrip("/").rsplit("/", 1)[1]
    stored = " ".join(str(v) for v in Invitation.objects.values().get().values())
    assert token not in stored and token.split(".")[-1] not in stored
    page = web.get(reverse("member_list")).content.decode()
    assert "new@example.com" in page and "Resend" in page


@pytest.mark.parametrize("role", [ROLES.EDITOR, ROLES.APPROVER, ROLES.VIEWER])
def test_only_owners_may_invite(client, ws, role, mail_jobs):
    someone = MembershipFactory(workspace=ws, role=role).user
    client.force_login(someone)
    with mail_jobs():
        response = client.post(
            reverse("invitation_create"), {"email": "x@example.com", "role": "owner"}
        )
    assert response.status_code == 403
    with pytest.raises(PermissionDenied):
        members.invitation_create(actor=someone, workspace=ws, email="x@example.com", role="editor")
    assert not Invitation.objects.exists() and mail.outbox == []


def test_bad_invitation_input_is_a_clear_400(web, ws, owner):
    response = web.post(reverse("invitation_create"), {"email": "not an email", "role": "editor"})
    assert response.status_code == 400 and "valid email" in response.content.decode()
    response = web.post(reverse("invitation_create"), {"email": "a@b.example", "role": "god"})
    assert response.status_code == 400
    response = web.post(reverse("invitation_create"), {"email": owner.user.email, "role": "editor"})
    assert response.status_code == 400 and "already a member" in response.content.decode()
    assert not Invitation.objects.exists()


def test_a_new_person_creates_their_login_from_the_link_and_lands_in_the_workspace(
    web, ws, client, mail_jobs
):
    invite(mail_jobs, web, role="approver")
    path = invite_link(mail.outbox[0])
    web.logout()
    page = client.get(path)
    assert page.status_code == 200 and ws.name in page.content.decode()
    assert not Membership.objects.filter(role=ROLES.APPROVER).exists()  # opening is not joining
    bad = client.post(path, {"username": "newbie", "password1": "x", "password2": "y"})
    assert bad.status_code == 400 and not Membership.objects.filter(role="approver").exists()
    response = client.post(
        path,
        {
            "username": "newbie",
            "password1": "a long passphrase 42",
            "password2": "a long passphrase 42",
        },
    )
    assert response.status_code == 302 and response.url == reverse("dashboard")
    membership = Membership.objects.get(user__username="newbie")
    assert membership.workspace == ws and membership.role == ROLES.APPROVER
    assert membership.user.email == "new@example.com"
    assert ws.name in client.get(reverse("dashboard")).content.decode()
    # Single use.
    client.logout()
    again = client.post(
        path,
        {
            "username": "second",
            "password1": "a long passphrase 42",
            "password2": "a long passphrase 42",
        },
    )
    assert again.status_code == 400
    assert not Membership.objects.filter(user__username="second").exists()


def test_a_logged_in_person_joins_from_the_link(web, ws, client, mail_jobs):
    invite(mail_jobs, web, email="known@example.com", role="viewer")
    path = invite_link(mail.outbox[0])
    known = MembershipFactory(role=ROLES.OWNER).user  # owner elsewhere
    client.force_login(known)
    assert client.get(path).status_code == 200
    response = client.post(path)
    assert response.status_code == 302
    assert Membership.objects.get(user=known, workspace=ws).role == ROLES.VIEWER
    # They land in the workspace they joined.
    assert client.session["workspace_id"] == ws.id


def test_an_invitation_expires_after_7_days(web, ws, client, mail_jobs):
    invite(mail_jobs, web)
    path = invite_link(mail.outbox[0])
    web.logout()
    data = {
        "username": "late",
        "password1": "a long passphrase 42",
        "password2": "a long passphrase 42",
    }
    with time_machine.travel(timezone.now() + dt.timedelta(days=7, minutes=1)):
        assert client.get(path).status_code == 400
        assert client.post(path, data).status_code == 400
    assert not Membership.objects.filter(user__username="late").exists()


def test_resend_gives_a_new_link_and_the_old_one_dies_and_revoke_ends_it(
    web, ws, client, mail_jobs
):
    invite(mail_jobs, web)
    old = invite_link(mail.outbox[0])
    invitation = Invitation.objects.get()
    with time_machine.travel(timezone.now() + dt.timedelta(days=6)):
        with mail_jobs():
            assert web.post(reverse("invitation_resend", args=[invitation.id])).status_code == 302
        new = invite_link(mail.outbox[1])
        invitation.refresh_from_db()
        assert invitation.expires_at > timezone.now() + dt.timedelta(days=6)
    assert old != new
    assert client.get(old).status_code == 400 and client.get(new).status_code == 200
    assert web.post(reverse("invitation_revoke", args=[invitation.id])).status_code == 302
    assert client.get(new).status_code == 400
    assert "No pending invitations" in web.get(reverse("member_list")).content.decode()


def test_a_tampered_token_is_refused(client):
    for token in ("1-1.forged", "garbage", "1-1"):
        assert client.get(reverse("invitation_open", args=[token])).status_code == 400


# --- Roles, removal, leaving ------------------------------------------------------------------


def test_owner_changes_a_role(web, ws):
    editor = MembershipFactory(workspace=ws, role=ROLES.EDITOR)
    response = web.post(reverse("member_role", args=[editor.id]), {"role": "approver"})
    assert response.status_code == 302
    editor.refresh_from_db()
    assert editor.role == ROLES.APPROVER


def test_the_last_owner_cannot_be_demoted_or_leave(web, ws, owner):
    response = web.post(reverse("member_role", args=[owner.id]), {"role": "editor"}, follow=True)
    assert "at least one owner" in response.content.decode()
    response = web.post(reverse("member_remove", args=[owner.id]), follow=True)
    assert "last owner cannot leave" in response.content.decode()
    owner.refresh_from_db()
    assert owner.role == ROLES.OWNER
    with pytest.raises(ValidationError):
        members.member_leave(user=owner.user, workspace=ws)
    # With a second owner, the first may step down.
    MembershipFactory(workspace=ws, role=ROLES.OWNER)
    members.member_set_role(actor=owner.user, membership=owner, role="editor")
    assert Membership.objects.get(id=owner.id).role == ROLES.EDITOR


@pytest.mark.parametrize("role", [ROLES.EDITOR, ROLES.APPROVER, ROLES.VIEWER])
def test_non_owners_cannot_change_roles_or_remove_but_may_leave(client, ws, owner, role):
    someone = MembershipFactory(workspace=ws, role=role)
    other = MembershipFactory(workspace=ws, role=ROLES.VIEWER)
    client.force_login(someone.user)
    assert (
        client.post(reverse("member_role", args=[other.id]), {"role": "owner"}).status_code == 403
    )
    assert (
        client.post(reverse("member_role", args=[someone.id]), {"role": "owner"}).status_code == 403
    )
    assert client.post(reverse("member_remove", args=[owner.id])).status_code == 403
    assert client.post(reverse("workspace_rename"), {"name": "Mine"}).status_code == 403
    invitation = members.invitation_create(
        actor=owner.user, workspace=ws, email="p@example.com", role="viewer"
    )
    assert client.post(reverse("invitation_resend", args=[invitation.id])).status_code == 403
    assert client.post(reverse("invitation_revoke", args=[invitation.id])).status_code == 403
    invitation.refresh_from_db()
    assert invitation.version == 1 and invitation.revoked_at is None
    assert "p@example.com" not in client.get(reverse("member_list")).content.decode()
    assert Membership.objects.get(id=someone.id).role == role
    assert Workspace.objects.get(id=ws.id).name == ws.name
    # The Members link is for owners; leaving is everyone's.
    assert reverse("member_list") not in client.get(reverse("dashboard")).content.decode()
    response = client.post(reverse("member_remove", args=[someone.id]))
    assert response.status_code == 302
    assert not Membership.objects.filter(id=someone.id).exists()


def test_removing_a_member_logs_out_their_session_and_their_token_gets_401_at_once(web, ws):
    from django.test import Client
    from rest_framework.test import APIClient

    client = Client()  # the member's own browser, beside the owner's

    editor = MembershipFactory(workspace=ws, role=ROLES.EDITOR)
    MembershipFactory(user=editor.user, role=ROLES.OWNER)  # a member elsewhere too
    client.force_login(editor.user)
    assert client.get(reverse("dashboard")).status_code == 200
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {ApiToken.objects.create(user=editor.user).key}")
    assert api.get("/api/v1/channels/").status_code == 200

    assert web.post(reverse("member_remove", args=[editor.id])).status_code == 302

    assert api.get("/api/v1/channels/").status_code == 401
    response = client.get(reverse("dashboard"))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
    assert "_auth_user_id" not in client.session
    # Logging in again works (in their other workspace).
    client.force_login(editor.user)
    assert client.get(reverse("dashboard")).status_code == 200
    # The owner who removed them stayed logged in.
    assert web.get(reverse("member_list")).status_code == 200


def test_a_member_who_leaves_keeps_their_session(client, ws):
    someone = MembershipFactory(workspace=ws, role=ROLES.EDITOR)
    MembershipFactory(user=someone.user, role=ROLES.OWNER)
    client.force_login(someone.user)
    assert client.post(reverse("member_remove", args=[someone.id])).status_code == 302
    assert client.get(reverse("dashboard")).status_code == 200


# --- Workspace name and switching -----------------------------------------------------------


def test_owner_renames_the_workspace_and_bad_names_are_400(web, ws):
    assert web.post(reverse("workspace_rename"), {"name": "  Agency  "}).status_code == 302
    assert Workspace.objects.get(id=ws.id).name == "Agency"
    assert web.post(reverse("workspace_rename"), {"name": ""}).status_code == 400
    assert web.post(reverse("workspace_rename"), {"name": "x" * 101}).status_code == 400
    assert Workspace.objects.get(id=ws.id).name == "Agency"


def test_the_members_list_is_paginated(web, ws):
    from accounts.member_views import MEMBERS_PAGE_SIZE

    for i in range(MEMBERS_PAGE_SIZE + 1):
        MembershipFactory(workspace=ws, role=ROLES.VIEWER, user=UserFactory(username=f"m{i:03}"))
    first = web.get(reverse("member_list")).content.decode()
    second = web.get(reverse("member_list") + "?page=2").content.decode()
    assert "m000" in first and "Page 1 of 2" in first
    assert "m000" not in second and "Page 2 of 2" in second


def test_a_member_of_several_workspaces_switches_and_the_members_page_follows(web, owner):
    second = MembershipFactory(user=owner.user, workspace=WorkspaceFactory(name="Zeta"))
    guest = MembershipFactory(workspace=second.workspace, role=ROLES.VIEWER)
    assert guest.user.username not in web.get(reverse("member_list")).content.decode()
    web.post(reverse("workspace_switch"), {"workspace": second.workspace_id})
    assert guest.user.username in web.get(reverse("member_list")).content.decode()


# --- The workspace boundary --------------------------------------------------------------------


def test_another_workspaces_members_and_invitations_are_404(web, ws):
    theirs = MembershipFactory(role=ROLES.OWNER)
    their_member = MembershipFactory(workspace=theirs.workspace, role=ROLES.EDITOR)
    their_invitation = members.invitation_create(
        actor=theirs.user, workspace=theirs.workspace, email="t@example.com", role="editor"
    )
    for url, data in [
        (reverse("member_role", args=[their_member.id]), {"role": "viewer"}),
        (reverse("member_remove", args=[their_member.id]), {}),
        (reverse("invitation_resend", args=[their_invitation.id]), {}),
        (reverse("invitation_revoke", args=[their_invitation.id]), {}),
    ]:
        assert web.post(url, data).status_code == 404, url
    page = web.get(reverse("member_list")).content.decode()
    assert their_member.user.username not in page and "t@example.com" not in page
    assert Membership.objects.get(id=their_member.id).role == ROLES.EDITOR
    their_invitation.refresh_from_db()
    assert their_invitation.revoked_at is None and their_invitation.version == 1


def test_member_pages_reject_get_for_actions(web, ws, owner):
    for url in [
        reverse("invitation_create"),
        reverse("member_role", args=[owner.id]),
        reverse("member_remove", args=[owner.id]),
        reverse("workspace_rename"),
    ]:
        assert web.get(url).status_code == 405, url


def test_anonymous_visitors_are_sent_to_login(client, owner):
    for url in [reverse("member_list"), reverse("member_remove", args=[owner.id])]:
        response = client.get(url) if url == reverse("member_list") else client.post(url)
        assert response.status_code == 302 and reverse("login") in response.url
