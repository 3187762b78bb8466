"""`Idempotency-Key` on every POST, PUT, PATCH and DELETE of the REST API (the rules:
accounts.idempotency; for clients: the API docs and the README).

A mixin of accounts.api_scoping.WorkspaceScopedViewSet, so every API viewset has it. After
DRF's own checks (token, role, throttle) it claims the key; the endpoint then runs in one
transaction that holds the key's row and stores the answer, so the work and its answer
commit together, and a 5xx (or a crash) rolls both back and frees the key. What DRF
answers before the endpoint runs (401, 403, 429, a bad key, a body that does not parse,
409, 422) is not stored, as Stripe does: the client can send it again. The token endpoint
(accounts.api.ObtainToken) is not a viewset and has no key: its answer holds a new secret
that must never be stored.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import ExitStack
from urllib.parse import urlencode

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.http import HttpResponse, QueryDict
from django.utils import timezone
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.permissions import SAFE_METHODS

from accounts import idempotency
from accounts.idempotency import KEY_MAX_LENGTH, KEY_PATTERN, KEY_RULE, Outcome
from accounts.models import ApiToken

KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# The headers of an answer that are part of it; the rest (Vary, Allow, ...) comes anew.
STORED_HEADERS = ("Content-Type", "Location")

KEY_DESCRIPTION = (
    "Your own id for this request (a UUID, for example), so a retry after a timeout or a "
    "lost connection cannot do the work twice. For 24 hours per token: the same request "
    "again (same method, path and body) gets the first answer back unchanged, with the "
    f"header `{REPLAYED_HEADER}: true`, and nothing runs; the same key with another method, "
    "path or body gets 422; while the first request is still running, 409. Answers below "
    "500 are kept (a 400 too: fix the body and use a new key); after a 5xx the key is free "
    "again and the request changed nothing. " + KEY_RULE
)
KEY_PARAMETER = OpenApiParameter(
    KEY_HEADER,
    {"type": "string", "minLength": 1, "maxLength": KEY_MAX_LENGTH},
    OpenApiParameter.HEADER,
    required=False,
    description=KEY_DESCRIPTION,
    pattern=KEY_PATTERN,
)


class IdempotentAutoSchema(AutoSchema):
    """Documents the optional `Idempotency-Key` header on every unsafe operation of a view
    that takes one (the 409 and 422 answers that come with it: queueloop.schema_hooks).

    The project's DEFAULT_SCHEMA_CLASS: drf-spectacular builds an `@extend_schema` of a
    view method on the default class, so a class attribute on the mixin would miss those.
    """

    def get_override_parameters(self):
        parameters = super().get_override_parameters()
        if self.method not in SAFE_METHODS and isinstance(self.view, IdempotentViewMixin):
            parameters = [*parameters, KEY_PARAMETER]
        return parameters


class InvalidKey(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = KEY_RULE
    default_code = "invalid_idempotency_key"


class KeyInUse(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = (
        "A request with this Idempotency-Key is still running: retry it once that one has "
        "answered, and you will get its answer."
    )
    default_code = "idempotency_key_in_use"


class KeyReused(APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "idempotency_key_reused"


class _Replay(Exception):
    """Raised from initial() to answer with a stored response (see handle_exception)."""

    def __init__(self, response: HttpResponse):
        super().__init__()
        self.response = response


def canonical_body(data) -> str:
    """request.data as one text that ignores key order and JSON spacing; an uploaded file
    counts by its name, size and SHA-256."""

    def plain(value):
        if isinstance(value, QueryDict):
            return {key: [plain(v) for v in value.getlist(key)] for key in value}
        if isinstance(value, dict):
            return {str(key): plain(v) for key, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, UploadedFile):
            digest = hashlib.sha256()
            for chunk in value.chunks():
                digest.update(chunk)
            value.seek(0)
            return {"file": value.name, "size": value.size, "sha256": digest.hexdigest()}
        return value

    return json.dumps(plain(data), sort_keys=True, separators=(",", ":"), default=str)


def canonical_path(request) -> str:
    query = sorted((key, sorted(values)) for key, values in request.query_params.lists())
    return request.path + ("?" + urlencode(query, doseq=True) if query else "")


def stored_response(record) -> HttpResponse:
    response = HttpResponse(bytes(record.body), status=record.status_code)
    for name, value in record.headers.items():
        response[name] = value
    if "Content-Type" not in record.headers:
        del response["Content-Type"]  # a 204 had none
    response[REPLAYED_HEADER] = "true"
    return response


class IdempotentViewMixin:
    def dispatch(self, request, *args, **kwargs):
        self._idempotency_record = None
        stored = False
        try:
            with ExitStack() as scope:
                # initial() enters the endpoint's transaction here once it claimed a key.
                self._idempotency_scope = scope
                response = super().dispatch(request, *args, **kwargs)
                if self._idempotency_record is not None:
                    stored = self._store(response)
        except BaseException:
            self._release()
            raise
        if not stored:
            self._release()
        return response

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        key = request.headers.get(KEY_HEADER)
        if key is None or request.method in SAFE_METHODS:
            return
        if not idempotency.key_is_valid(key):
            raise InvalidKey()
        token = request.auth if isinstance(request.auth, ApiToken) else None
        claim = idempotency.idempotency_claim(
            user_id=request.user.pk,
            token_id=token.pk if token else None,
            key=key,
            fingerprint=idempotency.request_fingerprint(
                method=request.method,
                path=canonical_path(request),
                body=canonical_body(request.data),  # a body that does not parse: 400 here
            ),
            method=request.method,
            path=request.path,
            now=timezone.now(),
        )
        if claim.outcome is Outcome.MISMATCH:
            first = claim.record
            raise KeyReused(
                f"This Idempotency-Key was first used for {first.method} {first.path} with "
                "the body sent then, and a key belongs to that one request: send it unchanged "
                "to get its answer, or use a new key for a new request."
            )
        if claim.outcome is Outcome.IN_PROGRESS and claim.record is None:
            raise KeyInUse()
        if claim.outcome is not Outcome.REPLAY:
            # The endpoint's transaction, holding the key's row until the answer is stored.
            self._idempotency_scope.enter_context(transaction.atomic())
            claim = idempotency.idempotency_take(claim=claim)
        if claim.outcome is Outcome.IN_PROGRESS:
            raise KeyInUse()
        if claim.outcome is Outcome.REPLAY:
            raise _Replay(stored_response(claim.record))
        self._idempotency_record = claim.record

    def handle_exception(self, exc):
        if isinstance(exc, _Replay):
            return exc.response
        return super().handle_exception(exc)

    def _store(self, response) -> bool:
        """Keep an answer below 500, in the endpoint's transaction; roll a 5xx back."""
        if response.status_code >= 500:
            transaction.set_rollback(True)
            return False
        if hasattr(response, "render"):
            response.render()
        idempotency.idempotency_complete(
            record=self._idempotency_record,
            status_code=response.status_code,
            body=response.content,
            headers={name: response[name] for name in STORED_HEADERS if name in response},
        )
        return True

    def _release(self) -> None:
        if self._idempotency_record is not None:
            idempotency.idempotency_release(record=self._idempotency_record)
            self._idempotency_record = None
