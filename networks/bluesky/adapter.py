"""Bluesky: app.bsky.feed.post records through the `atproto` SDK, with an app password.

A Bluesky account's `credentials` (encrypted) hold `{"identifier", "app_password",
"session"}` — the session is the SDK's exported session string (handle, DID, access and
refresh JWTs, PDS); its `options` hold `{"service", "langs"}` and `external_id` is the DID.

Sessions: publish() resumes the stored session. The SDK refreshes the access JWT itself
when it is about to expire, and the new session is stored again (encrypted). When the
refresh token is spent or revoked, the provider signs in once more with the app password
(createSession is rate-limited hard — 30 per 5 minutes — which is why sessions are kept),
and when that is refused the account needs reconnecting. A main password is refused at
connect time: its session's scope is com.atproto.access, an app password's is
com.atproto.appPass, and the session is deleted at once.

Idempotency: the record key is derived from the delivery and the part of its thread
(bluesky_text.record_key), so every attempt writes the same at:// URI. A PDS refuses a
second record under one key — today with a 500, soon with an explicit error (atproto PR
4728) — so after any answer that leaves the outcome open (5xx, timeout, "already exists")
and before any retry, the provider reads the record back (com.atproto.repo.getRecord):
there, it was posted; absent, it was not.

Thread safety: each call builds its own SDK client (it holds the session) with its own HTTP
connection pool, closed when the call ends.

Transport: the SDK's httpx client gets ours (ground.http_transport.sdk): every connection goes to
an address INSTANCE_ALLOWED_HOSTS' policy allows, checked at the connect, and no redirect is
followed (XRPC needs none; a createSession redirect would re-post the app password to the
redirect's target). The PDS a session's DID document names is checked before anything is
sent there.
"""

from __future__ import annotations

import datetime as dt
import logging
from contextlib import contextmanager

import httpx
from atproto import Client, models
from atproto_client import exceptions as at_exc
from atproto_client.request import Request
from django.conf import settings
from django.utils import timezone

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
from networks.bluesky import text as text_rules
from networks.contract import (
    Capabilities,
    Counts,
    Deleted,
    FoundPost,
    LengthCounting,
    NotFound,
    PostMetrics,
    Published,
    ReadBack,
    Undecidable,
)
from networks.media import fit_under, image_bytes

log = logging.getLogger(__name__)

POST_COLLECTION = "app.bsky.feed.post"
# app.bsky.feed.getPosts: "uris: array of at-uri, maxLength 25".
METRICS_URIS_PER_CALL = 25
# app.bsky.embed.images: at most 4 images of at most 1,000,000 bytes each.
MAX_IMAGE_BYTES = 1_000_000
POST_URL = "https://bsky.app/profile/{actor}/post/{rkey}"
APP_PASSWORD_SCOPES = {"com.atproto.appPass", "com.atproto.appPassPrivileged"}
# Errors that mean the stored session is no good (but the app password may still be).
SESSION_ERRORS = {"ExpiredToken", "InvalidToken", "AuthenticationRequired", "AuthMissing"}
MAIN_LOGIN_REFUSED = (
    "That is the account's main password. Create an app password in Bluesky (Settings → "
    "Privacy and security → App passwords) and use it instead: Queue Loop never keeps a main "
    "password."
)


# --- Errors ---------------------------------------------------------------------------


def _xrpc_error(exc: at_exc.RequestErrorBase) -> tuple[str, str]:
    content = getattr(exc.response, "content", None)
    error = getattr(content, "error", None) or ""
    message = getattr(content, "message", None) or ""
    return str(error), str(message)[:500]


def _describe(exc: at_exc.RequestErrorBase) -> str:
    error, message = _xrpc_error(exc)
    status = exc.response.status_code if exc.response is not None else "no answer"
    return f"{status} {error}: {message}".strip(": ") if error or message else str(status)


# The SDK wraps httpx's timeouts and network errors but lets its protocol errors (a server
# that closed the connection without answering) through as they are, and the guarded
# transport's refusals (a forbidden address, a redirect) too.
ERRORS = (at_exc.AtProtocolError, httpx.HTTPError, netpolicy.BlockedDestination)


