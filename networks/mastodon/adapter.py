"""Mastodon: any instance, through Mastodon.py.

A Mastodon account's `credentials` (encrypted) hold `{"access_token"}`; its `options` hold
`{"instance": "https://host", "max_characters", "url_chars", "visibility", "language"}`.
The token comes from the OAuth code flow (the app is registered on the instance the user
names, once per instance: accounts.MastodonApp) or is pasted by the user (Preferences →
Development → New application, scope write:statuses). Mastodon tokens do not expire.

Every status carries `Idempotency-Key: queueloop-delivery-<id>`. Mastodon keeps the key
for an hour and answers a repeat with the status it already made, so a call that may have
gone through (timeout, 5xx) is safe to repeat: the provider is idempotent, and the retry
window (MISSED_AFTER, 30 minutes) is inside that hour.

Length: what Mastodon's StatusLengthValidator counts — grapheme clusters, each URL as 23
characters, a remote mention `@user@host` as `@user` (Mastodon.get_status_length) — against
the instance's own limit, read from its instance info when the account is connected or
checked (500 when the instance says nothing).

Thread safety: the delivery code calls publish() from worker threads. Each call builds its
own Mastodon object (it keeps rate-limit state), sharing one pooled requests.Session per
account.

Transport: Mastodon.py never gets its own session. Ours (ground.http_transport.sdk) connects only
to an address INSTANCE_ALLOWED_HOSTS' policy allows, checked at the connect, and refuses any
redirect: Mastodon's API answers none, and a 302/307 would otherwise send the bearer token
or the app registration wherever the instance points (loopback included).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Any

import requests
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from mastodon import (
    Mastodon,
    MastodonAPIError,
    MastodonError,
    MastodonIllegalArgumentError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)

from ground import address_policy as netpolicy
from ground.http_transport import sdk as netclients
from networks import hosts, thread
from networks.base import (
    AuthFailed,
    RateLimited,
    Rejected,
    Transient,
    delivery_images,
)
from networks.contract import Capabilities, Counts, Deleted, LengthCounting, Published
from networks.http_errors import connection_error_before_send as _connection_error_before_send
from networks.mastodon import read_back as mastodon_read_back
from networks.media import fit_under, image_bytes

log = logging.getLogger(__name__)

DEFAULT_MAX_CHARACTERS = 500
DEFAULT_URL_CHARS = 23
# Mastodon's default image_size_limit is 16 MB (10 MB before 4.2); older instances that do
# not say get the smaller one.
DEFAULT_IMAGE_SIZE_LIMIT = 10 * 1024 * 1024
# Mastodon's default rate-limit window is 5 minutes (300 statuses per 3 hours per account
# has its own reset header); used when a 429 carries no X-RateLimit-Reset.
DEFAULT_RATE_LIMIT_WAIT = dt.timedelta(minutes=5)
SCOPES = ["read:accounts", "write:statuses", "write:media"]
APP_NAME = "Queue Loop"
USER_AGENT = "QueueLoop/0.1 (+Mastodon.py)"
VISIBILITIES = ("public", "unlisted", "private")

# Mastodon.py prints request headers (the bearer token) only with debug_requests=True,
# which we never set.

_sessions: dict[int, requests.Session] = {}
_sessions_lock = threading.Lock()


def _new_session() -> requests.Session:
    return netclients.requests_session(
        hosts.POLICY, timeout=settings.MASTODON_HTTP_TIMEOUT, refuse_redirects=True
    )


def session_for(account_id: int) -> requests.Session:
    """One pooled HTTP session per account, shared by the worker's threads."""
    with _sessions_lock:
        session = _sessions.get(account_id)
        if session is None:
            session = _sessions[account_id] = _new_session()
        return session


