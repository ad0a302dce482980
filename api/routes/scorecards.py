"""Scorecards across applications, as JSON, for integrations that sync them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from api import pagination
from api.deps import SessionDep, StaffDep
from api.errors import STAFF_ERRORS, errors
from api.schemas import ScorecardListed
from api.services import scorecards

router = APIRouter(prefix="/api/v1/scorecards", tags=["scorecards"], responses=STAFF_ERRORS)
Id = Annotated[str | None, Query(min_length=1, max_length=40)]


@router.get(
    "",
    response_model=list[ScorecardListed],
    summary="The scorecards the caller may see, a page at a time, in the order they were submitted",
    description="Paginated by cursor in (`submitted_at`, `id`) order: follow the `Link` header's "
    '`rel="next"` until it is absent; `updated_after` keeps the scorecards submitted (or corrected) '
    "since. Recruiters see the scorecards of their jobs' applications. A scorecard also moves its "
    "application's `updated_at`: a sync that follows the application list and reads "
    "`?application_id=` for each changed one misses nothing either. Field names follow Greenhouse "
    "Harvest's scorecards (`interviewer`, `interview_step`, `overall_recommendation`, `ratings`).",
    responses={200: {"headers": pagination.LINK_HEADER}, **errors(422)},
)
def list_scorecards(
    session: SessionDep,
    staff: StaffDep,
    paging: pagination.PagingDep,
    response: Response,
    job_id: Id = None,
    application_id: Id = None,
) -> list[ScorecardListed]:
    rows, next_cursor = scorecards.list_scorecards(session, staff, job_id, application_id, paging)
    pagination.paginate(response, paging, next_cursor)
    return rows