def classify(exc: Exception, *, what: str, server: str = "") -> Exception:
    """The provider error for an atproto SDK (or httpx, or guarded transport) exception.
    `server`, the address tried, is named in the message when given (connecting: the person
    typed it, and may have mistyped it)."""
    name = server or "Bluesky"
    place = server or "the Bluesky server"
    if isinstance(exc, netpolicy.Unresolvable):
        return Transient(f"{exc} Nothing was sent.")
    if isinstance(exc, netpolicy.BlockedDestination):
        return Rejected(str(exc))  # refused before it was sent, or a redirect not followed
    if isinstance(exc, httpx.HTTPError):
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            return Transient(f"Could not connect to {place}; nothing was sent.")
        return Transient(
            f"The connection to {name} broke mid-request ({exc.__class__.__name__}): {what} "
            "may have gone through.",
            maybe_sent=True,
        )
    if isinstance(exc, at_exc.RateLimitExceededError):
        reset_at = exc.reset_at or (timezone.now() + dt.timedelta(minutes=5))
        return RateLimited(
            f"{name} rate limit reached (429); trying again at {reset_at:%Y-%m-%d %H:%M:%S} UTC.",
            reset_at=reset_at,
        )
    if isinstance(exc, at_exc.UnauthorizedError):
        return AuthFailed(f"{name} refused the session ({_describe(exc)}): reconnect the account.")
    if isinstance(exc, at_exc.InvokeTimeoutError):
        if isinstance(exc.__cause__, httpx.ConnectTimeout):
            return Transient(f"Could not connect to {place} in time; nothing was sent.")
        return Transient(
            f"{place[0].upper()}{place[1:]} did not answer in time: {what} may have gone through.",
            maybe_sent=True,
        )
    if isinstance(exc, at_exc.NetworkError):
        if exc.response is None:
            if isinstance(exc.__cause__, httpx.ConnectError):
                return Transient(f"Could not connect to {place}; nothing was sent.")
            return Transient(
                f"The connection to {name} broke mid-request: {what} may have gone through.",
                maybe_sent=True,
            )
        if exc.response.status_code == 413:
            return Rejected(f"{name} refused {what} as too large (413).")
        return Transient(f"{name} answered {_describe(exc)}.", maybe_sent=True)
    if isinstance(exc, at_exc.BadRequestError):
        error, message = _xrpc_error(exc)
        if error in SESSION_ERRORS:
            return AuthFailed(f"{name} refused the session ({error}): reconnect the account.")
        return Rejected(f"{name} refused {what}: {message or error or 'bad request'}")
    if isinstance(exc, at_exc.RequestException):
        status = exc.response.status_code if exc.response is not None else 0
        if status >= 500:
            return Transient(f"{name} answered {_describe(exc)} (a server error).", maybe_sent=True)
        return Rejected(f"{name} refused {what} ({_describe(exc)}).")
    return Rejected(f"{name}: {exc}")


def _is_session_refusal(exc: Exception) -> bool:
    if isinstance(exc, at_exc.LoginRequiredError):
        return True
    if isinstance(exc, at_exc.UnauthorizedError | at_exc.BadRequestError):
        return _xrpc_error(exc)[0] in SESSION_ERRORS
    return False


# --- Clients and sessions -------------------------------------------------------------------


def _check_host(service: str) -> None:
    try:
        hosts.check_url(service)
    except hosts.HostUnresolvable as exc:
        raise Transient(f"{exc} Nothing was sent.") from None
    except hosts.BlockedHost as exc:
        raise Rejected(str(exc)) from None


def new_client(service: str) -> Client:
    _check_host(service)
    # The SDK's documented way in: Request passes its arguments on to httpx.Client.
    request = Request(
        timeout=settings.BLUESKY_HTTP_TIMEOUT, **netclients.httpx_options(hosts.POLICY)
    )
    return Client(base_url=service, request=request)