def client(
    instance: str,
    *,
    access_token: str | None = None,
    session: requests.Session | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
) -> Mastodon:
    return Mastodon(
        client_id=client_id,
        client_secret=client_secret,
        access_token=access_token,
        api_base_url=instance,
        session=session or _new_session(),
        request_timeout=settings.MASTODON_HTTP_TIMEOUT,
        # "throw": a 429 raises at once; the default ("wait") would sleep in the worker.
        ratelimit_method="throw",
        # No version probe: we assume Mastodon 4.0 (Nov 2022; instance v2, media v2) and use
        # nothing newer. A version given here also keeps log_in() from probing the instance
        # (Mastodon.py 2.3.3 recurses without end when that probe finds no version).
        version_check_mode="created",
        mastodon_version="4.0.0",
        user_agent=USER_AGENT,
    )


def _check_host(instance: str) -> None:
    try:
        hosts.check_url(instance)
    except hosts.HostUnresolvable as exc:
        raise Transient(f"{exc} Nothing was sent.") from None
    except hosts.BlockedHost as exc:
        raise Rejected(str(exc)) from None


# --- Errors ---------------------------------------------------------------------------


def _server_message(exc: MastodonAPIError) -> str:
    args = exc.args
    if len(args) >= 4 and args[3]:
        return str(args[3])[:500]
    if len(args) >= 3 and args[2]:
        return f"HTTP {args[1]} {args[2]}"
    return str(exc)[:500]


def _status_code(exc: MastodonAPIError) -> int | None:
    if len(exc.args) >= 2 and isinstance(exc.args[1], int):
        return exc.args[1]
    return None


def _rate_limit_reset(api: Mastodon) -> dt.datetime:
    # Mastodon.py reads X-RateLimit-Reset (ISO time) into ratelimit_reset, corrected for the
    # difference between the server's Date header and our clock.
    reset = getattr(api, "ratelimit_reset", None)
    if isinstance(reset, int | float) and reset > timezone.now().timestamp():
        return dt.datetime.fromtimestamp(reset, tz=dt.UTC)
    return timezone.now() + DEFAULT_RATE_LIMIT_WAIT


def _network_error_sent_nothing(exc: MastodonNetworkError) -> bool:
    cause = exc.__context__ or exc.__cause__
    return isinstance(cause, requests.ConnectionError) and _connection_error_before_send(cause)


def _guard_error(exc: MastodonNetworkError) -> Exception | None:
    """The provider error when the guarded transport refused the call (a forbidden address,
    a name that does not resolve, a redirect), else None. Mastodon.py wraps whatever the
    session raised."""
    refusal = netclients.refusal_of(exc)
    if isinstance(refusal, netpolicy.Unresolvable):
        return Transient(f"{refusal} Nothing was sent.")
    if refusal is not None:
        return Rejected(str(refusal))
    return None


def classify(exc: MastodonError, api: Mastodon, *, instance: str, what: str) -> Exception:
    """The provider error for a Mastodon.py exception."""
    host = instance.split("://", 1)[-1]
    if isinstance(exc, MastodonRatelimitError):
        reset_at = _rate_limit_reset(api)
        return RateLimited(
            f"{host} rate limit reached (429); trying again at {reset_at:%Y-%m-%d %H:%M:%S} UTC.",
            reset_at=reset_at,
        )
    if isinstance(exc, MastodonUnauthorizedError):
        return AuthFailed(
            f"{host} refused the access token (401: {_server_message(exc)}): reconnect the account."
        )
    if isinstance(exc, MastodonServerError):
        return Transient(
            f"{host} answered {_status_code(exc)} (a server error): {what} did not go through "
            "or will be matched by its idempotency key on the next try.",
            maybe_sent=True,
        )
    if isinstance(exc, MastodonNetworkError):
        refused = _guard_error(exc)
        if refused is not None:
            return refused
        if _network_error_sent_nothing(exc):
            return Transient(f"Could not connect to {host}; nothing was sent.")
        return Transient(
            f"The connection to {host} failed mid-request: {what} may have gone through.",
            maybe_sent=True,
        )
    if isinstance(exc, MastodonAPIError):
        status = _status_code(exc)
        if status is None:  # a 2xx whose body could not be read
            return Transient(f"{host} accepted {what} but its answer was garbled.", maybe_sent=True)
        if status == 403:
            return AuthFailed(
                f"{host} forbids this (403: {_server_message(exc)}): the account may be "
                "suspended or the token lacks write:statuses. Reconnect the account."
            )
        if status == 422:
            return Rejected(f"{host} refused {what}: {_server_message(exc)}")
        return Rejected(f"{host} refused {what} ({status}): {_server_message(exc)}")
    return Rejected(f"{host}: {exc}")


