"""Webhook: POST the post as JSON to the account's URL, signed, with an idempotency key.

The receiver verifies `X-QueueLoop-Signature: sha256=<hex HMAC-SHA256 of the raw body
keyed with the account's secret>` and dedupes on `Idempotency-Key` (the delivery id), which
is what makes retrying a timed-out call safe.

Images travel as absolute URLs with their alt text (`images`: [{"url", "alt_text",
"content_type", "width", "height"}]); the receiver fetches them itself, with the URL's own
signature, before it expires (MEDIA_FETCH_URL_MAX_AGE, posts.signed_media).

The URL is user input, so it goes through ground.http_transport.curl: never a loopback, private or
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
from django.core.files.storage import FileSystemStorage, default_storage
from django.utils import timezone

from ground.http_transport import curl as netguard
from networks import thread
from networks.base import (
    PlainTextProvider,
    RateLimited,
    Rejected,
    Transient,
    delivery_images,
)
from networks.contract import Capabilities, LengthCounting, Published

SIGNATURE_HEADER = "X-QueueLoop-Signature"


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


IMAGES_NEED_BASE_URL = (
    "This post has images, and the webhook needs their absolute URLs: set "
    "PUBLIC_BASE_URL (e.g. https://queueloop.example.com) or a MEDIA_URL with a host."
)


def image_url_problem() -> str:
    """Why a webhook cannot be sent images on this site ("" when it can): MEDIA_URL is a
    path and PUBLIC_BASE_URL is unset. Checked before anything is scheduled (adding a
    webhook account, the composer's preview, the upcoming slots), not only when publishing."""
    if settings.PUBLIC_BASE_URL or urlsplit(settings.MEDIA_URL).scheme in ("http", "https"):
        return ""
    if not isinstance(default_storage, FileSystemStorage):
        return ""  # a bucket gives absolute URLs of its own
    return IMAGES_NEED_BASE_URL


def absolute_url(url: str) -> str:
    """The storage's URL made absolute with PUBLIC_BASE_URL (a bucket's URL already is)."""
    if urlsplit(url).scheme in ("http", "https"):
        return url
    if not settings.PUBLIC_BASE_URL:
        raise Rejected(IMAGES_NEED_BASE_URL)
    return urljoin(settings.PUBLIC_BASE_URL + "/", url.lstrip("/"))


def images_for(delivery) -> list[dict]:
    images = delivery_images(delivery)
    return [
        {
            "url": absolute_url(image.fetch_url()),
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
    capabilities = Capabilities(
        threads=True,
        images=True,
        max_images=4,
        video=False,
        first_comment=False,
        idempotent=True,
        read_back=False,
        length_counting=LengthCounting.CHARACTERS,
    )

    # Its calls go through curl's multi interface from the task's own thread
    # (publishing/lanes.py): request() builds a call, outcome() reads its answer.
    multiplexed = True

    def publish(self, delivery) -> Published:
        try:
            answer = netguard.fetch(self.request(delivery))
        except (netguard.BlockedDestination, netguard.TransportError) as exc:
            return self.outcome(delivery, exc)
        return self.outcome(delivery, answer)

    def request(self, delivery) -> netguard.Request:
        """The signed POST for this delivery; raise Rejected when it cannot be made."""
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
        return netguard.Request("POST", url, headers, body, settings.WEBHOOK_HTTP_TIMEOUT)

    def outcome(self, delivery, response: netguard.Fetched | Exception) -> Published:
        """What the answer (or the transport's error) means; raise the provider errors."""
        if isinstance(response, netguard.Unresolvable):
            raise Transient("The webhook's host name did not resolve.")
        if isinstance(response, netguard.BlockedDestination):
            raise Rejected(f"Webhook not called: {response}")
        if isinstance(response, netguard.TransportError):
            if not response.maybe_sent:
                # No byte of the request left: nothing was sent.
                raise Transient(f"Could not connect to the webhook ({response}).")
            if response.timed_out:
                raise Transient("The webhook did not answer in time.", maybe_sent=True)
            raise Transient(f"Webhook connection failed ({response}).", maybe_sent=True)
        if isinstance(response, Exception):
            raise response
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


network = WebhookProvider()
# The name the code used before networks/ had a contract.
provider = network