def _pds_checked(client: Client) -> None:
    # A session's DID document names the PDS the SDK then talks to: the user's server
    # chose it, so it passes the same address check as the server the user typed.
    _check_host(client._base_url.removesuffix("/xrpc"))


def sign_in(service: str, identifier: str, app_password: str) -> tuple[Client, dict]:
    """createSession with an app password: (client, {"did", "handle", "session"}).

    Raises AuthFailed when the server refuses the password, or when it is a main password
    (that session is deleted on the spot)."""
    client = new_client(service)
    try:
        session = _sign_in(client, identifier, app_password, service=service)
    except BaseException:
        client.request.close()
        raise
    return client, {
        "did": session.did,
        "handle": session.handle,
        "session": client.export_session_string(),
    }


def _sign_in(client: Client, identifier: str, app_password: str, *, service: str):
    try:
        client.login(identifier, app_password, fetch_bsky_profile=False)
    except ERRORS as exc:
        error = classify(exc, what="the sign-in", server=service)
        if isinstance(error, Rejected | AuthFailed) and getattr(exc, "response", None) is not None:
            raise AuthFailed(
                f"{service} refused this handle and app password: check both (an app password "
                "looks like xxxx-xxxx-xxxx-xxxx) and the server address."
            ) from None
        raise error from None
    # The session's DID document named the PDS every later call goes to, deleteSession
    # included: checked before anything is sent there.
    _pds_checked(client)
    session = client._session
    scope = getattr(session.access_jwt_payload, "scope", None) if session else None
    if scope not in APP_PASSWORD_SCOPES:
        try:
            client.com.atproto.server.delete_session(headers=client._get_refresh_auth_headers())
        except (*ERRORS, ValueError):
            log.warning("Could not delete a Bluesky session signed in with a main password.")
        raise AuthFailed(MAIN_LOGIN_REFUSED)
    return session


def _store_session(account, session_string: str) -> None:
    from accounts.models import SocialAccount

    credentials = {**(account.credentials or {}), "session": session_string}
    account.credentials = credentials
    SocialAccount.objects.filter(id=account.id).update(credentials=credentials)


@contextmanager
def signed_in(account):
    """A client with the account's session (resumed, refreshed or new); a changed session is
    stored, encrypted, before the block goes on."""
    credentials = account.credentials or {}
    service = (account.options or {}).get("service") or settings.BLUESKY_SERVICE
    client = None
    try:
        if credentials.get("session"):
            client = new_client(service)
            client.login(session_string=credentials["session"], fetch_bsky_profile=False)
        else:
            client = _fresh_sign_in(account, service)
        _pds_checked(client)
        client.on_session_change(lambda _event, _s: _session_changed(account, client))
        yield client
    finally:
        if client is not None:
            client.request.close()


def _export(client: Client) -> str:
    return client.export_session_string()


def _session_changed(account, client: Client) -> None:
    # A refreshed session may name another PDS: checked before it is stored or called.
    _pds_checked(client)
    _store_session(account, _export(client))


def _fresh_sign_in(account, service: str) -> Client:
    credentials = account.credentials or {}
    if not credentials.get("app_password"):
        raise AuthFailed("No Bluesky app password is stored for this account: reconnect it.")
    client, info = sign_in(
        service, credentials.get("identifier") or account.handle, credentials["app_password"]
    )
    if account.external_id and info["did"] != account.external_id:
        raise AuthFailed(
            f"This app password signs in as {info['did']}, not as this account "
            f"({account.external_id}): reconnect it."
        )
    _store_session(account, info["session"])
    return client


def call(account, operation, *, what: str):
    """Run operation(client) with the account's session; when the server refuses the
    session, sign in again with the app password and run it once more."""
    try:
        with signed_in(account) as client:
            return operation(client)
    except ERRORS as exc:
        if not _is_session_refusal(exc):
            raise classify(exc, what=what) from None
    service = (account.options or {}).get("service") or settings.BLUESKY_SERVICE
    client = _fresh_sign_in(account, service)
    try:
        return operation(client)
    except ERRORS as exc:
        raise classify(exc, what=what) from None
    finally:
        client.request.close()


