"""What every body shares: strict inputs (an unknown field is a 422) and the names the spec lists."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import available_timezones

from pydantic import (
    BaseModel,
    ConfigDict,
    JsonValue,
    StringConstraints,
)

from pipelines.registry import PIPELINES

Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
# What the spec lists as accepted is what is: the pipelines defined, the zones this server knows.
PIPELINE_NAMES: list[JsonValue] = [*sorted(PIPELINES)]
IANA_ZONES: list[JsonValue] = [*sorted(available_timezones())]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")
