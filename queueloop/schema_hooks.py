"""OpenAPI postprocessing (drf-spectacular): document the error answers every operation
can give, so a client (and schemathesis) knows a 400 or a 429 is part of the contract; an
operation that takes an `Idempotency-Key` (accounts.api_idempotency) can also answer 409
and 422."""

from __future__ import annotations

ERROR_SCHEMA = {
    "type": "object",
    "description": (
        "An error: `detail` (a message) or, for invalid input, a message list per field."
    ),
    "additionalProperties": True,
}

_ERRORS = {
    "400": "Invalid input: the body or a query parameter was refused.",
    "401": "No valid token.",
    "403": "Your role in the workspace does not allow this.",
    "404": "No such object in your workspaces.",
    "429": "Too many requests (API_THROTTLE_RATE) or too many failed logins.",
}
_KEY_ERRORS = {
    "409": "A request with this Idempotency-Key is still running.",
    "422": "This Idempotency-Key was used for another request (method, path or body).",
}


def _takes_idempotency_key(operation) -> bool:
    return any(
        parameter.get("in") == "header" and parameter.get("name") == "Idempotency-Key"
        for parameter in operation.get("parameters", ())
    )


def add_error_responses(result, generator, request, public):
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    ref = {"$ref": "#/components/schemas/Error"}
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            errors = _ERRORS | (_KEY_ERRORS if _takes_idempotency_key(operation) else {})
            for code, description in errors.items():
                responses.setdefault(
                    code,
                    {"description": description, "content": {"application/json": {"schema": ref}}},
                )
    return result


# Workaround for openapi-python-client's issue #1276 (open in 0.29.1; fix proposed in its
# pull request #1426): when one request body lists several media types with the same
# schema, the generated client tests `isinstance(body, Same)` once per media type, every
# test passes and the last (multipart/form-data) always wins, so a typed client can never
# send JSON. The form-urlencoded and multipart bodies therefore point to copies of the
# schema under their own names (PostCreateForm, PostCreateMultipart): the same shape, so
# the API and schemathesis see no difference. tests/api/test_generated_client.py has a
# test that fails once the generator handles it, to remove this then.
_MEDIA_SUFFIX = {
    "application/x-www-form-urlencoded": "Form",
    "multipart/form-data": "Multipart",
}


def distinct_form_bodies(result, generator, request, public):
    components = result.setdefault("components", {}).setdefault("schemas", {})
    prefix = "#/components/schemas/"
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            content = (operation.get("requestBody") or {}).get("content") or {}
            json_ref = (content.get("application/json") or {}).get("schema", {}).get("$ref")
            if not json_ref or not json_ref.startswith(prefix):
                continue
            name = json_ref.removeprefix(prefix)
            for media, suffix in _MEDIA_SUFFIX.items():
                body = content.get(media)
                if body is None or body.get("schema", {}).get("$ref") != json_ref:
                    continue
                components.setdefault(name + suffix, components[name])
                body["schema"] = {"$ref": prefix + name + suffix}
    return result
