"""Discord: a channel webhook (Execute Webhook, `POST /webhooks/<id>/<token>?wait=true`).

An account is one channel webhook: its URL (networks/discord/address.py) is the whole
credential, stored encrypted as `credentials["url"]`; `options` hold what is not secret
(the webhook's id, name, channel and server, read when it is connected or checked).

What we send. One message per part: `content` (at most 2,000 characters, counted in code
points, as Discord's API counts), as JSON; with images, a multipart body: `payload_json`
(the same JSON plus `attachments`: `{"id": n, "filename", "description": <alt text>}`)
and one `files[n]` part per image (at most 10 per message, each shrunk under 10 MiB).
`wait=true`, so Discord answers with the message it made (its id, for the delivery's link)
or with an error when it made none.

Threads. A webhook cannot reply to a message, so a post's later parts go out as separate
messages right after the first, in order (networks/thread.py records each one as it goes
and a retry resumes after the last that went out). Images go with the first.

At most once. Execute Webhook takes no idempotency key and nothing can find a message whose
answer was lost (a webhook reads a message only by its id), so the network is not
idempotent: a call that may have reached Discord (the connection broke after the request
was written, a timeout, a 5xx other than 502) ends the delivery `unconfirmed`, never sent
again, as on X. A 429 and a 502 ("no gateway was available to process the request") made
no message, so they are retried.

Errors. 401 / 404 (an invalid token, "Unknown Webhook": it was deleted or its token reset)
→ AuthFailed, the account needs reconnecting; 429 → RateLimited at `retry_after`; other
4xx → Rejected with Discord's own message and field errors; 5xx and the network →
Transient. Every call goes through ground.http_transport.curl under the webhook address
policy, with no redirect followed (DESIGN invariant 6).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math

from django.conf import settings
from django.utils import timezone
from urllib3 import encode_multipart_formdata

from ground.http_transport import curl as netguard
from networks import thread
from networks.base import (
    AuthFailed,
    PlainTextProvider,
    RateLimited,
    Rejected,
    Transient,
    delivery_images,
)
from networks.contract import Capabilities, LengthCounting, Published
from networks.discord import address as discord_address
from networks.discord.address import WebhookAddress
from networks.media import fit_under, image_bytes

log = logging.getLogger(__name__)

MAX_LENGTH = 2000
# Attachments per message.
MAX_IMAGES = 10
# A file's limit on a server without boosts.
MAX_FILE_BYTES = 10 * 1024 * 1024
# An attachment's description (its alt text).
MAX_DESCRIPTION = 1024
# When a 429 says nothing of when to come back.
DEFAULT_RATE_LIMIT_WAIT = dt.timedelta(seconds=60)
# A GET of the webhook answers a small object.
MAX_CHECK_BYTES = 64 * 1024
USER_AGENT = "QueueLoop/0.1"
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/webp": "webp"}


# --- Reading Discord's answers --------------------------------------------------------


def _json(body: bytes):
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def _field_errors(errors, path: tuple[str, ...] = ()) -> list[str]:
    """Invalid Form Body's `errors` tree as "content: Must be 2000 or fewer in length."."""
    found: list[str] = []
    if isinstance(errors, dict):
        for key, value in errors.items():
            if key == "_errors" and isinstance(value, list):
                where = ".".join(path)
                for error in value:
                    said = error.get("message") if isinstance(error, dict) else None
                    if said:
                        found.append(f"{where}: {said}" if where else str(said))
            else:
                found.extend(_field_errors(value, (*path, str(key))))
    return found


def discord_message(status: int, body: bytes) -> str:
    """What Discord said: its `message` (and JSON error `code`), then any field errors."""
    data = _json(body)
    if not isinstance(data, dict) or not data.get("message"):
        return f"HTTP {status}"
    said = str(data["message"])
    if data.get("code"):
        said += f" (code {data['code']})"
    fields = _field_errors(data.get("errors"))
    if fields:
        said += ": " + "; ".join(fields)
    return said[:500]


def _retry_after(fetched: netguard.Fetched) -> dt.timedelta:
    """How long a 429 asks us to wait: the body's `retry_after` (seconds, with a fraction),
    else the Retry-After / X-RateLimit-Reset-After headers (a Cloudflare ban has no JSON)."""
    data = _json(fetched.body)
    candidates = [data.get("retry_after") if isinstance(data, dict) else None]
    candidates += [fetched.headers.get(h) for h in ("Retry-After", "X-RateLimit-Reset-After")]
    for value in candidates:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(seconds) and seconds >= 0:
            return dt.timedelta(seconds=math.ceil(seconds))
    return DEFAULT_RATE_LIMIT_WAIT


