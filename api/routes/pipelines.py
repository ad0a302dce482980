from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import StaffDep
from api.errors import STAFF_ERRORS, NotFound, errors
from api.schemas import PipelineDefinition, PipelineSummary
from pipelines.registry import PIPELINES

router = APIRouter(prefix="/api/v1/pipelines", tags=["pipelines"], responses=STAFF_ERRORS)


@router.get(
    "",
    summary="The pipelines ops have defined, with their version hash",
    response_model=list[PipelineSummary],
)
def list_pipelines(_staff: StaffDep) -> list[dict[str, Any]]:
    return [
        {"name": p.name, "title": p.title, "version": p.version, "stages": [s.kind for s in p.stages]}
        for p in PIPELINES.values()
    ]


@router.get(
    "/{name}",
    summary="One pipeline's full definition",
    response_model=PipelineDefinition,
    responses=errors(404, 422),
)
def get_pipeline(name: str, _staff: StaffDep) -> dict[str, Any]:
    pipeline = PIPELINES.get(name)
    if pipeline is None:
        raise NotFound(f"no pipeline '{name}'; known pipelines: {', '.join(sorted(PIPELINES))}")
    return {"version": pipeline.version, "definition": pipeline.snapshot()}
