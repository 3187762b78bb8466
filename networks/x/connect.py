"""Connecting X accounts: the OAuth 2.0 authorization-code flow with PKCE, and pasted
OAuth 1.0a keys.

The flow: `authorize_url()` makes a random `state` and PKCE `code_verifier`, keeps them
(with the workspace and redirect URI) in the user's session, and returns X's authorize URL
with the S256 code challenge. X sends the user back to the callback with `code` and `state`;
`authorize_finish()` checks the state against the session (constant time, single use,
10 minutes), exchanges the code at X's token endpoint, reads the user with GET /2/users/me
and stores the account with its tokens (encrypted). Nothing is stored when any step fails.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import MutableMapping
from urllib.parse import quote, urlencode

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from accounts.models import ActivityAction, Membership, SocialAccount, Workspace
from accounts.services import account_record
from networks.base import AuthFailed, ProviderError
from networks.x import adapter as x_provider

AUTHORIZE_URL = "https://x.com/i/oauth2/authorize"
# media.write: images are uploaded with the user's token (POST /2/media/upload).
SCOPES = ("tweet.read", "tweet.write", "users.read", "offline.access", "media.write")
SESSION_KEY = "x_oauth_pending"
FLOW_MAX_AGE = 10 * 60  # seconds a started connect flow stays valid
WRITE_ROLES = (Membership.Role.OWNER, Membership.Role.EDITOR)


class ConnectError(Exception):
    """A connect attempt failed; `message` is safe to show to the user."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def writable_workspace(user, slug: str | None = None) -> Workspace | None:
    """The workspace the user may connect accounts to: `slug` if they are its owner or
    editor, else their first such membership. None when there is none."""
    memberships = Membership.objects.filter(user=user, role__in=WRITE_ROLES).select_related(
        "workspace"
    )
    if slug:
        memberships = memberships.filter(workspace__slug=slug)
    membership = memberships.order_by("id").first()
    return membership.workspace if membership else None


def pkce_pair() -> tuple[str, str]:
    """A PKCE code verifier (RFC 7636: 43 to 128 unreserved characters) and its S256 challenge."""
    verifier = secrets.token_urlsafe(64)  # 86 characters
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return verifier, challenge


