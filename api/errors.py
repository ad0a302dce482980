"""Errors that carry their HTTP status. Raised anywhere in the API, rendered as JSON by one handler."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ApiError(Exception):
    status_code = 400

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"detail": self.detail, **self.extra}


class Unauthorized(ApiError):
    status_code = 401


class Forbidden(ApiError):
    status_code = 403


class NotFound(ApiError):
    status_code = 404


class Conflict(ApiError):
    status_code = 409


class Gone(ApiError):
    status_code = 410


class PayloadTooLarge(ApiError):
    status_code = 413


class Unprocessable(ApiError):
    status_code = 422


class TooManyRequests(ApiError):
    status_code = 429


class LengthRequired(ApiError):
    status_code = 411


class ServiceUnavailable(ApiError):
    """Nothing was refused; the same request may be sent again, after Retry-After seconds."""

    status_code = 503
    RETRY_AFTER = 5

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None, **extra: Any) -> None:
        headers = {"Retry-After": str(self.RETRY_AFTER), **(headers or {})}
        extra.setdefault("retry_after", int(headers["Retry-After"]))
        super().__init__(detail, headers=headers, **extra)


def invalid_request(problems: Sequence[Any]) -> Unprocessable:
    """The 422 for a body that breaks its schema (pydantic's errors), whether it came as JSON or as
    a page's form: each field at fault, dotted, and what is wrong with it."""
    fields = [{"field": _field(e["loc"]), "message": e["msg"]} for e in problems]
    summary = "; ".join(f"{p['field']}: {p['message']}" for p in fields)
    return Unprocessable(f"invalid request: {summary}", errors=fields)


def _field(loc: Sequence[object]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:] or parts
    return ".".join(parts)


# ------------------------------------------------------------------------ documented in OpenAPI


class ErrorBody(BaseModel):
    """What every refusal answers: `detail` says what is wrong and what to do about it. Some carry
    more, named in their description (a 409 the application's `status` and `stage`, a 429
    `retry_after`)."""

    model_config = ConfigDict(extra="allow")

    detail: str = Field(description="What is wrong, in words meant for the person calling")


class FieldProblem(BaseModel):
    model_config = ConfigDict(extra="allow")

    field: str | None = Field(default=None, description="The field at fault, dotted (candidate.email)")
    message: str | None = Field(default=None, description="What is wrong with it")


class InvalidRequestBody(ErrorBody):
    """A request the API could not take as sent: `errors` names each field at fault, when known."""

    errors: list[FieldProblem] = Field(default_factory=list)


RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}
ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "The body could not be read (not UTF-8, or a malformed form)",
    401: "No credentials, or credentials that are not valid (unknown, revoked, tampered)",
    403: "The credentials do not allow this (the role, a missing CSRF token, a review taken away)",
    404: "No such resource, or none the caller may see",
    409: "Refused in the current state (the application's `status` and `stage` are in the body)",
    410: "Gone: the link expired or was replaced, or the application was withdrawn or erased",
    411: "The upload was sent without a Content-Length",
    413: "The body is larger than this endpoint takes",
    422: "The request is not valid: `errors` names the fields at fault",
    429: "Too many requests (or too many bad credentials) from this address or link; retry later",
    503: "The workflow engine (Temporal) is unreachable or busy: nothing was refused, send it again",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route that may answer these statuses, each with the error body."""
    documented: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {
            "model": InvalidRequestBody if status == 422 else ErrorBody,
            "description": ERROR_DESCRIPTIONS[status],
        }
        if status in (429, 503):
            entry["headers"] = RETRY_AFTER
        documented[status] = entry
    return documented


# Every staff route: no or bad credentials, a role or CSRF refusal, bad tokens throttled.
STAFF_ERRORS = errors(401, 403, 429)
# Every candidate-link route: a link that does not verify, one that no longer opens this, throttling.
LINK_ERRORS = errors(401, 410, 429)
