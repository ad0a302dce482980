"""The Idempotency-Key header in the API's OpenAPI document (see the package)."""

from __future__ import annotations

from typing import Any

from api.idempotency.middleware import KEY, SAFE_METHODS

KEY_DESCRIPTION = (
    "A key of your choosing (a UUID, say), new for each new request, the same when you send a "
    "request again because its answer was lost (a timeout, a 503, a dropped connection). A retry "
    "with the same key is answered as the first request was (marked `Idempotent-Replayed: true`) "
    "and changes nothing more; answers are kept for the retry for a day (IDEMPOTENCY_TTL_HOURS). "
    "The same key with another method, path or body is refused (422). Keys are per credential."
)


KEY_PARAMETER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": KEY_DESCRIPTION,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": KEY.pattern},
}
KEYED_ERRORS = (
    ("400", "The body could not be read, or the Idempotency-Key is not 1 to 255 visible ASCII characters"),
    ("422", "The request is not valid, or its Idempotency-Key was used for a different request"),
    ("503", "Busy or unreachable (or a request with this Idempotency-Key is still running): send it again"),
)
REPLAYED_HEADER = {
    "description": "`true` when this is the kept answer to an earlier request with the same Idempotency-Key",
    "schema": {"type": "string", "enum": ["true"]},
}


def document_idempotency(app: Any) -> None:
    """Every state-changing operation of the API takes the Idempotency-Key header (in the spec)."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return dict(app.openapi_schema)
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        for path, operations in schema.get("paths", {}).items():
            if not path.startswith("/api/"):
                continue
            for method, operation in operations.items():
                if method.upper() not in SAFE_METHODS and isinstance(operation, dict):
                    _document(operation)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi


def _document(operation: dict[str, Any]) -> None:
    """One state-changing operation: the header, the answers a key can bring, the replay marker."""
    operation.setdefault("parameters", []).append(dict(KEY_PARAMETER))
    responses = operation.setdefault("responses", {})
    for status, what in KEYED_ERRORS:
        responses.setdefault(
            status,
            {
                "description": what,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
            },
        )
    for status, response in responses.items():
        if status.startswith("2"):
            response.setdefault("headers", {})["Idempotent-Replayed"] = dict(REPLAYED_HEADER)
