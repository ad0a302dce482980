"""Analytics, read-only: the funnel, stages, questions, reminders, reviewers, agreement and adverse
impact, over the applications invited in [from, to) on a job or pipeline; JSON, or CSV with
?format=csv (the same table the dashboard shows, small categories suppressed)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel

from api.deps import SessionDep, StaffDep
from api.errors import STAFF_ERRORS, errors
from api.schemas.analytics import (
    AdverseImpactPublic,
    AgreementPublic,
    FunnelPublic,
    QuestionsPublic,
    RemindersPublic,
    ReviewersPublic,
    StagesPublic,
)
from api.services import analytics
from operations.analytics.tables import TABLES, to_csv

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"], responses=STAFF_ERRORS)

JobId = Annotated[str | None, Query(max_length=40, description="One job (default: every job you may see)")]
PipelineName = Annotated[str | None, Query(max_length=100, description="One pipeline")]
From = Annotated[
    str | None,
    Query(alias="from", max_length=40, description="Invited on or after: a date or an ISO 8601 time"),
]
To = Annotated[
    str | None,
    Query(alias="to", max_length=40, description="Invited before (a date: up to the end of that day)"),
]
Format = Annotated[Literal["json", "csv"], Query(description="csv: the table as a download")]
CSV: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}


def _answer(
    metric: str,
    model: type[BaseModel],
    session: SessionDep,
    staff: StaffDep,
    job_id: str | None,
    pipeline: str | None,
    start: str | None,
    end: str | None,
    output: str,
) -> Any:
    scope = analytics.scope_for(
        session, staff, metric, job_id=job_id, pipeline=pipeline, start=start, end=end
    )
    result = analytics.compute(session, metric, scope)
    if output == "csv":
        return Response(
            to_csv(TABLES[metric](result)),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{metric}.csv"'},
        )
    return model.model_validate(result)


def _route(metric: str, model: type[BaseModel], summary: str) -> None:
    def endpoint(
        session: SessionDep,
        staff: StaffDep,
        job_id: JobId = None,
        pipeline: PipelineName = None,
        start: From = None,
        end: To = None,
        format: Format = "json",
    ) -> Any:
        return _answer(metric, model, session, staff, job_id, pipeline, start, end, format)

    endpoint.__name__ = f"analytics_{metric.replace('-', '_')}"
    router.add_api_route(
        f"/{metric}",
        endpoint,
        methods=["GET"],
        response_model=model,
        summary=summary,
        responses={**CSV, **errors(403, 404, 422)},
    )


_route("funnel", FunnelPublic, "Funnel: how many ever reached each point, and the rates between")
_route("stages", StagesPublic, "Stages: pass-through and time in each; time to complete and to decision")
_route("questions", QuestionsPublic, "Questions: who answered each, and where those who gave up stopped")
_route("reminders", RemindersPublic, "Reminders: submissions in each reminder's window")
_route("reviewers", ReviewersPublic, "Reviewers: load, on time, overdue, reassigned, time to score")
_route("agreement", AgreementPublic, "Agreement: Krippendorff's alpha and ICC per review stage")
_route("adverse-impact", AdverseImpactPublic, "Adverse impact: selection rates by self-identified group")