def classify(fetched: netguard.Fetched, *, what: str) -> dict:
    """The JSON of a 2xx answer ({} when it has none); raise the contract's error otherwise."""
    status = fetched.status
    if 200 <= status < 300:
        data = _json(fetched.body)
        return data if isinstance(data, dict) else {}
    said = discord_message(status, fetched.body)
    if status == 429:
        reset_at = timezone.now() + _retry_after(fetched)
        data = _json(fetched.body)
        scope = " for all of Queue Loop" if isinstance(data, dict) and data.get("global") else ""
        raise RateLimited(
            f"Discord rate limit reached{scope} (429: {said}); trying again at "
            f"{reset_at:%Y-%m-%d %H:%M:%S} UTC.",
            reset_at=reset_at,
        )
    if status in (401, 404):
        raise AuthFailed(
            f"Discord refused the webhook ({status}: {said}): it was deleted, or its token "
            "was reset. Connect the channel again with the webhook's current URL."
        )
    if 300 <= status < 400:
        raise Rejected(
            f"Discord answered {what} with a redirect (HTTP {status}); Queue Loop follows "
            "none. Check the webhook URL."
        )
    if status == 413:
        raise Rejected(f"Discord refused {what} as too large (413: {said}).")
    if status < 500:
        raise Rejected(f"Discord refused {what} ({status}): {said}")
    if status == 502:
        # Documented: no gateway was available to process the request; nothing was made.
        raise Transient(f"Discord answered 502 ({said}): {what} did not go through.")
    raise Transient(
        f"Discord answered {status} ({said}): {what} may or may not have gone through. "
        "Check the channel in Discord.",
        maybe_sent=True,
    )


def call(address: WebhookAddress, request: netguard.Request, *, what: str) -> dict:
    """Make one call through the guarded transport and classify what came back. No message
    this raises holds the token (the transport's own errors quote no path; redacted anyway)."""
    try:
        return classify(netguard.fetch(request), what=what)
    except netguard.Unresolvable as exc:
        raise Transient(f"{address.redact(str(exc))} Nothing was sent.") from None
    except netguard.BlockedDestination as exc:
        raise Rejected(f"Discord not called: {address.redact(str(exc))}") from None
    except netguard.TooLarge:
        raise Rejected(f"Discord's answer to {what} was too large.") from None
    except netguard.TransportError as exc:
        reason = address.redact(str(exc))
        if not exc.maybe_sent:
            raise Transient(f"Could not connect to Discord ({reason}); nothing was sent.") from None
        if exc.timed_out:
            raise Transient(
                f"Discord did not answer within {request.timeout:g} s: {what} may have gone "
                "through. Check the channel in Discord.",
                maybe_sent=True,
            ) from None
        raise Transient(
            f"The connection to Discord broke mid-request ({reason}): {what} may have gone "
            "through. Check the channel in Discord.",
            maybe_sent=True,
        ) from None


# --- The calls ------------------------------------------------------------------------


def _headers(content_type: str | None = None) -> dict[str, str]:
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if content_type:
        headers["Content-Type"] = content_type
    return headers


def fetch_webhook(address: WebhookAddress) -> dict:
    """GET the webhook (Get Webhook with Token): {"id", "name", "channel_id", "guild_id",
    ...}. AuthFailed when Discord does not know it (deleted, token reset)."""
    request = netguard.Request(
        "GET",
        address.api_url(),
        _headers(),
        None,
        settings.DISCORD_HTTP_TIMEOUT,
        MAX_CHECK_BYTES,
    )
    hook = call(address, request, what="the webhook check")
    if str(hook.get("id", "")) != address.webhook_id:
        raise Rejected("Discord answered the webhook check with another webhook.")
    return hook


def options_from(hook: dict, address: WebhookAddress) -> dict:
    """What the account keeps of the webhook (nothing secret)."""
    return {
        "webhook_id": address.webhook_id,
        "name": str(hook.get("name") or ""),
        "channel_id": str(hook.get("channel_id") or ""),
        "guild_id": str(hook.get("guild_id") or ""),
        "thread_id": address.thread_id,
    }


def read_image(image) -> bytes:
    return image_bytes(image)


def attachment_files(images: list) -> list[tuple[str, bytes, str, str]]:
    """(filename, data, content type, description) per image, each under MAX_FILE_BYTES."""
    files = []
    for image in images:
        try:
            data, content_type = fit_under(
                read_image(image), image.content_type, max_bytes=MAX_FILE_BYTES
            )
        except (OSError, ValueError) as exc:
            # Before any call: nothing was sent, so it is refused rather than left unconfirmed.
            raise Rejected(
                f"Image {image.position + 1} of the post could not be read "
                f"({exc.__class__.__name__}): see the post's Images page."
            ) from None
        extension = EXTENSIONS.get(content_type, "bin")
        filename = f"image-{image.position + 1}.{extension}"
        files.append((filename, data, content_type, (image.alt_text or "")[:MAX_DESCRIPTION]))
    return files


