"""Applications for staff, as JSON: thin routes over api/services (the staff pages call the same)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from sqlmodel import col

from api import idempotency, pagination
from api.deps import SessionDep, SettingsDep, StaffDep, TemporalClientDep
from api.errors import STAFF_ERRORS, errors
from api.schemas import (
    ApplicationCreate,
    ApplicationDetail,
    ApplicationPublic,
    DeadlineExtensionCreate,
    DecisionCreate,
    ExtensionDecisionCreate,
    FeedbackReleaseCreate,
    MessageCreate,
    MessagePublic,
    ReviewView,
    ScorecardCreate,
    SlotOfferCreate,
    StageOutcomeCreate,
    WithdrawCreate,
)
from api.services import applications, audit, reviews
from api.services import messages as thread
from api.services.access import load_application, recorded_as
from offhours.models import ContactMessage
from offhours.states import ApplicationStatus

router = APIRouter(prefix="/api/v1/applications", tags=["applications"], responses=STAFF_ERRORS)
# A change the workflow takes (or refuses: 409, 422); 410 once the application is erased.
UPDATE_ERRORS = errors(400, 404, 409, 410, 413, 422, 503)
READ_ERRORS = errors(404, 422)
AUDIT_ERRORS = errors(404, 422, 503)
MAX_OFFSET = 10_000_000  # far past any real list, and well inside every database's integers


@router.post(
    "",
    status_code=201,
    response_model=ApplicationPublic,
    summary="Invite a candidate to a job",
    responses=errors(400, 404, 409, 413, 422, 503),
)
async def create_application(
    body: ApplicationCreate,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
    staff: StaffDep,
) -> ApplicationPublic:
    engine = request.app.state.engine
    application = await applications.invite_candidate(session, engine, client, settings, staff, body)
    idempotency.note_application(request.scope.setdefault("state", {}), application.id)
    return applications.application_public(session, application)


@router.get(
    "",
    response_model=list[ApplicationPublic],
    summary="The applications the caller may see, a page at a time, oldest change first",
    description="Paginated by cursor in (`updated_at`, `id`) order: follow the `Link` header's "
    '`rel="next"` until it is absent. An application that changes while the list is walked moves to '
    "its end, so a walk misses none and shows one again only when it changed after it was read. "
    "`updated_after` keeps those changed since a previous sync. Recruiters see their jobs' "
    "applications. Greenhouse Harvest names beside ours: `candidate_id`, `applied_at` (= "
    "`created_at`), `last_activity_at` (= `updated_at`), `current_stage`, `rejected_at`.",
    responses={200: {"headers": pagination.LINK_HEADER}, **errors(422)},
)
def list_applications(
    session: SessionDep,
    staff: StaffDep,
    paging: pagination.PagingDep,
    response: Response,
    job_id: str | None = None,
    status: ApplicationStatus | None = None,
    offset: Annotated[
        int,
        Query(
            ge=0,
            le=MAX_OFFSET,
            deprecated=True,
            description="Rows of the first page to skip (the paging before cursors; the next page's "
            "link uses the cursor instead)",
        ),
    ] = 0,
) -> list[ApplicationPublic]:
    rows, next_cursor = applications.list_applications(session, staff, job_id, status, paging, offset)
    pagination.paginate(response, paging, next_cursor)
    return rows


@router.get("/{application_id}", response_model=ApplicationDetail, responses=READ_ERRORS)
def get_application(application_id: str, session: SessionDep, staff: StaffDep) -> ApplicationDetail:
    return applications.application_detail(session, load_application(session, application_id, staff))


@router.post(
    "/{application_id}/scorecards", status_code=201, response_model=ApplicationDetail, responses=UPDATE_ERRORS
)
async def submit_scorecard(
    application_id: str,
    body: ScorecardCreate,
    session: SessionDep,
    client: TemporalClientDep,
    staff: StaffDep,
) -> ApplicationDetail:
    card = applications.scorecard_input(staff, body)
    return await applications.change(client, session, staff, application_id, "submit_scorecard", card)


@router.post("/{application_id}/decision", response_model=ApplicationDetail, responses=UPDATE_ERRORS)
async def decide(
    application_id: str, body: DecisionCreate, session: SessionDep, client: TemporalClientDep, staff: StaffDep
) -> ApplicationDetail:
    decision = applications.decision_input(staff, body)
    return await applications.change(client, session, staff, application_id, "decide", decision)


@router.post("/{application_id}/withdraw", response_model=ApplicationDetail, responses=UPDATE_ERRORS)
async def withdraw(
    application_id: str, body: WithdrawCreate, session: SessionDep, client: TemporalClientDep, staff: StaffDep
) -> ApplicationDetail:
    withdrawal = applications.withdrawal(staff, body)
    return await applications.change(client, session, staff, application_id, "withdraw", withdrawal)


@router.post(
    "/{application_id}/extension",
    response_model=ApplicationDetail,
    summary="Grant or refuse the waiting extension request",
    responses=UPDATE_ERRORS,
)
async def decide_extension(
    application_id: str,
    body: ExtensionDecisionCreate,
    session: SessionDep,
    client: TemporalClientDep,
    staff: StaffDep,
) -> ApplicationDetail:
    decision = applications.extension_decision(staff, body)
    return await applications.change(client, session, staff, application_id, "decide_extension", decision)


@router.post(
    "/{application_id}/deadline",
    response_model=ApplicationDetail,
    summary="Give the candidate more time, unasked (emails them the new deadline)",
    responses=UPDATE_ERRORS,
)
async def extend_deadline(
    application_id: str,
    body: DeadlineExtensionCreate,
    session: SessionDep,
    client: TemporalClientDep,
    staff: StaffDep,
) -> ApplicationDetail:
    extension = applications.deadline_extension(staff, body)
    return await applications.change(client, session, staff, application_id, "extend_deadline", extension)


@router.post(
    "/{application_id}/slots",
    response_model=ApplicationDetail,
    summary="Offer live-interview slots",
    responses=UPDATE_ERRORS,
)
async def offer_slots(
    application_id: str,
    body: SlotOfferCreate,
    session: SessionDep,
    client: TemporalClientDep,
    staff: StaffDep,
) -> ApplicationDetail:
    offer = applications.slot_offer(staff, body)
    return await applications.change(client, session, staff, application_id, "offer_slots", offer)


@router.post(
    "/{application_id}/feedback/release",
    response_model=ApplicationDetail,
    summary="Release held feedback, edited or not",
    responses=UPDATE_ERRORS,
)
async def release_feedback(
    application_id: str,
    body: FeedbackReleaseCreate,
    session: SessionDep,
    client: TemporalClientDep,
    staff: StaffDep,
) -> ApplicationDetail:
    release = applications.feedback_release(staff, body)
    return await applications.change(client, session, staff, application_id, "release_feedback", release)


@router.get(
    "/{application_id}/review",
    response_model=ReviewView,
    summary="A reviewer's view: blind and independent",
    responses=READ_ERRORS,
)
def review_view(
    application_id: str,
    reviewer_id: Annotated[str, Query(min_length=1, max_length=200)],
    session: SessionDep,
    staff: StaffDep,
) -> ReviewView:
    return reviews.review_view(session, staff, application_id, reviewer_id)


@router.post(
    "/{application_id}/stages/{stage_id}/outcome",
    response_model=ApplicationDetail,
    summary="Record the outcome of a custom stage that waits for one (a reference check, say)",
    responses=UPDATE_ERRORS,
)
async def record_stage_outcome(
    application_id: str,
    stage_id: str,
    body: StageOutcomeCreate,
    session: SessionDep,
    client: TemporalClientDep,
    staff: StaffDep,
) -> ApplicationDetail:
    return await applications.record_stage_outcome(client, session, staff, application_id, stage_id, body)


@router.get(
    "/{application_id}/messages",
    response_model=list[MessagePublic],
    summary="The candidate's questions to their contact and the answers, a page at a time",
    description="Oldest first, paginated by cursor in (`created_at`, `id`) order: follow the `Link` "
    'header\'s `rel="next"` until it is absent; `updated_after` keeps the messages sent since. A new '
    "message also moves the application's `updated_at`.",
    responses={200: {"headers": pagination.LINK_HEADER}, **READ_ERRORS},
)
def messages(
    application_id: str,
    session: SessionDep,
    staff: StaffDep,
    paging: pagination.PagingDep,
    response: Response,
) -> list[MessagePublic]:
    application = load_application(session, application_id, staff)
    rows, next_cursor = pagination.page(
        session,
        thread.thread_query(application.id),
        col(ContactMessage.created_at),
        col(ContactMessage.id),
        paging,
    )
    pagination.paginate(response, paging, next_cursor)
    return thread.present(application, rows)


@router.post(
    "/{application_id}/messages",
    response_model=MessagePublic,
    status_code=201,
    summary="Answer the candidate: emailed to them and shown on their page",
    responses=errors(400, 404, 409, 410, 413, 422, 503),
)
async def answer_candidate(
    application_id: str,
    body: MessageCreate,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
    staff: StaffDep,
) -> MessagePublic:
    application = load_application(session, application_id, staff)
    message = await thread.answer_candidate(
        client, session, settings, application, recorded_as(staff), body.body
    )
    return next(m for m in thread.messages_of(session, application) if m.id == message.id)


@router.get(
    "/{application_id}/history",
    summary="The application's full Temporal history (as `temporal workflow show -o json` writes it)",
    responses=AUDIT_ERRORS,
)
async def history(
    application_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
    staff: StaffDep,
) -> dict[str, Any]:
    return await audit.history(session, request.app.state.engine, settings, client, staff, application_id)


@router.get(
    "/{application_id}/replay",
    summary="Replay the history with the current workflow code: determinism and the outcome it reconstructs",
    responses=AUDIT_ERRORS,
)
async def replay_history(
    application_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
    staff: StaffDep,
) -> dict[str, Any]:
    exported = await audit.history(session, request.app.state.engine, settings, client, staff, application_id)
    return await audit.replay_summary(exported, application_id)


@router.get(
    "/{application_id}/timeline",
    summary="The business timeline, derived from the Temporal history alone (not the product tables)",
    responses=AUDIT_ERRORS,
)
async def audit_timeline(
    application_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
    staff: StaffDep,
) -> dict[str, Any]:
    exported = await audit.history(session, request.app.state.engine, settings, client, staff, application_id)
    return audit.timeline(session, staff, application_id, exported)
