"""Connecting a Threads profile: Meta's authorization-code flow, then a long-lived token.

`authorize_url()` keeps a random `state` (with the workspace, the user and the redirect URI)
in the person's session and returns threads.net's authorize page for our app, asking for
threads_basic, threads_content_publish (posts) and threads_manage_replies (a thread's later
parts and first comments are replies). Meta sends the person back to the callback with
`code` and `state`; `authorize_finish()` checks the state (constant time, single use, 10
minutes), exchanges the code for a short-lived token (POST /oauth/access_token), that one
for a long-lived token (60 days, GET /access_token, th_exchange_token), reads the profile
(GET /me) and stores the account, its token encrypted. Nothing is stored when a step fails.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import MutableMapping
from urllib.parse import quote, urlencode

from django.conf import settings
from django.utils.crypto import constant_time_compare

from accounts.models import Membership, SocialAccount, Workspace
from accounts.services import account_connect
from networks.base import ProviderError
from networks.threads import api, tokens

# threads_manage_insights: the posts' counts (networks/threads/metrics.py).
SCOPES = (
    "threads_basic",
    "threads_content_publish",
    "threads_manage_replies",
    "threads_manage_insights",
)
SESSION_KEY = "threads_oauth_pending"
FLOW_MAX_AGE = 10 * 60
WRITE_ROLES = (Membership.Role.OWNER, Membership.Role.EDITOR)
NOT_CONFIGURED = (
    "Connecting Threads is not set up on this server: the operator must set THREADS_APP_ID "
    "and THREADS_APP_SECRET from a Meta app with the Threads use case, and restart Queue Loop."
)


class ConnectError(Exception):
    """A connect attempt failed; `message` is safe to show."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def configured() -> bool:
    return bool(settings.THREADS_APP_ID and settings.THREADS_APP_SECRET)


def authorize_url(
    *, session: MutableMapping, workspace: Workspace, redirect_uri: str, user_id: int
) -> str:
    if not configured():
        raise ConnectError(NOT_CONFIGURED)
    state = secrets.token_urlsafe(32)
    session[SESSION_KEY] = {
        "state": state,
        "workspace_id": workspace.id,
        "user_id": user_id,
        "redirect_uri": redirect_uri,
        "started": int(time.time()),
    }
    params = {
        "client_id": settings.THREADS_APP_ID,
        "redirect_uri": redirect_uri,
        "scope": ",".join(SCOPES),
        "response_type": "code",
        "state": state,
    }
    base = settings.THREADS_AUTH_BASE.rstrip("/")
    return f"{base}/oauth/authorize?{urlencode(params, quote_via=quote)}"


def _pending(session: MutableMapping, state: str | None, user_id: int) -> dict:
    pending = session.get(SESSION_KEY)
    if not isinstance(pending, dict) or not pending.get("state"):
        raise ConnectError(
            "This Threads sign-in was not started here or was already used: connect again."
        )
    if not state or not constant_time_compare(str(state), str(pending["state"])):
        raise ConnectError(
            "The answer from Threads does not match the sign-in started here (state "
            "mismatch): nothing was stored. Connect again."
        )
    session.pop(SESSION_KEY, None)  # used up, whatever happens next
    if pending.get("user_id") != user_id:
        raise ConnectError("This Threads sign-in was started by another user: connect again.")
    if time.time() - pending.get("started", 0) > FLOW_MAX_AGE:
        raise ConnectError("This Threads sign-in took over 10 minutes: connect again.")
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
    if error:
        session.pop(SESSION_KEY, None)
        detail = f" ({error_description[:200]})" if error_description else ""
        raise ConnectError(f"Threads did not connect the account: {error[:100]}{detail}.")
    pending = _pending(session, state, user.id)
    if not code:
        raise ConnectError("Threads' answer holds no authorization code: connect again.")
    workspace = Workspace.objects.filter(
        id=pending["workspace_id"], memberships__user=user, memberships__role__in=WRITE_ROLES
    ).first()
    if workspace is None:
        raise ConnectError("You can no longer connect accounts to that workspace.")
    try:
        short = api.exchange_code(code=code, redirect_uri=pending["redirect_uri"])
        long = api.long_lived(str(short.get("access_token") or ""))
        credentials = tokens.credentials_from(long)
        me = api.graph(
            "GET", "me", token=credentials["access_token"], what="the profile", fields="id,username"
        )
    except ProviderError as exc:
        raise ConnectError(f"Threads did not connect the account: {exc.message}") from None
    except KeyError:
        raise ConnectError("Threads gave no long-lived token: connect again.") from None
    user_id = str(me.get("id") or short.get("user_id") or "")
    if not user_id:
        raise ConnectError("Threads did not say which profile signed in: connect again.")
    username = str(me.get("username") or user_id)
    return account_connect(
        workspace=workspace,
        provider="threads",
        handle=username[:100],
        external_id=user_id,
        credentials=credentials,
        options={"user_id": user_id, "username": username},
    )