def call(api: Mastodon, operation, *, instance: str, what: str) -> Any:
    try:
        return operation()
    except MastodonIllegalArgumentError as exc:
        raise Rejected(f"{what}: {exc}") from None
    except MastodonError as exc:
        raise classify(exc, api, instance=instance, what=what) from None


# --- Connecting: app registration, OAuth, token checks --------------------------------


def limits_from_instance(info: Any) -> dict[str, int]:
    """max_characters and url_chars from /api/v2/instance (or v1, or Pleroma's field)."""
    statuses = {}
    configuration = info.get("configuration") if hasattr(info, "get") else None
    if hasattr(configuration, "get"):
        statuses = configuration.get("statuses") or {}
    media = {}
    if hasattr(configuration, "get"):
        media = configuration.get("media_attachments") or {}
    max_chars = statuses.get("max_characters") or info.get("max_toot_chars")
    url_chars = statuses.get("characters_reserved_per_url")
    image_limit = media.get("image_size_limit")
    return {
        "max_characters": int(max_chars) if max_chars else DEFAULT_MAX_CHARACTERS,
        "url_chars": int(url_chars) if url_chars else DEFAULT_URL_CHARS,
        "image_size_limit": int(image_limit) if image_limit else DEFAULT_IMAGE_SIZE_LIMIT,
    }


def fetch_instance_limits(instance: str, *, session: requests.Session | None = None) -> dict:
    _check_host(instance)
    api = client(instance, session=session)

    def read():
        try:
            return api.instance_v2()
        except MastodonAPIError as exc:
            if _status_code(exc) != 404:
                raise
            return api.instance_v1()  # before Mastodon 4.0

    return limits_from_instance(call(api, read, instance=instance, what="the instance info"))


def verify_token(instance: str, access_token: str) -> dict[str, str]:
    """GET /api/v1/accounts/verify_credentials: {"id", "username", "acct", "url"}."""
    _check_host(instance)
    api = client(instance, access_token=access_token)
    me = call(api, api.account_verify_credentials, instance=instance, what="the token check")
    return {
        "id": str(me["id"]),
        "username": str(me["username"]),
        "acct": str(me.get("acct") or me["username"]),
        "url": str(me.get("url") or ""),
    }


def _registration_refused(instance: str, answer: requests.Response) -> Exception:
    """The error for an HTTP error answer to POST /api/v1/apps. Nothing was registered
    (the instance answered, and refused or failed), and a registration posts nothing, so
    trying again is always safe."""
    host = instance.split("://", 1)[-1]
    try:
        said = str(answer.json().get("error") or "")[:300]
    except (ValueError, AttributeError):  # an HTML error page, or no body at all
        said = ""
    said = f": {said}" if said else ""
    if answer.status_code >= 500:
        return Transient(
            f"{host} could not register Queue Loop (HTTP {answer.status_code} "
            f"{answer.reason}){said}. Nothing was registered: try again in a few minutes. "
            "If it keeps failing, ask the instance's admins, or paste an access token instead."
        )
    return Rejected(
        f"{host} refused to register Queue Loop (HTTP {answer.status_code}){said}. "
        "Nothing was registered: check the instance address and try again, or paste an "
        "access token instead."
    )


