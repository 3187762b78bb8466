"""Members and invitations in the REST API (issue 27, item 6): token auth, the same
permissions and services as the Members page; another workspace's ids are 404."""

from __future__ import annotations

import pytest
from django.core import mail
from rest_framework.test import APIClient

from accounts.models import ApiToken, Invitation, Membership
from tests.factories import MembershipFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db

API = "/api/v1"
ROLES = Membership.Role


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {ApiToken.objects.create(user=user).key}")
    return client


@pytest.fixture
def owner():
    return MembershipFactory(role=ROLES.OWNER, workspace=WorkspaceFactory(slug="acme"))


@pytest.fixture
def api(owner):
    return client_for(owner.user)


@pytest.fixture
def theirs():
    """Another workspace with an owner, a member and a pending invitation."""
    from accounts import members

    their_owner = MembershipFactory(role=ROLES.OWNER, workspace=WorkspaceFactory(slug="rival"))
    member = MembershipFactory(workspace=their_owner.workspace, role=ROLES.EDITOR)
    invitation = members.invitation_create(
        actor=their_owner.user,
        workspace=their_owner.workspace,
        email="t@example.com",
        role="viewer",
    )
    return {"member": member, "invitation": invitation}


def test_owner_lists_members_changes_a_role_and_removes(api, owner):
    editor = MembershipFactory(workspace=owner.workspace, role=ROLES.EDITOR)
    listed = api.get(f"{API}/members/").json()["results"]
    assert {m["username"] for m in listed} == {owner.user.username, editor.user.username}
    assert {m["workspace"] for m in listed} == {"acme"}
    response = api.patch(f"{API}/members/{editor.id}/", {"role": "approver"}, format="json")
    assert response.status_code == 200 and response.json()["role"] == "approver"
    assert Membership.objects.get(id=editor.id).role == ROLES.APPROVER
    assert (
        api.patch(f"{API}/members/{editor.id}/", {"role": "god"}, format="json").status_code == 400
    )
    token = client_for(editor.user)
    assert token.get(f"{API}/channels/").status_code == 200
    assert api.delete(f"{API}/members/{editor.id}/").status_code == 204
    assert token.get(f"{API}/channels/").status_code == 401  # revoked at once
    assert not Membership.objects.filter(id=editor.id).exists()


def test_the_last_owner_cannot_be_demoted_or_removed_in_the_api(api, owner):
    response = api.patch(f"{API}/members/{owner.id}/", {"role": "editor"}, format="json")
    assert response.status_code == 400 and "at least one owner" in str(response.json())
    response = api.delete(f"{API}/members/{owner.id}/")
    assert response.status_code == 400 and "last owner" in str(response.json())
    assert Membership.objects.get(id=owner.id).role == ROLES.OWNER


def test_owner_invites_resends_and_revokes(api, owner, mail_jobs):
    with mail_jobs():
        response = api.post(
            f"{API}/invitations/", {"email": "new@example.com", "role": "editor"}, format="json"
        )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "pending" and body["workspace"] == "acme"
    assert "token" not in body and "/invite/" not in response.content.decode()
    assert [m.to for m in mail.outbox] == [["new@example.com"]]
    invitation_id = body["id"]
    with mail_jobs():
        assert api.post(f"{API}/invitations/{invitation_id}/resend/").status_code == 200
    assert len(mail.outbox) == 2 and mail.outbox[0].body != mail.outbox[1].body
    assert api.delete(f"{API}/invitations/{invitation_id}/").status_code == 204
    assert api.get(f"{API}/invitations/{invitation_id}/").json()["status"] == "revoked"
    assert api.post(f"{API}/invitations/{invitation_id}/resend/").status_code == 400
    # Bad input: a clear 400 and nothing made.
    for data in ({"email": "nope", "role": "editor"}, {"email": "a@b.example", "role": "x"}, {}):
        assert api.post(f"{API}/invitations/", data, format="json").status_code == 400
    bad_ws = {"email": "a@b.example", "role": "editor", "workspace": "rival"}
    assert api.post(f"{API}/invitations/", bad_ws, format="json").status_code == 400
    assert Invitation.objects.count() == 1


@pytest.mark.parametrize("role", [ROLES.EDITOR, ROLES.APPROVER, ROLES.VIEWER])
def test_non_owners_read_members_but_cannot_manage_them(owner, role):
    someone = MembershipFactory(workspace=owner.workspace, role=role)
    api = client_for(someone.user)
    assert api.get(f"{API}/members/").status_code == 200
    assert api.get(f"{API}/invitations/").json()["results"] == []  # owners' business
    writes = [
        api.patch(f"{API}/members/{owner.id}/", {"role": "viewer"}, format="json"),
        api.delete(f"{API}/members/{owner.id}/"),
        api.post(f"{API}/invitations/", {"email": "x@example.com", "role": "owner"}, format="json"),
    ]
    assert [r.status_code for r in writes] == [403, 403, 403]
    assert Membership.objects.get(id=owner.id).role == ROLES.OWNER
    assert not Invitation.objects.exists()
    # Leaving is their own right.
    assert api.delete(f"{API}/members/{someone.id}/").status_code == 204


def test_another_workspaces_members_and_invitations_are_404(api, theirs):
    member, invitation = theirs["member"], theirs["invitation"]
    assert api.get(f"{API}/members/{member.id}/").status_code == 404
    assert (
        api.patch(f"{API}/members/{member.id}/", {"role": "owner"}, format="json").status_code
        == 404
    )
    assert api.delete(f"{API}/members/{member.id}/").status_code == 404
    assert api.get(f"{API}/invitations/{invitation.id}/").status_code == 404
    assert api.post(f"{API}/invitations/{invitation.id}/resend/").status_code == 404
    assert api.delete(f"{API}/invitations/{invitation.id}/").status_code == 404
    listed = api.get(f"{API}/members/").json()["results"]
    assert member.user.username not in {m["username"] for m in listed}
    assert api.get(f"{API}/invitations/").json()["results"] == []
    assert Membership.objects.get(id=member.id).role == ROLES.EDITOR
    invitation.refresh_from_db()
    assert invitation.revoked_at is None and invitation.version == 1


def test_members_endpoints_need_a_token():
    client = APIClient()
    for url in (f"{API}/members/", f"{API}/invitations/"):
        assert client.get(url).status_code == 401
