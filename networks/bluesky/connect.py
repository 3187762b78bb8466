"""Connecting a Bluesky account with an app password, for the web page and the API alike:
the adapter signs in (createSession) before accounts.services.account_connect stores the
session and the app password, encrypted."""

from __future__ import annotations

from accounts.models import SocialAccount, Workspace
from accounts.services import account_connect
from networks.bluesky import adapter as bluesky_provider


def bluesky_account_connect(
    *, workspace: Workspace, service: str, handle: str, app_password: str, language: str
) -> SocialAccount:
    """Raises networks.base.ProviderError with the service's reason."""
    client, info = bluesky_provider.sign_in(service, handle, app_password)
    client.request.close()
    return account_connect(
        workspace=workspace,
        provider=SocialAccount.Provider.BLUESKY,
        handle=info["handle"],
        external_id=info["did"],
        credentials={
            "identifier": handle,
            "app_password": app_password,
            "session": info["session"],
        },
        options={"service": service, "langs": [language] if language else []},
    )
