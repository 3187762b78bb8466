"""Every social network Queue Loop publishes to, one module or folder each, behind one
written contract (networks/contract.py) and listed in one registry (networks/registry.py).
How to add one: networks/README.md.

The names most callers need are importable from here; importing this package loads no
network SDK (the registry imports a network's module on first use).
"""

from networks.base import (
    AuthFailed,
    PlainTextProvider,
    ProviderError,
    RateLimited,
    Rejected,
    Transient,
    delivery_images,
    image_type_problem,
    limit_for,
    needs_image,
    validate_for,
)
from networks.contract import Published
from networks.registry import get_provider, load_all

__all__ = [
    "AuthFailed",
    "PlainTextProvider",
    "ProviderError",
    "Published",
    "RateLimited",
    "Rejected",
    "Transient",
    "delivery_images",
    "get_provider",
    "image_type_problem",
    "limit_for",
    "load_all",
    "needs_image",
    "validate_for",
]