# --- Records ----------------------------------------------------------------------------


def facets_for(client: Client, text: str) -> list:
    """SDK facet models for the text's links, mentions (resolved to DIDs; a handle that does
    not resolve stays plain text) and tags."""
    result = []
    for facet in text_rules.find_facets(text):
        if facet.kind == "link":
            feature = models.AppBskyRichtextFacet.Link(uri=facet.value)
        elif facet.kind == "tag":
            feature = models.AppBskyRichtextFacet.Tag(tag=facet.value)
        else:
            try:
                resolved = client.com.atproto.identity.resolve_handle(
                    models.ComAtprotoIdentityResolveHandle.Params(handle=facet.value)
                )
            except at_exc.BadRequestError:
                continue  # no such handle: leave the text as it is
            feature = models.AppBskyRichtextFacet.Mention(did=resolved.did)
        result.append(
            models.AppBskyRichtextFacet.Main(
                index=models.AppBskyRichtextFacet.ByteSlice(
                    byte_start=facet.byte_start, byte_end=facet.byte_end
                ),
                features=[feature],
            )
        )
    return result


def images_embed(client: Client, delivery):
    """app.bsky.embed.images for the post's images (each shrunk under 1,000,000 bytes and
    uploaded as a blob), or None. Blobs a failed attempt uploaded are never referenced, and
    the PDS deletes them."""
    images = delivery_images(delivery)
    if not images:
        return None
    embedded = []
    for image in images:
        data, content_type = fit_under(
            image_bytes(image), image.content_type, max_bytes=MAX_IMAGE_BYTES
        )
        blob = client.com.atproto.repo.upload_blob(data, headers={"Content-Type": content_type})
        embedded.append(
            models.AppBskyEmbedImages.Image(
                alt=image.alt_text or "",
                image=blob.blob,
                aspect_ratio=models.AppBskyEmbedDefs.AspectRatio(
                    width=image.width, height=image.height
                ),
            )
        )
    return models.AppBskyEmbedImages.Main(images=embedded)


def _existing(client: Client, did: str, rkey: str):
    """The record under rkey, or None. Errors propagate (the caller classifies them)."""
    try:
        return client.com.atproto.repo.get_record(
            models.ComAtprotoRepoGetRecord.Params(repo=did, collection=POST_COLLECTION, rkey=rkey)
        )
    except at_exc.BadRequestError as exc:
        if _xrpc_error(exc)[0] == "RecordNotFound":
            return None
        raise


def _published(uri: str, *, actor: str, rkey: str) -> Published:
    external_id = uri if len(uri) <= 100 else rkey
    return Published(external_id=external_id, url=POST_URL.format(actor=actor, rkey=rkey))


def _ref(uri: str, cid: str, *, actor: str, rkey: str) -> dict:
    published = _published(uri, actor=actor, rkey=rkey)
    return {"id": published.external_id, "url": published.url, "uri": uri, "cid": cid}


