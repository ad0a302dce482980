"""The reviewer's workspace in the browser: their queue, an application as they may see it (blind,
independent), and their scorecard, which rates the criteria of the review stage they are assigned
to and goes through the same workflow update as the API's."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, col, select
from starlette.datastructures import FormData

from api.deps import Principal, SessionDep, SettingsDep, StaffDep, TemporalClientDep
from api.errors import ApiError, Unprocessable
from api.pages.forms import parsed, text
from api.pages.render import staff_page
from api.schemas import ScorecardCreate
from api.services import applications, reviews
from api.services.access import load_application
from api.services.files import media_urls
from api.workflow_calls import update_application
from offhours.models import Application, Job, ReviewAssignment
from offhours.settings import Settings
from offhours.states import Recommendation
from pipelines.base import pipeline_from_snapshot
from pipelines.people import PEOPLE
from pipelines.stages import Review

router = APIRouter(prefix="/staff", tags=["staff pages"], include_in_schema=False)

RECOMMENDATIONS = [
    (Recommendation.strong_yes, "Strong yes"),
    (Recommendation.yes, "Yes"),
    (Recommendation.no, "No"),
    (Recommendation.definitely_not, "Definitely not"),
    (Recommendation.no_decision, "No decision"),
]


@router.get("/reviews", response_class=HTMLResponse)
def queue(request: Request, session: SessionDep, settings: SettingsDep, staff: StaffDep) -> HTMLResponse:
    rows = session.exec(
        select(ReviewAssignment, Application, Job)
        .join(Application, col(Application.id) == col(ReviewAssignment.application_id))
        .join(Job, col(Job.id) == col(Application.job_id))
        .where(ReviewAssignment.reviewer == (staff.person_id or ""))
        .order_by(col(ReviewAssignment.due_at))
    ).all()
    open_ = [(a, app, job) for a, app, job in rows if a.status == "assigned"]
    done = [(a, app, job) for a, app, job in rows if a.status != "assigned"]
    return staff_page(request, settings, staff, "reviews.html", open_reviews=open_, done_reviews=done)


@router.get("/reviews/{application_id}", response_class=HTMLResponse)
def review_page(
    application_id: str, request: Request, session: SessionDep, settings: SettingsDep, staff: StaffDep
) -> HTMLResponse:
    return _review(request, session, settings, staff, application_id)


def _review(
    request: Request,
    session: Session,
    settings: Settings,
    staff: Principal,
    application_id: str,
    status_code: int = 200,
    error: str | None = None,
) -> HTMLResponse:
    view = reviews.review_view(session, staff, application_id, staff.person_id or "")
    application = load_application(session, application_id, staff)
    pipeline = pipeline_from_snapshot(application.pipeline_snapshot)
    return staff_page(
        request,
        settings,
        staff,
        "review.html",
        status_code=status_code,
        view=view,
        prompts={q.id: q for q in pipeline.interview_questions()},
        media=media_urls(session, settings, staff, application.id),
        recommendations=RECOMMENDATIONS,
        people=PEOPLE,
        error=error,
    )


def scorecard_form(form: FormData, review: Review) -> ScorecardCreate:
    """The scorecard form as the API's ScorecardCreate: a rating for each criterion of the review
    stage being scored (the workflow takes exactly those), the recommendation, the notes."""
    ratings = {}
    for criterion in review.criteria:
        rating = text(form, f"rating-{criterion.id}")
        if not rating:
            raise Unprocessable(f"Rate '{criterion.title}' from 1 to 5.")
        ratings[criterion.id] = rating
    recommendation = text(form, "recommendation")
    if not recommendation:
        raise Unprocessable("Choose an overall recommendation.")
    values = {
        "overall_recommendation": recommendation,
        "ratings": ratings,
        "notes": text(form, "notes") or None,
    }
    return parsed(ScorecardCreate, values)


@router.post("/reviews/{application_id}", response_model=None)
async def submit_review(
    application_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
    staff: StaffDep,
) -> Response:
    form = await request.form(max_fields=50)
    application = load_application(session, application_id, staff)
    try:
        review = reviews.review_stage(session, application, staff.person_id or "")
        card = applications.scorecard_input(staff, scorecard_form(form, review))
        await update_application(client, session, application, "submit_scorecard", card)
    except ApiError as error:
        return _review(request, session, settings, staff, application_id, error.status_code, error.detail)
    return RedirectResponse(f"/staff/reviews/{application_id}", status_code=303)
