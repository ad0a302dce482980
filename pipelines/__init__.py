"""Pipelines as code. Define one in a module here and list it in PIPELINES; it is validated on load."""

from offhours import TEMPLATES_DIR
from pipelines.base import Pipeline, PipelineError, pipeline_from_snapshot
from pipelines.custom import CUSTOM_ACTIVITIES, CUSTOM_WORKFLOWS
from pipelines.examples import INTERNSHIP, SENIOR_BACKEND_ENGINEER, SUPPORT_AGENT
from pipelines.people import PEOPLE, POOLS
from pipelines.standard import STANDARD


def validate(pipeline: Pipeline) -> Pipeline:
    return pipeline.validate(PEOPLE, POOLS, CUSTOM_ACTIVITIES, TEMPLATES_DIR, CUSTOM_WORKFLOWS)


PIPELINES: dict[str, Pipeline] = {
    p.name: validate(p) for p in (STANDARD, SUPPORT_AGENT, SENIOR_BACKEND_ENGINEER, INTERNSHIP)
}


def get_pipeline(name: str) -> Pipeline:
    try:
        return PIPELINES[name]
    except KeyError:
        known = ", ".join(sorted(PIPELINES))
        raise PipelineError([f"unknown pipeline '{name}'; known pipelines: {known}"]) from None


__all__ = ["PIPELINES", "Pipeline", "PipelineError", "get_pipeline", "pipeline_from_snapshot", "validate"]
