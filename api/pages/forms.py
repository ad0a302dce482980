"""Forms read into the JSON API's own `*Create` schemas (api/schemas.py): a form's limits are the
schema's, and a form that breaks one is refused with the JSON API's own 422, for the page to show
next to the form (never a 500)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from api.errors import ApiError, invalid_request

Body = TypeVar("Body", bound=BaseModel)


def parsed(schema: type[Body], values: Mapping[str, object], hints: Mapping[str, str] | None = None) -> Body:
    """`values` as `schema` takes them, or the 422 the JSON API would answer. A hint, by field, says
    first in the page's words what to do when that field is at fault."""
    try:
        return schema.model_validate(dict(values))
    except ValidationError as error:
        refused = invalid_request(error.errors())
        faulty = [str(p["field"]) for p in refused.extra["errors"]]
        hint = next((hints[f] for f in faulty if hints and f in hints), None)
        if hint:
            refused.detail = f"{hint} ({refused.detail})"
        raise refused from None


def text(form: FormData, name: str) -> str:
    """A text field as typed, without surrounding spaces ('' when absent, or a file)."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def field_errors(error: ApiError, fields: Mapping[str, str], default: str | None = None) -> dict[str, str]:
    """The refusal's message by form field, for the page to show next to it: `fields` maps the
    API's dotted field names to the form's; a refusal naming no field goes to `default`."""
    found: dict[str, str] = {}
    for problem in error.extra.get("errors", []) if isinstance(error.extra.get("errors"), list) else []:
        name = fields.get(str(problem.get("field", "")))
        if name and name not in found:
            found[name] = str(problem.get("message") or error.detail)
    if not found and default:
        found[default] = error.detail
    return found