def _post_part(
    client: Client, delivery, *, index: int, text: str, sent: list, langs, what: str = "the post"
) -> dict:
    """Write one part (a reply to the part before, in the thread of the first) under its
    own record key; returns its reference. SDK errors propagate, to be classified. The
    first comment is written as part text_rules.COMMENT_PART, replying to the first."""
    did = client._session.did
    actor = client._session.handle or did
    rkey = text_rules.record_key(delivery.id, delivery.created_at, part=index)
    if delivery.attempts > 1:
        # A retry: an earlier attempt may have written this record.
        found = _existing(client, did, rkey)
        if found is not None:
            return _ref(found.uri, found.cid, actor=actor, rkey=rkey)
    reply = None
    if sent:
        root, parent = sent[0], sent[-1]
        reply = models.AppBskyFeedPost.ReplyRef(
            root=models.ComAtprotoRepoStrongRef.Main(uri=root["uri"], cid=root["cid"]),
            parent=models.ComAtprotoRepoStrongRef.Main(uri=parent["uri"], cid=parent["cid"]),
        )
    record = models.AppBskyFeedPost.Record(
        text=text,
        created_at=client.get_current_time_iso(),
        facets=facets_for(client, text) or None,
        langs=langs or None,
        embed=images_embed(client, delivery) if index == 0 else None,
        reply=reply,
    )
    data = models.ComAtprotoRepoCreateRecord.Data(
        repo=did, collection=POST_COLLECTION, rkey=rkey, record=record
    )
    try:
        created = client.com.atproto.repo.create_record(data)
    except ERRORS as exc:
        if _is_session_refusal(exc) or isinstance(exc, at_exc.RateLimitExceededError):
            raise
        error = classify(exc, what=what)
        already = isinstance(exc, at_exc.BadRequestError) and "exist" in (
            " ".join(_xrpc_error(exc)).lower()
        )
        if not (already or (isinstance(error, Transient) and error.maybe_sent)):
            raise
        # The outcome is open (or the key is taken): the record itself tells.
        found = _existing(client, did, rkey)
        if found is None:
            if already:
                raise
            raise Transient(f"{error.message} The post is not there; retrying.") from None
        return _ref(found.uri, found.cid, actor=actor, rkey=rkey)
    return _ref(created.uri, created.cid, actor=actor, rkey=rkey)


