"""The registry: one line per network. Everything that lists or looks up networks reads it
(the provider lookup below, the account choices, the connect URLs and the accounts page's
connect menu), so adding a network is its module, its fake in tests/ and one line here
(networks/README.md).

A line names the network's label and the module that holds its `network` object (the contract,
networks/contract.py), plus, when it has one, its connect flow: a urls module mounted at
/connect/<name>/. The module is imported on first use, not with this registry: the networks'
SDKs (atproto, Mastodon.py, twitter-text) cost CPU (bench/README.md,
"first_get_provider_seconds") that a web process showing a form need not pay. A worker calls
load_all() when it loads its tasks, so no hot second pays it under the GIL
(publishing/tasks.py).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from networks.contract import Network


@dataclass(frozen=True)
class Listing:
    label: str
    # Dotted path of the module whose `network` keeps the contract.
    module: str
    # Dotted path of a urls module mounted at /connect/<name>/ ("" when none).
    urls: str = ""
    # The short name the composer's counters use ("" = the label).
    short: str = ""
    # Its icon: one or two characters drawn in the network's colour (the CSS class
    # `.provider-<name>` in static/css/app.css; "" = the label's first letter). Letters, not
    # logos: no brand files to license, and they read at any size.
    mark: str = ""


# One line per network. Its box in the accounts page's connect menu is the template
# networks/<name>/connect_menu.html (templates/), by convention.
NETWORKS: dict[str, Listing] = {
    "x": Listing("X (Twitter)", "networks.x.adapter", urls="networks.x.urls", short="X"),
    "mastodon": Listing("Mastodon", "networks.mastodon.adapter", urls="networks.mastodon.urls"),
    "bluesky": Listing("Bluesky", "networks.bluesky.adapter", urls="networks.bluesky.urls"),
    "telegram": Listing(
        "Telegram", "networks.telegram.adapter", urls="networks.telegram.urls", mark="TG"
    ),
    "sandbox": Listing("Sandbox", "networks.sandbox"),
    "webhook": Listing("Webhook", "networks.webhook", mark="{}"),
    "discord": Listing("Discord", "networks.discord.adapter", urls="networks.discord.urls"),
    "facebook": Listing(
        "Facebook Pages",
        "networks.facebook.adapter",
        urls="networks.facebook.urls",
        short="Facebook",
        mark="f",
    ),
    "instagram": Listing(
        "Instagram", "networks.instagram.adapter", urls="networks.instagram.urls", mark="IG"
    ),
    "threads": Listing(
        "Threads", "networks.threads.adapter", urls="networks.threads.urls", mark="@"
    ),
    "linkedin": Listing(
        "LinkedIn", "networks.linkedin.adapter", urls="networks.linkedin.urls", mark="in"
    ),
}


def names() -> list[str]:
    return list(NETWORKS)


def connect_menus() -> list[str]:
    """The templates of the networks' boxes in the accounts page's connect menu, in order."""
    return [f"networks/{name}/connect_menu.html" for name in NETWORKS]


def short_name(name: str) -> str:
    """The network's short name for counters and lists ("X"); an unknown name as it is."""
    listing = NETWORKS.get(name)
    return (listing.short or listing.label) if listing else name


def mark(name: str) -> str:
    """The network's icon letters ("TG"); an unknown name's first letter."""
    listing = NETWORKS.get(name)
    if listing is None:
        return name[:1].upper()
    return listing.mark or listing.label[:1]


def choices() -> list[tuple[str, str]]:
    """(name, label) of every registered network, for choice fields."""
    return [(name, listing.label) for name, listing in NETWORKS.items()]


@cache
def load_all() -> dict[str, Network]:
    """Every network by name, its module imported (see the module docstring). Cached: a
    delivery asks for its network several times, and five imports per ask showed in the
    hot second."""
    return {
        name: importlib.import_module(listing.module).network for name, listing in NETWORKS.items()
    }


def get_provider(name: str) -> Network:
    try:
        return load_all()[name]
    except KeyError:
        raise ValueError(f"Unknown provider {name!r}") from None