def _register_app(instance: str, *, redirect_uri: str) -> tuple[str, str]:
    """POST /api/v1/apps: (client_id, client_secret). Mastodon.create_app reads the answer
    without looking at its status (an error page becomes a "network error", a JSON error a
    KeyError), so the answer is kept by a response hook and judged here."""
    _check_host(instance)
    api = client(instance)
    answers: list[requests.Response] = []
    session = _new_session()
    session.hooks["response"].append(lambda response, *args, **kwargs: answers.append(response))

    def register():
        try:
            return Mastodon.create_app(
                APP_NAME,
                scopes=SCOPES,
                redirect_uris=redirect_uri,
                api_base_url=instance,
                session=session,
                request_timeout=settings.MASTODON_HTTP_TIMEOUT,
                user_agent=USER_AGENT,
            )
        except (MastodonNetworkError, KeyError, TypeError) as exc:
            if answers and not answers[-1].ok:
                raise _registration_refused(instance, answers[-1]) from None
            if not isinstance(exc, MastodonNetworkError):  # JSON without the credentials
                host = instance.split("://", 1)[-1]
                raise Rejected(
                    f"{host} answered the app registration but did not return the app's "
                    "client credentials: is this a Mastodon-compatible server?"
                ) from None
            raise

    try:
        return call(api, register, instance=instance, what="registering Queue Loop")
    finally:
        session.close()


def app_for(instance: str, *, redirect_uri: str):
    """Queue Loop's OAuth client on `instance`, registered there on first use."""
    from accounts.models import MastodonApp

    app = MastodonApp.objects.filter(instance_url=instance, redirect_uri=redirect_uri).first()
    if app is not None:
        return app
    client_id, client_secret = _register_app(instance, redirect_uri=redirect_uri)
    try:
        with transaction.atomic():
            return MastodonApp.objects.create(
                instance_url=instance,
                redirect_uri=redirect_uri,
                client_id=client_id,
                secret={"client_secret": client_secret},
            )
    except IntegrityError:  # another request registered it first: use that one
        return MastodonApp.objects.get(instance_url=instance, redirect_uri=redirect_uri)


def authorize_url(app, *, state: str) -> str:
    api = client(
        app.instance_url,
        client_id=app.client_id,
        client_secret=app.secret.get("client_secret", ""),
    )
    # skip_server_info: the user's browser follows this URL; the default location is right
    # for every Mastodon, and it saves a request.
    return api.auth_request_url(
        redirect_uris=app.redirect_uri, scopes=SCOPES, state=state, skip_server_info=True
    )


def exchange_code(app, *, code: str) -> str:
    """The access token for an authorization code."""
    instance = app.instance_url
    _check_host(instance)
    api = client(
        instance, client_id=app.client_id, client_secret=app.secret.get("client_secret", "")
    )
    # log_in() posts the code to the token endpoint the instance advertises; that URL comes
    # from the instance, so it must pass the same address check.
    info = call(api, api.oauth_authorization_server_info, instance=instance, what="OAuth info")
    token_endpoint = info.get("token_endpoint") if hasattr(info, "get") else None
    if token_endpoint:
        _check_host(token_endpoint)
    try:
        return api.log_in(
            code=code,
            redirect_uri=app.redirect_uri,
            scopes=SCOPES,
            allow_http=instance.startswith("http://"),
        )
    except MastodonIllegalArgumentError:
        raise AuthFailed(
            f"{instance.split('://', 1)[-1]} refused the authorization code, or did not grant "
            "the permissions Queue Loop needs (write:statuses). Try connecting again."
        ) from None
    except MastodonError as exc:
        raise classify(exc, api, instance=instance, what="the sign-in") from None


# --- The provider -------------------------------------------------------------------------


def post_images(delivery) -> list:
    """The delivery's images in order (providers.delivery_images)."""
    return delivery_images(delivery)


def read_image(image) -> bytes:
    return image_bytes(image)


