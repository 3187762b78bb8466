"""What a network keeps between attempts of one delivery (`Delivery.network_state`).

A network whose publish is two calls (Meta's Threads, Instagram and Facebook: create a
container, then publish it) writes the container's id here the moment it has it, so a retry
after a lost answer publishes the same container — which the network publishes at most once —
instead of making a second one. The write goes to the database at once, before the next call,
as networks/thread.py does for each part.
"""

from __future__ import annotations

from typing import Any


def remember(delivery, **values: Any) -> None:
    """Merge `values` into the delivery's network_state and save them now."""
    state = dict(delivery.network_state or {})
    state.update(values)
    # The delivery's own model (publishing.Delivery): publishing sits above networks, so its
    # manager is read from the row, not imported.
    type(delivery)._default_manager.filter(id=delivery.id).update(network_state=state)
    delivery.network_state = state


def recall(delivery, key: str, default: Any = None) -> Any:
    """A value a previous attempt kept (None when there was none)."""
    return (delivery.network_state or {}).get(key, default)