def execute_request(
    address: WebhookAddress, text: str, files: list[tuple[str, bytes, str, str]]
) -> netguard.Request:
    """Execute Webhook with `wait=true`: JSON, or multipart with `payload_json` and one
    `files[n]` part per image, each described in `attachments` by its id n."""
    payload: dict = {"content": text}
    if not files:
        body = json.dumps(payload).encode()
        headers = _headers("application/json")
    else:
        payload["attachments"] = [
            {"id": n, "filename": filename, **({"description": alt} if alt else {})}
            for n, (filename, _data, _type, alt) in enumerate(files)
        ]
        fields = [("payload_json", (None, json.dumps(payload), "application/json"))]
        fields += [
            (f"files[{n}]", (filename, data, content_type))
            for n, (filename, data, content_type, _alt) in enumerate(files)
        ]
        body, content_type = encode_multipart_formdata(fields)
        headers = _headers(content_type)
    return netguard.Request(
        "POST", address.api_url(wait=True), headers, body, settings.DISCORD_HTTP_TIMEOUT
    )


def message_url(account, message: dict) -> str:
    """The message's link in Discord (its server, channel and id), "" when one is unknown."""
    options = account.options or {}
    guild = options.get("guild_id")
    channel = message.get("channel_id") or options.get("channel_id")
    message_id = message.get("id")
    if guild and channel and message_id:
        return f"https://discord.com/channels/{guild}/{channel}/{message_id}"
    return ""


def stored_address(account) -> WebhookAddress:
    url = (account.credentials or {}).get("url", "")
    if not url:
        raise AuthFailed("No Discord webhook URL is stored for this account: connect it.")
    try:
        return discord_address.parse(url)
    except discord_address.InvalidWebhookUrl as exc:
        # The operator may have narrowed DISCORD_WEBHOOK_HOSTS since it was connected.
        raise AuthFailed(
            f"The stored Discord webhook URL is not accepted any more: {exc}"
        ) from None


# --- The network ----------------------------------------------------------------------


class DiscordNetwork(PlainTextProvider):
    name = "discord"
    label = "Discord"
    max_length = MAX_LENGTH
    # No idempotency key and no way to find a message whose answer was lost (module
    # docstring): a call that may have gone through ends `unconfirmed`.
    idempotent = False
    capabilities = Capabilities(
        # As separate consecutive messages: a webhook cannot reply.
        threads=True,
        images=True,
        max_images=MAX_IMAGES,
        video=False,
        first_comment=False,
        idempotent=False,
        # A webhook reads a message only by its id, which a lost answer never gave us.
        read_back=False,
        length_counting=LengthCounting.CHARACTERS,
    )

    def publish(self, delivery) -> Published:
        account = delivery.account
        errors = thread.validate_parts(self, delivery, account=account)
        if errors:
            raise Rejected(" ".join(errors))
        address = stored_address(account)

        def post_part(index: int, text: str, sent: list[dict]) -> dict:
            files = []
            if index == 0:
                images = delivery_images(delivery)
                if len(images) > MAX_IMAGES:
                    raise Rejected(
                        f"Discord takes at most {MAX_IMAGES} images in a message; this post "
                        f"has {len(images)}."
                    )
                files = attachment_files(images)
            what = "the post" if index == 0 else f"part {index + 1}"
            message = call(address, execute_request(address, text, files), what=what)
            message_id = str(message.get("id") or "")
            if not message_id:
                # A 2xx is a message made; only its id could not be read.
                log.warning(
                    "Discord accepted delivery %s (part %s) without a readable message id",
                    delivery.id,
                    index + 1,
                )
            return {"id": message_id, "url": message_url(account, message)}

        published = thread.publish_parts(delivery, post_part)
        log.info(
            "Posted delivery %s to Discord account %s: message %s",
            delivery.id,
            account.id,
            published.external_id,
        )
        return published

    def check(self, account) -> str:
        from accounts.models import SocialAccount

        address = stored_address(account)
        hook = fetch_webhook(address)
        options = {**(account.options or {}), **options_from(hook, address)}
        if options != (account.options or {}):
            # The webhook may have been renamed or moved to another channel in Discord.
            account.options = options
            SocialAccount.objects.filter(id=account.id).update(options=options)
        name = options["name"] or account.handle
        return f"The Discord webhook “{name}” posts to channel {options['channel_id']}."


network = DiscordNetwork()