def authorize_url(
    *, session: MutableMapping, workspace: Workspace, redirect_uri: str, user_id: int
) -> str:
    """Start a connect flow: remember state + verifier in `session`, return X's URL."""
    if not settings.X_CLIENT_ID:
        raise ConnectError(
            "Connecting X with OAuth 2.0 is not configured: set X_CLIENT_ID (and "
            "X_CLIENT_SECRET for a confidential app), or paste OAuth 1.0a keys instead."
        )
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(32)
    session[SESSION_KEY] = {
        "state": state,
        "code_verifier": verifier,
        "workspace_id": workspace.id,
        "user_id": user_id,
        "redirect_uri": redirect_uri,
        "started": int(time.time()),
    }
    params = {
        "response_type": "code",
        "client_id": settings.X_CLIENT_ID,
        "redirect_uri": redirect_uri,
        "scope": " ".join(SCOPES),
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return f"{AUTHORIZE_URL}?{urlencode(params, quote_via=quote)}"


def _pending_flow(session: MutableMapping, state: str | None, user_id: int) -> dict:
    pending = session.get(SESSION_KEY)
    if not isinstance(pending, dict) or not pending.get("state"):
        raise ConnectError(
            "This X sign-in was not started here or has already been used: start connecting again."
        )
    if not state or not constant_time_compare(str(state), str(pending["state"])):
        raise ConnectError(
            "The answer from X does not match the sign-in started here (state mismatch): "
            "nothing was stored. Start connecting again."
        )
    # The state matched: the flow is used up, whatever happens next.
    session.pop(SESSION_KEY, None)
    if pending.get("user_id") != user_id:
        raise ConnectError("This X sign-in was started by another user: start again.")
    if time.time() - pending.get("started", 0) > FLOW_MAX_AGE:
        raise ConnectError("This X sign-in took too long (over 10 minutes): start again.")
    return pending


def authorize_finish(
    *,
    session: MutableMapping,
    user,
    state: str | None,
    code: str | None,
    error: str | None = None,
    error_description: str | None = None,
) -> SocialAccount:
    """Finish the flow from X's callback parameters; return the stored account."""
    if error:
        pending = session.get(SESSION_KEY)
        if isinstance(pending, dict) and state and constant_time_compare(state, pending["state"]):
            session.pop(SESSION_KEY, None)
        detail = f" ({error_description[:200]})" if error_description else ""
        if error == "access_denied":
            raise ConnectError(f"X access was not granted{detail}: nothing was connected.")
        raise ConnectError(f"X did not connect the account: {error[:100]}{detail}.")
    pending = _pending_flow(session, state, user.id)
    if not code:
        raise ConnectError("X's answer holds no authorization code: start connecting again.")
    workspace = Workspace.objects.filter(
        id=pending["workspace_id"], memberships__user=user, memberships__role__in=WRITE_ROLES
    ).first()
    if workspace is None:
        raise ConnectError("You can no longer connect accounts to that workspace.")
    try:
        payload = x_provider.token_request(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": pending["redirect_uri"],
                "code_verifier": pending["code_verifier"],
            }
        )
    except x_provider.TokenRequestFailed as exc:
        raise ConnectError(f"{exc.message} Start connecting again.") from None
    except ProviderError as exc:
        raise ConnectError(exc.message) from None
    granted = set(str(payload.get("scope", "")).split())
    if granted and "tweet.write" not in granted:
        raise ConnectError(
            "X did not grant permission to post (tweet.write): connect again and allow it."
        )
    credentials = x_provider.credentials_from_token(payload)
    try:
        me = x_provider.fetch_me(credentials)
    except AuthFailed as exc:
        raise ConnectError(f"X refused the new access token: {exc.message}") from None
    except ProviderError as exc:
        raise ConnectError(f"Could not read the X account: {exc.message}") from None
    return account_store(workspace=workspace, me=me, credentials=credentials)


def connect_with_keys(
    *,
    workspace: Workspace,
    consumer_key: str,
    consumer_secret: str,
    access_token: str,
    access_token_secret: str,
) -> SocialAccount:
    """Verify pasted OAuth 1.0a keys with GET /2/users/me, then store the account."""
    credentials = {
        "auth": x_provider.OAUTH1,
        "consumer_key": consumer_key.strip(),
        "consumer_secret": consumer_secret.strip(),
        "access_token": access_token.strip(),
        "access_token_secret": access_token_secret.strip(),
    }
    try:
        me = x_provider.fetch_me(credentials)
    except AuthFailed:
        raise ConnectError(
            "X refused these keys (401): check the four values and that the access token "
            "belongs to this app."
        ) from None
    except ProviderError as exc:
        raise ConnectError(f"Could not verify the keys with X: {exc.message}") from None
    return account_store(workspace=workspace, me=me, credentials=credentials)


def account_store(*, workspace: Workspace, me: dict, credentials: dict) -> SocialAccount:
    """Create or update the workspace's account for this X user, active again."""
    credentials = {**credentials, "user_id": me["id"]}
    with transaction.atomic():
        account, created = SocialAccount.objects.update_or_create(
            workspace=workspace,
            provider=SocialAccount.Provider.X,
            external_id=me["id"],
            defaults={
                "handle": me["username"],
                "credentials": credentials,
                "status": SocialAccount.Status.ACTIVE,
                "reconnect_notified_at": None,
                "last_error": "",
                "last_checked_at": timezone.now(),
            },
        )
        account_record(
            account=account, action=ActivityAction.ACCOUNT_CONNECTED, reconnected=not created
        )
    return account
