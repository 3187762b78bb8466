"""Connecting LinkedIn: OAuth 2.0's 3-legged flow, then the member or one of their pages.

1. `authorize_url()` makes a random `state`, keeps it (with the workspace, the redirect URI
   and whether pages were asked for) in the user's session, and returns LinkedIn's
   authorization URL. Scopes: `openid profile w_member_social` (the member's own posts,
   who they are), plus `w_organization_social r_organization_admin` when connecting a page
   (post as the page; list the pages the member administers).
2. LinkedIn sends the user back with `code` and `state`; `authorize_finish()` checks the
   state (constant time, single use, 10 minutes), exchanges the code at the token
   endpoint, reads the member (GET /v2/userinfo) and, for pages, the organizations they
   administer (GET /rest/organizationAcls?q=roleAssignee&role=ADMINISTRATOR&state=APPROVED,
   then each organization's name). It returns the choices: the member and each page.
   Nothing is stored yet. The tokens wait in the session encrypted (ground.fields), for
   10 minutes, until the user picks.
3. `choose()` stores the picked one as an account (accounts.services.account_connect): its
   author URN is the account's external_id, so connecting it again updates it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import MutableMapping
from enum import StrEnum
from urllib.parse import quote, urlencode

from django.conf import settings
from django.utils.crypto import constant_time_compare

from accounts.models import Membership, SocialAccount, Workspace
from accounts.services import account_connect
from ground.fields import decrypt_json, encrypt_json
from networks.base import AuthFailed, ProviderError
from networks.linkedin import adapter, api, tokens

MEMBER_SCOPES = ("openid", "profile", "w_member_social")
PAGE_SCOPES = ("w_organization_social", "r_organization_admin", "r_organization_social")
SESSION_KEY = "linkedin_oauth_pending"
CHOICE_KEY = "linkedin_oauth_choice"
FLOW_MAX_AGE = 10 * 60  # seconds a started connect flow, or a pending choice, stays valid
WRITE_ROLES = (Membership.Role.OWNER, Membership.Role.EDITOR)


class AuthorKind(StrEnum):
    MEMBER = "member"
    ORGANIZATION = "organization"


class ConnectError(Exception):
    """A connect attempt failed; `message` is safe to show to the user."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def configured() -> bool:
    return bool(settings.LINKEDIN_CLIENT_ID and settings.LINKEDIN_CLIENT_SECRET)


def authorize_url(
    *,
    session: MutableMapping,
    workspace: Workspace,
    redirect_uri: str,
    user_id: int,
    pages: bool,
) -> str:
    """Start a connect flow: remember its state in `session`, return LinkedIn's URL."""
    if not configured():
        raise ConnectError(
            "Connecting LinkedIn is not configured: the operator must set LINKEDIN_CLIENT_ID "
            "and LINKEDIN_CLIENT_SECRET from a LinkedIn developer app."
        )
    state = secrets.token_urlsafe(32)
    session[SESSION_KEY] = {
        "state": state,
        "workspace_id": workspace.id,
        "user_id": user_id,
        "redirect_uri": redirect_uri,
        "pages": pages,
        "started": int(time.time()),
    }
    scopes = MEMBER_SCOPES + (PAGE_SCOPES if pages else ())
    params = {
        "response_type": "code",
        "client_id": settings.LINKEDIN_CLIENT_ID,
        "redirect_uri": redirect_uri,
        "state": state,
        "scope": " ".join(scopes),
    }
    base = settings.LINKEDIN_AUTH_BASE.rstrip("/")
    return f"{base}/oauth/v2/authorization?{urlencode(params, quote_via=quote)}"


def _pending_flow(session: MutableMapping, state: str | None, user_id: int) -> dict:
    pending = session.get(SESSION_KEY)
    if not isinstance(pending, dict) or not pending.get("state"):
        raise ConnectError(
            "This LinkedIn sign-in was not started here or has already been used: start "
            "connecting again."
        )
    if not state or not constant_time_compare(str(state), str(pending["state"])):
        raise ConnectError(
            "The answer from LinkedIn does not match the sign-in started here (state "
            "mismatch): nothing was stored. Start connecting again."
        )
    session.pop(SESSION_KEY, None)  # the state matched: the flow is used up
    if pending.get("user_id") != user_id:
        raise ConnectError("This LinkedIn sign-in was started by another user: start again.")
    if time.time() - pending.get("started", 0) > FLOW_MAX_AGE:
        raise ConnectError("This LinkedIn sign-in took too long (over 10 minutes): start again.")
    return pending


def _workspace(user, workspace_id) -> Workspace:
    workspace = Workspace.objects.filter(
        id=workspace_id, memberships__user=user, memberships__role__in=WRITE_ROLES
    ).first()
    if workspace is None:
        raise ConnectError("You can no longer connect accounts to that workspace.")
    return workspace


