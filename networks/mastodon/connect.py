"""Storing a Mastodon account from a token, for the web flow (pasted token, OAuth callback)
and the API alike: the token is checked (verify_credentials) and the instance's limits read
before accounts.services.account_connect stores it, the token encrypted."""

from __future__ import annotations

from accounts.models import SocialAccount, Workspace
from accounts.services import account_connect
from networks.mastodon import adapter as mastodon_provider


def _host(instance: str) -> str:
    return instance.split("://", 1)[-1]


def mastodon_account_connect(
    *, workspace: Workspace, instance: str, token: str, options: dict
) -> SocialAccount:
    """Raises networks.base.ProviderError with the instance's reason."""
    me = mastodon_provider.verify_token(instance, token)
    limits = mastodon_provider.fetch_instance_limits(instance)
    return account_connect(
        workspace=workspace,
        provider=SocialAccount.Provider.MASTODON,
        handle=f"{me['username']}@{_host(instance)}",
        # Account ids are per instance, so the instance is part of the id.
        external_id=f"{me['id']}@{_host(instance)}",
        credentials={"access_token": token},
        options={"instance": instance, **limits, **options},
    )
