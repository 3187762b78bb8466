"""Switching workspace: a viewer may switch, and still changes nothing in the new one."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import Membership
from tests.factories import MembershipFactory


@pytest.mark.django_db
def test_a_viewer_can_switch_workspace_but_still_not_change_anything(client):
    viewer = MembershipFactory(role=Membership.Role.VIEWER)
    other = MembershipFactory(user=viewer.user, role=Membership.Role.VIEWER)
    client.force_login(viewer.user)
    response = client.post(reverse("workspace_switch"), {"workspace": other.workspace_id})
    assert response.status_code == 302
    assert client.session["workspace_id"] == other.workspace_id
    assert client.post(reverse("account_add_sandbox"), {"handle": "x"}).status_code == 403
