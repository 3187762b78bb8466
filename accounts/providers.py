"""The provider names a SocialAccount may hold. The networks' registry is their home
(networks/registry.py), but accounts sits below networks and cannot import it: networks hands
its listing here when Django starts (networks.apps.NetworksConfig.ready), and the model's
`provider` field reads it through a callable, so adding a network changes nothing in accounts
and needs no migration. SocialAccount.Provider keeps the built-in names as constants."""

from __future__ import annotations

from collections.abc import Callable

_source: Callable[[], list[tuple[str, str]]] | None = None


def register(source: Callable[[], list[tuple[str, str]]]) -> None:
    global _source
    _source = source


def choices() -> list[tuple[str, str]]:
    """(name, label) of every registered network; empty until the networks app is ready."""
    return _source() if _source is not None else []


def names() -> list[str]:
    return [name for name, _label in choices()]
