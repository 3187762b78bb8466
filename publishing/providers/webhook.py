"""Webhook: POST the post as JSON to the account's URL, signed, with an idempotency key.

The receiver verifies `X-QueueLoop-Signature: sha256=<hex HMAC-SHA256 of the raw body
keyed with the account's secret>` and dedupes on `Idempotency-Key` (the delivery id), which
is what makes retrying a timed-out call safe.

The URL is user input, so it goes through queueloop.netguard: never a loopback, private or
reserved address (checked after DNS resolution, on the address actually connected to) unless
the operator allowed the host, and never a redirect.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import socket

import requests
from django.conf import settings
from django.utils import timezone

from publishing.providers import PlainTextProvider, Published, RateLimited, Rejected, Transient
from queueloop import netguard

SIGNATURE_HEADER = "X-QueueLoop-Signature"


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def payload_for(delivery) -> dict:
    timeslot = delivery.timeslot
    return {
        "text": delivery.text,
        "post_id": delivery.post_id,
        "timeslot_id": delivery.timeslot_id,
        "delivery_id": delivery.id,
        "channel": timeslot.channel.slug,
        "account": delivery.account.handle,
    }


class WebhookProvider(PlainTextProvider):
    label = "A webhook"
    name = "webhook"
    max_length = 10_000
    idempotent = True

    def publish(self, delivery) -> Published:
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
            session = netguard.session_for(url)
        except netguard.Unresolvable:
            raise Transient("The webhook's host name did not resolve.") from None
        except netguard.BlockedDestination as exc:
            raise Rejected(f"Webhook not called: {exc}") from None
        try:
            response = session.post(
                url,
                data=body,
                headers=headers,
                timeout=settings.WEBHOOK_HTTP_TIMEOUT,
                allow_redirects=False,
            )
        except netguard.InvalidIPAddress:
            # The name now resolves to a private address (rebinding): nothing was sent.
            raise Rejected(f"Webhook not called: {netguard.REFUSED}") from None
        except requests.ConnectTimeout as exc:
            raise Transient(f"Could not connect to the webhook: {exc.__class__.__name__}") from None
        except requests.ConnectionError as exc:
            if isinstance(exc.__cause__, socket.gaierror):
                raise Transient("The webhook's host name did not resolve.") from None
            raise Transient(
                f"Webhook connection failed: {exc.__class__.__name__}", maybe_sent=True
            ) from None
        except requests.Timeout:
            raise Transient("The webhook did not answer in time.", maybe_sent=True) from None
        if 200 <= response.status_code < 300:
            return Published(external_id=response.headers.get("X-Post-Id", ""), url="")
        if response.status_code == 429:
            retry_after = response.headers.get("Retry-After", "")
            seconds = int(retry_after) if retry_after.isdigit() else 60
            raise RateLimited(
                "The webhook asked us to slow down (429).",
                reset_at=timezone.now() + dt.timedelta(seconds=seconds),
            )
        if 300 <= response.status_code < 400:
            raise Rejected(
                f"The webhook answered with a redirect (HTTP {response.status_code}); redirects "
                "are not followed: use the final URL."
            )
        if response.status_code >= 500:
            raise Transient(f"The webhook answered {response.status_code}.", maybe_sent=True)
        raise Rejected(f"The webhook refused the post with HTTP {response.status_code}.")

    def check(self, account) -> str:
        if not account.credentials.get("url") or not account.credentials.get("secret"):
            raise Rejected("The webhook account has no URL or secret.")
        return "The webhook has a URL and a secret."


provider = WebhookProvider()
