"""The pipelines this deployment offers: define one in a module of this package and list it in
PIPELINES; each is validated when this module is first imported (never by the workflow, which gets
its pipeline as a snapshot)."""

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
