"""Webhook: POST the post as JSON to the account's URL, signed, with an idempotency key.

The receiver verifies `X-QueueLoop-Signature: sha256=<hex HMAC-SHA256 of the raw body
keyed with the account's secret>` and dedupes on `Idempotency-Key` (the delivery id), which
is what makes retrying a timed-out call safe.

Images travel as absolute URLs with their alt text (`images`: [{"url", "alt_text",
"content_type", "width", "height"}]); the receiver fetches them itself.

The URL is user input, so it goes through queueloop.netguard: never a loopback, private or
reserved address (checked after DNS resolution, on the address actually connected to) unless
the operator allowed the host, and never a redirect.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from urllib.parse import urljoin, urlsplit

from django.conf import settings
from django.utils import timezone
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NameResolutionError,
    NewConnectionError,
    ReadTimeoutError,
)

from publishing.providers import (
    PlainTextProvider,
    Published,
    RateLimited,
    Rejected,
    Transient,
    delivery_images,
    thread,
)
from queueloop import netguard

SIGNATURE_HEADER = "X-QueueLoop-Signature"


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def absolute_url(url: str) -> str:
    """The storage's URL made absolute with PUBLIC_BASE_URL (a bucket's URL already is)."""
    if urlsplit(url).scheme in ("http", "https"):
        return url
    if not settings.PUBLIC_BASE_URL:
        raise Rejected(
            "This post has images, and the webhook needs their absolute URLs: set "
            "PUBLIC_BASE_URL (e.g. https://queueloop.example.com) or a MEDIA_URL with a host."
        )
    return urljoin(settings.PUBLIC_BASE_URL + "/", url.lstrip("/"))


def images_for(delivery) -> list[dict]:
    images = delivery_images(delivery)
    return [
        {
            "url": absolute_url(image.file.url),
            "alt_text": image.alt_text,
            "content_type": image.content_type,
            "width": image.width,
            "height": image.height,
        }
        for image in images
    ]


def payload_for(delivery) -> dict:
    timeslot = delivery.timeslot
    return {
        "text": delivery.text,
        "post_id": delivery.post_id,
        "timeslot_id": delivery.timeslot_id,
        "delivery_id": delivery.id,
        "channel": timeslot.channel.slug,
        "account": delivery.account.handle,
        "images": images_for(delivery),
        # A thread's later parts (empty for a single post); the receiver posts them in order.
        "thread_parts": list(delivery.thread_parts or []),
    }


class WebhookProvider(PlainTextProvider):
    label = "A webhook"
    name = "webhook"
    max_length = 10_000
    idempotent = True

    def publish(self, delivery) -> Published:
        errors = thread.validate_parts(self, delivery)
        if errors:
            raise Rejected(" ".join(errors))
        credentials = delivery.account.credentials
        url, secret = credentials.get("url", ""), credentials.get("secret", "")
        if not url or not secret:
            raise Rejected("The webhook account has no URL or secret: edit the account.")
        body = json.dumps(payload_for(delivery), separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": str(delivery.id),
            SIGNATURE_HEADER: sign(body, secret),
            "User-Agent": "QueueLoop/0.1",
        }
        try:
            response = netguard.post(
                url, body=body, headers=headers, timeout=settings.WEBHOOK_HTTP_TIMEOUT
            )
        except netguard.Unresolvable:
            raise Transient("The webhook's host name did not resolve.") from None
        except netguard.BlockedDestination as exc:
            raise Rejected(f"Webhook not called: {exc}") from None
        except NameResolutionError:
            raise Transient("The webhook's host name did not resolve.") from None
        except (ConnectTimeoutError, NewConnectionError) as exc:
            # No connection was made: nothing was sent.
            raise Transient(f"Could not connect to the webhook: {exc.__class__.__name__}") from None
        except ReadTimeoutError:
            raise Transient("The webhook did not answer in time.", maybe_sent=True) from None
        except HTTPError as exc:
            raise Transient(
                f"Webhook connection failed: {exc.__class__.__name__}", maybe_sent=True
            ) from None
        if 200 <= response.status < 300:
            return Published(external_id=response.headers.get("X-Post-Id", ""), url="")
        if response.status == 429:
            retry_after = response.headers.get("Retry-After", "")
            seconds = int(retry_after) if retry_after.isdigit() else 60
            raise RateLimited(
                "The webhook asked us to slow down (429).",
                reset_at=timezone.now() + dt.timedelta(seconds=seconds),
            )
        if 300 <= response.status < 400:
            raise Rejected(
                f"The webhook answered with a redirect (HTTP {response.status}); redirects "
                "are not followed: use the final URL."
            )
        if response.status >= 500:
            raise Transient(f"The webhook answered {response.status}.", maybe_sent=True)
        raise Rejected(f"The webhook refused the post with HTTP {response.status}.")

    def check(self, account) -> str:
        if not account.credentials.get("url") or not account.credentials.get("secret"):
            raise Rejected("The webhook account has no URL or secret.")
        return "The webhook has a URL and a secret."


provider = WebhookProvider()