class BlueskyProvider:
    name = "bluesky"
    label = "Bluesky"
    max_length = text_rules.MAX_GRAPHEMES
    # The record key comes from the delivery: a repeat cannot post twice.
    idempotent = True
    capabilities = Capabilities(
        threads=True,
        images=True,
        max_images=4,
        video=False,
        # A reply record to the post's first part, under a record key of its own.
        first_comment=True,
        idempotent=True,
        # Exact: the record key is derived from the delivery (getRecord, find_published).
        read_back=True,
        length_counting=LengthCounting.GRAPHEMES,
    )

    def limit_for(self, account=None) -> int:
        return self.max_length

    def text_length(self, text: str) -> int:
        return text_rules.length(text)

    def validate(self, text: str, *, account=None) -> list[str]:
        if not text.strip():
            return ["The text is empty."]
        length = self.text_length(text)
        if length > self.max_length:
            return [
                f"Bluesky counts this text as {length} characters (graphemes); the limit is "
                f"{self.max_length}."
            ]
        return []

    def publish(self, delivery) -> Published:
        errors = thread.validate_parts(self, delivery)
        if errors:
            raise Rejected(" ".join(errors))
        account = delivery.account
        langs = [str(lang) for lang in (account.options or {}).get("langs") or []][:3]

        def post(client: Client) -> Published:
            def post_part(index: int, text: str, sent: list[dict]) -> dict:
                what = "the post" if index == 0 else f"part {index + 1}"
                try:
                    return _post_part(
                        client, delivery, index=index, text=text, sent=sent, langs=langs
                    )
                except ERRORS as exc:
                    if _is_session_refusal(exc):
                        raise  # call() signs in again; the thread resumes after `sent`
                    raise classify(exc, what=what) from None

            return thread.publish_parts(delivery, post_part)

        published = call(account, post, what="the post")
        log.info(
            "Posted delivery %s to Bluesky account %s: %s",
            delivery.id,
            account.id,
            published.external_id,
        )
        return published

    def find_published(self, delivery, *, since: dt.datetime) -> ReadBack:
        """Exact, whatever the time: the part's record key is derived from the delivery
        (text.record_key), so getRecord finds it or answers RecordNotFound (proven absent)."""
        index = len(delivery.thread_sent or [])
        rkey = text_rules.record_key(delivery.id, delivery.created_at, part=index)

        def read(client: Client):
            did = client._session.did
            found = _existing(client, did, rkey)
            if found is None:
                return NotFound(searched=f"record {rkey} of {did} (RecordNotFound)")
            actor = client._session.handle or did
            return FoundPost(ref=_ref(found.uri, found.cid, actor=actor, rkey=rkey))

        try:
            return call(delivery.account, read, what="the post's record")
        except (Transient, RateLimited, AuthFailed, Rejected) as exc:
            return Undecidable(f"Bluesky could not read the post's record: {exc.message}")

    def publish_comment(self, delivery, text: str, *, on: dict) -> dict:
        """The first comment: a reply record whose root and parent are the post's first
        part, under a record key derived from the delivery and "comment" (a repeat finds
        the record the first attempt wrote)."""
        errors = self.validate(text)
        if errors:
            raise Rejected("The first comment: " + " ".join(errors))
        account = delivery.account
        langs = [str(lang) for lang in (account.options or {}).get("langs") or []][:3]
        what = "the first comment"

        def post(client: Client) -> dict:
            try:
                root = on
                if not (root.get("uri") and root.get("cid")):
                    # Only the post's id is known: its record (and cid) is read back.
                    rkey = text_rules.record_key(delivery.id, delivery.created_at)
                    found = _existing(client, client._session.did, rkey)
                    if found is None:
                        raise Rejected("The post the first comment replies to is not on Bluesky.")
                    root = {"uri": found.uri, "cid": found.cid}
                ref = _post_part(
                    client,
                    delivery,
                    index=text_rules.COMMENT_PART,
                    text=text,
                    sent=[root],
                    langs=langs,
                    what=what,
                )
            except ERRORS as exc:
                if _is_session_refusal(exc):
                    raise  # call() signs in again
                raise classify(exc, what=what) from None
            return {"id": ref["id"], "url": ref["url"], "uri": ref["uri"], "cid": ref["cid"]}

        return call(account, post, what=what)

    def metrics(self, account, external_ids: list[str]) -> dict[str, PostMetrics]:
        """Public counts from app.bsky.feed.getPosts, 25 uris a call. A post the answer
        leaves out is gone: getPosts skips deleted (and unknown) posts."""
        did = account.external_id
        uris = {}
        for external_id in external_ids:
            if external_id.startswith("at://"):
                uris[external_id] = external_id
            elif did:  # a record key stored alone (uri over 100 characters)
                uris[f"at://{did}/{POST_COLLECTION}/{external_id}"] = external_id
        wanted = list(uris)

        def read(client: Client):
            found: dict[str, PostMetrics] = {}
            for start in range(0, len(wanted), METRICS_URIS_PER_CALL):
                chunk = wanted[start : start + METRICS_URIS_PER_CALL]
                answer = client.get_posts(chunk)
                for post in answer.posts:
                    if post.uri in uris:
                        found[uris[post.uri]] = Counts(
                            likes=post.like_count or 0,
                            reposts=post.repost_count or 0,
                            replies=post.reply_count or 0,
                            quotes=post.quote_count or 0,
                        )
                for uri in chunk:
                    found.setdefault(uris[uri], Deleted("getPosts did not return it"))
            return found

        return call(account, read, what="the posts' counts")

    def check(self, account) -> str:
        def who(client: Client):
            return client.com.atproto.server.get_session()

        session = call(account, who, what="the credential check")
        if account.external_id and session.did != account.external_id:
            raise Rejected(
                f"The stored session belongs to {session.did}, not to this account "
                f"({account.external_id}): reconnect it."
            )
        return f"Signed in to Bluesky as @{session.handle} ({session.did})."


# The record's models build their validators on first use (their forward references
# import the embeds' modules): in the worker that was inside its first post after each
# start, in the middle of a hot second. Built when this module is imported (at the worker's
# start) instead, with pydantic's documented rebuild.
for _model in (
    models.AppBskyFeedPost.Record,
    models.AppBskyFeedPost.ReplyRef,
    models.ComAtprotoRepoStrongRef.Main,
    models.ComAtprotoRepoCreateRecord.Data,
    models.ComAtprotoRepoCreateRecord.Response,
    models.ComAtprotoRepoGetRecord.Response,
    models.AppBskyEmbedImages.Main,
    models.AppBskyRichtextFacet.Main,
):
    _model.model_rebuild()
del _model

network = BlueskyProvider()
# The name the code used before networks/ had a contract.
provider = network
