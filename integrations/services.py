"""Endpoint writes (the pages, the API and the admin go through these).

An endpoint's URL obeys the webhook address rules (DESIGN §7.6) when it is saved — a clear
error before anything is stored — and again at every send, on the address connected to
(integrations.sending, through ground.http_transport.curl).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import EventType, Workspace
from ground.address_policy import WEBHOOKS, BlockedDestination, Unresolvable
from integrations import signing
from integrations.models import Endpoint

MAX_ENDPOINTS = 20  # per workspace: every event is sent to each


def _checked_url(url: str) -> str:
    url = (url or "").strip()
    if len(url) > 500:
        raise ValidationError({"url": "The URL is longer than 500 characters."})
    try:
        WEBHOOKS.check_url(url)
    except Unresolvable as exc:
        raise ValidationError({"url": str(exc)}) from None
    except BlockedDestination as exc:
        raise ValidationError({"url": str(exc)}) from None
    return url


def _types(event_types: Iterable[str]) -> list[str]:
    types = list(dict.fromkeys(event_types))
    unknown = [t for t in types if t not in EventType.values]
    if unknown:
        raise ValidationError(
            {
                "event_types": f"Unknown event type(s): {', '.join(map(str, unknown))}. "
                f"Known: {', '.join(EventType.values)}."
            }
        )
    return types


def endpoint_create(
    *,
    workspace: Workspace,
    url: str,
    event_types: Iterable[str] = (),
    description: str = "",
    secret: str = "",
) -> Endpoint:
    """A new endpoint with a new `whsec_` secret (or the given one, when valid); no event
    types means every type."""
    url, types = _checked_url(url), _types(event_types)
    if secret and not signing.is_valid_secret(secret):
        raise ValidationError(
            {"secret": "A secret is whsec_ followed by 24 to 64 bytes in base64."}
        )
    with transaction.atomic():
        Workspace.objects.select_for_update().filter(id=workspace.id).first()
        if Endpoint.objects.filter(workspace=workspace).count() >= MAX_ENDPOINTS:
            raise ValidationError(f"A workspace has at most {MAX_ENDPOINTS} endpoints.")
        return Endpoint.objects.create(
            workspace=workspace,
            url=url,
            event_types=types,
            description=description.strip()[:200],
            credentials={"secret": secret or signing.new_secret()},
        )


def endpoint_update(
    *,
    endpoint: Endpoint,
    url: str | None = None,
    event_types: Iterable[str] | None = None,
    description: str | None = None,
    is_active: bool | None = None,
) -> Endpoint:
    fields = []
    if url is not None and url != endpoint.url:
        endpoint.url = _checked_url(url)
        fields.append("url")
    if event_types is not None:
        endpoint.event_types = _types(event_types)
        fields.append("event_types")
    if description is not None:
        endpoint.description = description.strip()[:200]
        fields.append("description")
    if is_active is not None:
        endpoint.is_active = is_active
        fields.append("is_active")
    if fields:
        endpoint.save(update_fields=fields)
    return endpoint


def endpoint_rotate_secret(*, endpoint: Endpoint) -> Endpoint:
    endpoint.credentials = {"secret": signing.new_secret()}
    endpoint.save(update_fields=["credentials"])
    return endpoint


def endpoint_delete(*, endpoint: Endpoint) -> None:
    endpoint.delete()