def authorize_finish(
    *,
    session: MutableMapping,
    user,
    state: str | None,
    code: str | None,
    error: str | None = None,
    error_description: str | None = None,
) -> list[dict]:
    """Finish the sign-in from LinkedIn's callback: the choices (the member, then each page
    they administer), kept in the session for choose()."""
    if error:
        pending = session.get(SESSION_KEY)
        if isinstance(pending, dict) and state and constant_time_compare(state, pending["state"]):
            session.pop(SESSION_KEY, None)
        detail = f" ({error_description[:200]})" if error_description else ""
        if error in ("user_cancelled_login", "user_cancelled_authorize", "access_denied"):
            raise ConnectError(f"LinkedIn access was not granted{detail}: nothing was connected.")
        raise ConnectError(f"LinkedIn did not connect the account: {error[:100]}{detail}.")
    pending = _pending_flow(session, state, user.id)
    if not code:
        raise ConnectError("LinkedIn's answer holds no authorization code: start again.")
    _workspace(user, pending["workspace_id"])
    try:
        payload = tokens.token_request(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": pending["redirect_uri"],
            }
        )
    except tokens.TokenRequestFailed as exc:
        raise ConnectError(f"{exc.message} Start connecting again.") from None
    except ProviderError as exc:
        raise ConnectError(exc.message) from None
    credentials = tokens.credentials_from_token(payload)
    granted = set(str(credentials.get("scope", "")).replace(",", " ").split())
    if granted and "w_member_social" not in granted and "w_organization_social" not in granted:
        raise ConnectError(
            "LinkedIn did not grant permission to post (w_member_social): connect again and "
            "allow it."
        )
    token = credentials["access_token"]
    try:
        member = adapter.fetch_member(token)
        pages = adapter.fetch_pages(token) if pending.get("pages") else []
    except api.Unauthorized as exc:
        raise ConnectError(f"LinkedIn refused the new access token (401: {exc.message}).") from None
    except AuthFailed as exc:
        raise ConnectError(f"LinkedIn refused the new access token: {exc.message}") from None
    except ProviderError as exc:
        raise ConnectError(f"Could not read the LinkedIn account: {exc.message}") from None
    if pending.get("pages") and granted and "w_organization_social" not in granted:
        pages = []  # listed, but not granted the right to post as them
    choices = [
        {
            "author": member["urn"],
            "kind": AuthorKind.MEMBER.value,
            "name": member["name"],
            "handle": member["name"],
            "member": member["urn"],
        }
    ] + [
        {
            "author": page["urn"],
            "kind": AuthorKind.ORGANIZATION.value,
            "name": page["name"],
            "handle": page["vanity_name"] or page["name"],
            "member": member["urn"],
        }
        for page in pages
    ]
    session[CHOICE_KEY] = {
        "credentials": encrypt_json(credentials),
        "choices": choices,
        "workspace_id": pending["workspace_id"],
        "user_id": user.id,
        "pages": bool(pending.get("pages")),
        "started": int(time.time()),
    }
    return choices


def pending_choices(session: MutableMapping, user_id: int) -> list[dict]:
    """The choices a finished sign-in left for this user ([] when none, or too old)."""
    pending = session.get(CHOICE_KEY)
    if not isinstance(pending, dict) or pending.get("user_id") != user_id:
        return []
    if time.time() - pending.get("started", 0) > FLOW_MAX_AGE:
        session.pop(CHOICE_KEY, None)
        return []
    return list(pending.get("choices") or [])


def asked_for_pages(session: MutableMapping) -> bool:
    pending = session.get(CHOICE_KEY)
    return bool(isinstance(pending, dict) and pending.get("pages"))


def choose(*, session: MutableMapping, user, author: str) -> SocialAccount:
    """Store the picked member or page as an account, with the sign-in's tokens."""
    choices = pending_choices(session, user.id)
    if not choices:
        raise ConnectError(
            "There is no LinkedIn sign-in waiting for a choice (or it is over 10 minutes "
            "old): start connecting again."
        )
    picked = next((c for c in choices if c["author"] == author), None)
    if picked is None:
        raise ConnectError("Pick your profile or one of the pages listed.")
    pending = session.pop(CHOICE_KEY)
    workspace = _workspace(user, pending["workspace_id"])
    return account_connect(
        workspace=workspace,
        provider=adapter.network.name,
        handle=str(picked["handle"])[:100],
        external_id=picked["author"],
        credentials=decrypt_json(pending["credentials"]),
        options={
            "author": picked["author"],
            "kind": picked["kind"],
            "name": picked["name"],
            "member": picked["member"],
        },
    )