def upload_image(api: Mastodon, image, *, instance: str, limit: int | None) -> str:
    """POST /api/v2/media with the alt text; returns the attachment id."""
    data, content_type = fit_under(
        read_image(image), image.content_type, max_bytes=limit or DEFAULT_IMAGE_SIZE_LIMIT
    )
    attachment = call(
        api,
        lambda: api.media_post(
            data,
            mime_type=content_type,
            description=image.alt_text or None,
            file_name=f"image-{image.position + 1}",
        ),
        instance=instance,
        what=f"image {image.position + 1}",
    )
    return str(attachment["id"])


def idempotency_key(delivery, part: int = 0) -> str:
    """One key per delivery and part of its thread (the first part keeps the plain key)."""
    base = f"queueloop-delivery-{delivery.id}"
    return base if part == 0 else f"{base}-part-{part + 1}"


def comment_idempotency_key(delivery) -> str:
    """The first comment's key: derived from the delivery and "comment", so a repeat after a
    lost answer returns the status the first attempt made."""
    return f"queueloop-delivery-{delivery.id}-comment"


def _api_for(account) -> tuple[Mastodon, dict, str]:
    """The account's client, its options and its instance (AuthFailed when none is stored)."""
    options = account.options or {}
    instance = options.get("instance", "")
    token = (account.credentials or {}).get("access_token")
    if not instance or not token:
        raise AuthFailed("No Mastodon instance or token is stored for this account: connect it.")
    # No separate look-up first: the session checks the address of every connection it
    # opens (a refused one ends as Rejected, an unresolvable name as Transient).
    return client(instance, access_token=token, session=session_for(account.id)), options, instance


