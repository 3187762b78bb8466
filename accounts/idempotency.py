"""Idempotency keys of the REST API: a client's retry of a POST, PUT, PATCH or DELETE gets
the first request's answer instead of doing the work again (Stripe's semantics; the DRF
side is accounts.api_idempotency, the rules for clients are in the API docs and README).

- A key belongs to the token that sent it (to the user for a session) and lives
  `KEY_LIFETIME` from its first request; an older one is deleted when next seen, and
  hourly by `accounts.purge_idempotency_keys`, and then counts as new.
- The first request claims the key by inserting its row in a transaction of its own, so
  the unique constraint decides which of two concurrent requests runs and the other sees
  the row at once: answered → "replay"; no answer yet → "in progress" (409) while the
  request that claimed it runs. That request holds a lock on the row in the endpoint's
  transaction (`idempotency_take`), so on PostgreSQL an unanswered row that nobody holds
  belongs to a request that died, and whose work was rolled back: the next request with
  the key takes it over instead of answering 409 for a day. (SQLite has no row locks:
  there such a row stays "in progress" until it expires.)
- A repeat must be the same request: the same method, path and canonical body
  (`request_fingerprint`); anything else → "mismatch" (422), nothing runs.
- An answer is kept when the endpoint ran and answered below 500 (4xx included, as
  Stripe keeps them); a 5xx or a crash releases the key, so the client can retry it. The
  endpoint's writes and the stored answer commit in one transaction (the web side opens
  it), so a released key left nothing behind.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum

from django.db import IntegrityError, connection, transaction

from accounts.models import IdempotencyKey

KEY_LIFETIME = dt.timedelta(hours=24)
KEY_MAX_LENGTH = 255
# Printable ASCII, no space at either end (proxies may trim it); the schema shows the same.
KEY_PATTERN = r"^[!-~](?:[ -~]{0,253}[!-~])?$"
_KEY_RE = re.compile(KEY_PATTERN)
KEY_RULE = (
    f"An Idempotency-Key is 1 to {KEY_MAX_LENGTH} printable ASCII characters "
    "(letters, digits, punctuation; spaces only inside), for example a UUID."
)


class Outcome(StrEnum):
    RUN = "run"  # the key is new: this request runs and its answer will be stored
    REPLAY = "replay"  # the same request answered before: send its stored answer
    IN_PROGRESS = "in_progress"  # the same key's first request has no answer yet
    MISMATCH = "mismatch"  # the key was used for another method, path or body


@dataclass(frozen=True)
class Claim:
    outcome: Outcome
    record: IdempotencyKey | None  # the row claimed or found


def key_is_valid(key: str) -> bool:
    return bool(_KEY_RE.match(key))


def request_fingerprint(*, method: str, path: str, body: str) -> str:
    """SHA-256 over the method, the path (with its canonical query) and the canonical body."""
    digest = hashlib.sha256()
    for part in (method.upper(), path, body):
        encoded = part.encode("utf-8", "surrogatepass")
        digest.update(str(len(encoded)).encode() + b":" + encoded)
    return digest.hexdigest()


def _keys_of(*, user_id: int, token_id: int | None):
    if token_id is None:
        return IdempotencyKey.objects.filter(user_id=user_id, token__isnull=True)
    return IdempotencyKey.objects.filter(token_id=token_id)


def idempotency_claim(
    *,
    user_id: int,
    token_id: int | None,
    key: str,
    fingerprint: str,
    method: str,
    path: str,
    now: dt.datetime,
) -> Claim:
    """Claim `key` for this request, or say why not. Call outside a transaction (the
    claim must be visible to other requests at once); inside one it is a savepoint."""
    keys = _keys_of(user_id=user_id, token_id=token_id)
    record = None
    # A few tries: the row found may have expired or been released (5xx) meanwhile.
    for _ in range(3):
        try:
            with transaction.atomic():
                record = IdempotencyKey.objects.create(
                    user_id=user_id,
                    token_id=token_id,
                    key=key,
                    fingerprint=fingerprint,
                    method=method.upper(),
                    path=path,
                    created_at=now,
                )
            return Claim(Outcome.RUN, record)
        except IntegrityError:
            pass  # the key is taken: look at who has it
        record = keys.filter(key=key).first()
        if record is None:
            continue  # released since (its request answered 5xx)
        if record.created_at <= now - KEY_LIFETIME:
            keys.filter(pk=record.pk, created_at=record.created_at).delete()
            continue
        if record.fingerprint != fingerprint:
            return Claim(Outcome.MISMATCH, record)
        if record.status_code is None:
            return Claim(Outcome.IN_PROGRESS, record)
        return Claim(Outcome.REPLAY, record)
    # The key kept changing hands under us: answer as if it were in use.
    return Claim(Outcome.IN_PROGRESS, record)


def idempotency_take(*, claim: Claim) -> Claim:
    """Lock the claimed row for the rest of the endpoint's transaction (call inside it).

    For a RUN claim this marks the request as running; for an IN_PROGRESS one it takes the
    row over when no request holds it any more. Answers RUN (go on), IN_PROGRESS (a request
    holds it: 409) or REPLAY (it was answered meanwhile).
    """
    if not connection.features.has_select_for_update_skip_locked:
        # SQLite: a writer locks the whole database, so there is nothing to tell apart.
        return claim
    row = IdempotencyKey.objects.select_for_update(skip_locked=True).filter(pk=claim.record.pk)
    record = row.first()
    if record is None:  # held by the request running it (or gone: answer as busy)
        return Claim(Outcome.IN_PROGRESS, claim.record)
    if record.status_code is not None:
        return Claim(Outcome.REPLAY, record)
    return Claim(Outcome.RUN, record)


def idempotency_complete(
    *, record: IdempotencyKey, status_code: int, body: bytes, headers: dict[str, str]
) -> None:
    """Store the answer of the request that claimed `record` (in the endpoint's transaction)."""
    IdempotencyKey.objects.filter(pk=record.pk).update(
        status_code=status_code, body=body, headers=headers
    )


def idempotency_release(*, record: IdempotencyKey) -> None:
    """Forget an unanswered claim (the request failed with a 5xx): the key can be retried."""
    IdempotencyKey.objects.filter(pk=record.pk, status_code__isnull=True).delete()


def idempotency_keys_purge(*, now: dt.datetime) -> int:
    """Delete the keys older than KEY_LIFETIME; returns how many."""
    deleted, _ = IdempotencyKey.objects.filter(created_at__lte=now - KEY_LIFETIME).delete()
    return deleted
