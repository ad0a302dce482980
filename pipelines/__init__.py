"""Pipelines as code. Add a module here and list its pipeline in PIPELINES."""

from pipelines.base import Pipeline, PipelineError
from pipelines.standard import STANDARD

PIPELINES: dict[str, Pipeline] = {p.name: p.validate() for p in (STANDARD,)}


def get_pipeline(name: str) -> Pipeline:
    try:
        return PIPELINES[name]
    except KeyError:
        known = ", ".join(sorted(PIPELINES))
        raise PipelineError(f"unknown pipeline '{name}'; known pipelines: {known}") from None


__all__ = ["PIPELINES", "Pipeline", "PipelineError", "get_pipeline"]