class MastodonProvider:
    name = "mastodon"
    label = "Mastodon"
    # The default; each account's instance may allow more (limit_for).
    max_length = DEFAULT_MAX_CHARACTERS
    # Idempotency-Key on every status: a repeat returns the status already made.
    idempotent = True
    capabilities = Capabilities(
        threads=True,
        images=True,
        max_images=4,
        video=False,
        # A reply to the post's first status, under its own Idempotency-Key.
        first_comment=True,
        idempotent=True,
        # The account's statuses, matched by exact text and images (mastodon/read_back.py).
        read_back=True,
        length_counting=LengthCounting.MASTODON,
    )

    def limit_for(self, account=None) -> int:
        options = getattr(account, "options", None) or {}
        value = options.get("max_characters")
        return int(value) if isinstance(value, int) and value > 0 else self.max_length

    def text_length(self, text: str) -> int:
        return Mastodon.get_status_length(text)

    def validate(self, text: str, *, account=None) -> list[str]:
        if not text.strip():
            return ["The text is empty."]
        length = self.text_length(text)
        limit = self.limit_for(account)
        if length > limit:
            where = (account.options or {}).get("instance", "") if account else ""
            where = f" on {where.split('://', 1)[-1]}" if where else ""
            return [
                f"Mastodon{where} counts this text as {length} characters (links count as "
                f"23); the limit is {limit}."
            ]
        return []

    def publish(self, delivery) -> Published:
        account = delivery.account
        errors = thread.validate_parts(self, delivery, account=account)
        if errors:
            raise Rejected(" ".join(errors))
        api, options, instance = _api_for(account)
        visibility = (
            options.get("visibility") if options.get("visibility") in VISIBILITIES else None
        )

        def post_part(index: int, text: str, sent: list[dict]) -> dict:
            # Images go with the first part, uploaded on every attempt: when the
            # Idempotency-Key finds the status a first attempt made, a retry's attachments
            # stay unattached and the instance removes them after a day.
            media_ids = []
            if index == 0:
                limit = options.get("image_size_limit")
                media_ids = [
                    upload_image(api, image, instance=instance, limit=limit)
                    for image in post_images(delivery)
                ]
            status = call(
                api,
                lambda: api.status_post(
                    text,
                    in_reply_to_id=sent[-1]["id"] if sent else None,
                    idempotency_key=idempotency_key(delivery, index),
                    visibility=visibility,
                    language=options.get("language") or None,
                    media_ids=media_ids or None,
                ),
                instance=instance,
                what="the post" if index == 0 else f"part {index + 1}",
            )
            return {"id": str(status.get("id", "")), "url": str(status.get("url") or "")}

        published = thread.publish_parts(delivery, post_part)
        log.info(
            "Posted delivery %s to Mastodon account %s: status %s",
            delivery.id,
            account.id,
            published.external_id,
        )
        return published

    def find_published(self, delivery, *, since: dt.datetime):
        account = delivery.account
        options = account.options or {}
        instance = options.get("instance", "")
        token = (account.credentials or {}).get("access_token")
        if not instance or not token:
            return mastodon_read_back.Undecidable(
                "No Mastodon instance or token is stored for this account: connect it."
            )
        session = session_for(account.id)
        return mastodon_read_back.find_published(
            delivery,
            since=since,
            api=client(instance, access_token=token, session=session),
            anonymous=client(instance, session=session),
            instance=instance,
            call=lambda api, operation, *, what: call(api, operation, instance=instance, what=what),
            private=options.get("visibility") == "private",
        )

    def publish_comment(self, delivery, text: str, *, on: dict) -> dict:
        """The first comment: a reply to the post's first status, with the post's
        visibility and language."""
        account = delivery.account
        errors = self.validate(text, account=account)
        if errors:
            raise Rejected("The first comment: " + " ".join(errors))
        api, options, instance = _api_for(account)
        visibility = (
            options.get("visibility") if options.get("visibility") in VISIBILITIES else None
        )
        status = call(
            api,
            lambda: api.status_post(
                text,
                in_reply_to_id=on["id"],
                idempotency_key=comment_idempotency_key(delivery),
                visibility=visibility,
                language=options.get("language") or None,
            ),
            instance=instance,
            what="the first comment",
        )
        return {"id": str(status.get("id", "")), "url": str(status.get("url") or "")}

    def metrics(self, account, external_ids: list[str]) -> dict:
        """Public counts, one GET /api/v1/statuses/:id each: the batched
        GET /api/v1/statuses?id[]= needs Mastodon 4.3, newer than the 4.0 we assume. A 404
        ("Record not found") is a deleted status."""
        options = account.options or {}
        instance = options.get("instance", "")
        token = (account.credentials or {}).get("access_token")
        if not instance or not token:
            raise AuthFailed(
                "No Mastodon instance or token is stored for this account: connect it."
            )
        api = client(instance, access_token=token, session=session_for(account.id))
        found: dict = {}
        for status_id in external_ids:

            def read(status_id=status_id):
                try:
                    return api.status(status_id)
                except MastodonNotFoundError:
                    return None

            status = call(api, read, instance=instance, what="the post's counts")
            if status is None:
                found[status_id] = Deleted("the instance answered 404 (Record not found)")
                continue
            found[status_id] = Counts(
                likes=int(status.get("favourites_count") or 0),
                reposts=int(status.get("reblogs_count") or 0),
                replies=int(status.get("replies_count") or 0),
                # Mastodon 4.5's quotes_count where the instance has it.
                quotes=status.get("quotes_count"),
            )
        return found

    def check(self, account) -> str:
        from accounts.models import SocialAccount

        options = account.options or {}
        instance = options.get("instance", "")
        token = (account.credentials or {}).get("access_token")
        if not instance or not token:
            raise AuthFailed(
                "No Mastodon instance or token is stored for this account: connect it."
            )
        me = verify_token(instance, token)
        limits = fetch_instance_limits(instance)
        if any(options.get(k) != v for k, v in limits.items()):
            account.options = {**options, **limits}
            SocialAccount.objects.filter(id=account.id).update(options=account.options)
        host = instance.split("://", 1)[-1]
        return (
            f"Signed in to {host} as @{me['acct']}; the instance allows "
            f"{limits['max_characters']} characters."
        )


network = MastodonProvider()
# The name the code used before networks/ had a contract.
provider = network
