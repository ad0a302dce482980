from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlmodel import Session, col, select
from temporalio.service import RPCError

from api import candidate_service, idempotency
from api.candidate_service import messages_of
from api.deps import Principal, SessionDep, SettingsDep, StaffDep, TemporalClientDep
from api.errors import STAFF_ERRORS, Conflict, Forbidden, NotFound, errors
from api.personal import answer_text, privacy_timeline, retention_until
from api.routes.jobs import load_job
from api.schemas import (
    AnswerPublic,
    ApplicationCreate,
    ApplicationDetail,
    ApplicationPublic,
    AssessmentPublic,
    AssignmentPublic,
    CandidatePublic,
    DeadlineExtensionCreate,
    DecisionCreate,
    ExtensionDecisionCreate,
    FeedbackReleaseCreate,
    MessageCreate,
    MessagePublic,
    PipelineRef,
    ReviewView,
    ScorecardCreate,
    ScorecardPublic,
    SlotOfferCreate,
    StageOutcomeCreate,
    WithdrawCreate,
)
from api.workflow_calls import busy, update_application
from offhours import ids
from offhours.contracts import (
    DeadlineExtension,
    DecisionInput,
    ExtensionDecision,
    FeedbackRelease,
    ScorecardInput,
    SlotOffer,
    StageOutcome,
    WithdrawInput,
)
from offhours.models import (
    Answer,
    Application,
    AssessmentResult,
    Candidate,
    Job,
    JobMember,
    ReviewAssignment,
    Scorecard,
    invited_as,
)
from offhours.states import ApplicationStatus
from operations import audit
from operations.archive import read_archived
from operations.invitations import Row, invite
from pipelines.base import pipeline_from_snapshot
from pipelines.stages import Custom, Review

log = logging.getLogger("offhours.api")
router = APIRouter(prefix="/api/v1/applications", tags=["applications"], responses=STAFF_ERRORS)
# A change the workflow takes (or refuses: 409, 422); 410 once the application is erased.
UPDATE_ERRORS = errors(400, 404, 409, 410, 413, 422, 503)
READ_ERRORS = errors(404, 422)
AUDIT_ERRORS = errors(404, 422, 503)
MAX_OFFSET = 10_000_000  # far past any real list, and well inside every database's integers


def application_public(session: Session, application: Application) -> ApplicationPublic:
    candidate = session.get(Candidate, application.candidate_id)
    assert candidate is not None
    return ApplicationPublic(
        id=application.id,
        job_id=application.job_id,
        candidate=CandidatePublic.model_validate(invited_as(candidate, application), from_attributes=True),
        status=application.status,
        stage=application.stage,
        deadline=application.deadline,
        pipeline=PipelineRef(name=application.pipeline_name, version=application.pipeline_version),
        combined_score=application.combined_score,
        decision=application.decision,
        decision_reason=application.decision_reason,
        decision_reason_code=application.decision_reason_code,
        decided_by=application.decided_by,
        created_at=application.created_at,
        updated_at=application.updated_at,
        opened_at=application.opened_at,
        started_at=application.started_at,
        submitted_at=application.submitted_at,
        decided_at=application.decided_at,
        closed_at=application.closed_at,
        retention_until=retention_until(application),
        legal_hold=application.legal_hold_at is not None,
        erasure_requested_at=application.erasure_requested_at,
        erased_at=application.erased_at,
        erased_by=application.erased_by,
    )


def application_detail(session: Session, application: Application) -> ApplicationDetail:
    answers = session.exec(
        select(Answer).where(Answer.application_id == application.id).order_by(col(Answer.id))
    ).all()
    cards = session.exec(
        select(Scorecard).where(Scorecard.application_id == application.id).order_by(col(Scorecard.id))
    ).all()
    assessments = session.exec(
        select(AssessmentResult)
        .where(AssessmentResult.application_id == application.id)
        .order_by(col(AssessmentResult.id))
    ).all()
    assignments = session.exec(
        select(ReviewAssignment)
        .where(ReviewAssignment.application_id == application.id)
        .order_by(col(ReviewAssignment.id))
    ).all()
    return ApplicationDetail(
        **application_public(session, application).model_dump(),
        answers=[
            AnswerPublic.model_validate(a, from_attributes=True).model_copy(
                update={"text": answer_text(session, a)}
            )
            for a in answers
        ],
        scorecards=[ScorecardPublic.model_validate(c, from_attributes=True) for c in cards],
        assessments=[AssessmentPublic.model_validate(a, from_attributes=True) for a in assessments],
        review_assignments=[AssignmentPublic.model_validate(a, from_attributes=True) for a in assignments],
        pipeline_definition=application.pipeline_snapshot,
    )


def load_application(session: Session, application_id: str, staff: Principal | None = None) -> Application:
    """The application, if it exists and `staff` may see it: a recruiter only on the jobs they are on,
    a reviewer only what is assigned to them and not taken off them (others get the same 404 as for
    an unknown id; a reviewer whose review was reassigned is told so)."""
    application = session.get(Application, application_id)
    if application is None or (staff is not None and not visible(session, staff, application)):
        ended = _statuses(session, staff, application) if application and staff else []
        if "reassigned" in ended:
            raise Forbidden(
                f"your review of application '{application_id}' was reassigned to another reviewer "
                "(it was not scored in time); you no longer have access to it"
            )
        if ended:
            raise Forbidden(
                f"your review of application '{application_id}' has ended ({', '.join(ended)}); "
                "you no longer have access to it"
            )
        raise NotFound(f"no application with id '{application_id}'")
    return application


# A reviewer keeps access while the review is theirs: open, or scored (to see the others' scores).
# Taken off it ("reassigned" after the SLA), or any status added later, they lose it.
REVIEWING = ("assigned", "completed")


def visible(session: Session, staff: Principal, application: Application) -> bool:
    if staff.sees_every_job:
        return True
    if staff.role == "reviewer":
        return any(status in REVIEWING for status in _statuses(session, staff, application))
    return application.job_id in member_job_ids(session, staff)


def _statuses(session: Session, staff: Principal, application: Application) -> list[str]:
    """The statuses of a reviewer's assignments on the application (none for other roles)."""
    if staff.role != "reviewer":
        return []
    return list(
        session.exec(
            select(ReviewAssignment.status).where(
                ReviewAssignment.application_id == application.id,
                ReviewAssignment.reviewer == (staff.person_id or ""),
            )
        ).all()
    )


def hides_identity(staff: Principal, application: Application) -> bool:
    """Whether `staff` must not learn who the candidate is (name, email, time zone, own file names):
    a reviewer (the role) on a pipeline with a blind review, whatever stage they review. Other roles
    may read the whole application anyway; a reviewer on a pipeline without a blind review sees it."""
    if staff.role != "reviewer":
        return False
    pipeline = pipeline_from_snapshot(application.pipeline_snapshot)
    return any(isinstance(stage, Review) and stage.blind for stage in pipeline.stages)


HIDDEN_CANDIDATE = CandidatePublic(id="", name="", email="", timezone="")


def neutral_file_name(question_id: str, file_name: str | None) -> str:
    """The name an uploaded answer is shown and downloaded under: `answer-<question>.<ext>`, never
    the candidate's own (files uploaded before names were neutral keep only their extension)."""
    name = file_name or ""
    extension = name.rsplit(".", 1)[1] if "." in name else ""
    if not (extension.isascii() and extension.isalnum() and len(extension) <= 10):
        extension = ""
    return f"answer-{question_id}.{extension}" if extension else f"answer-{question_id}"


def blind_answers(answers: list[AnswerPublic]) -> list[AnswerPublic]:
    return [
        a.model_copy(update={"file_name": neutral_file_name(a.question_id, a.file_name)})
        if a.file_name
        else a
        for a in answers
    ]


def detail_for(session: Session, staff: Principal, application: Application) -> ApplicationDetail:
    """The application as `staff` may receive it: without the candidate's identity when blind."""
    detail = application_detail(session, application)
    if not hides_identity(staff, application):
        return detail
    return detail.model_copy(
        update={
            "candidate": HIDDEN_CANDIDATE,
            "identity_hidden": True,
            "answers": blind_answers(detail.answers),
        }
    )


def member_job_ids(session: Session, staff: Principal) -> set[str]:
    return set(session.exec(select(JobMember.job_id).where(JobMember.user_id == (staff.user_id or ""))).all())


def _duplicate(application: Application) -> Conflict:
    return Conflict(
        "this candidate already has an application for this job; nothing new was started",
        application_id=application.id,
        status=application.status,
    )


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
    job = load_job(session, body.job_id, staff)
    row = Row(0, body.candidate.name, body.candidate.email.strip().lower(), body.candidate.timezone)
    # Sent with an Idempotency-Key, the application's id derives from it: a retry of a call whose
    # answer was lost (its process, say) finds the application it made and finishes it.
    application_id = idempotency.row_id("app")
    session.commit()  # no transaction held while the invitation is recorded and started
    try:
        invitation = await invite(
            request.app.state.engine, client, settings, job, row, application_id=application_id
        )
    except Exception as error:
        log.warning("invitation to job %s not started: %s", job.id, error)
        raise busy(
            "the workflow engine did not accept the application; nothing was saved by this request"
        ) from None
    application = invitation.application
    if not invitation.started and application.id != application_id:
        raise _duplicate(application)
    idempotency.note_application(request.scope.setdefault("state", {}), application.id)
    return application_public(session, application)


@router.get("", response_model=list[ApplicationPublic], responses=errors(422))
def list_applications(
    session: SessionDep,
    staff: StaffDep,
    job_id: str | None = None,
    status: ApplicationStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[ApplicationPublic]:
    query = select(Application)
    if not staff.sees_every_job:
        query = query.where(col(Application.job_id).in_(member_job_ids(session, staff)))
    if job_id is not None:
        query = query.where(Application.job_id == job_id)
    if status is not None:
        query = query.where(Application.status == status)
    query = query.order_by(col(Application.created_at), col(Application.id)).offset(offset).limit(limit)
    return [application_public(session, a) for a in session.exec(query)]


@router.get("/{application_id}", response_model=ApplicationDetail, responses=READ_ERRORS)
def get_application(application_id: str, session: SessionDep, staff: StaffDep) -> ApplicationDetail:
    return application_detail(session, load_application(session, application_id, staff))


async def _update(
    session: Session,
    client: TemporalClientDep,
    application_id: str,
    update: str,
    arg: object,
    staff: Principal,
) -> ApplicationDetail:
    application = load_application(session, application_id, staff)
    await update_application(client, session, application, update, arg)
    session.expire_all()
    return detail_for(session, staff, load_application(session, application_id))


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
    card = ScorecardInput(
        acting_as(staff, body.reviewer_id, "score") or "",
        body.overall_recommendation.value,
        dict(body.ratings),
        body.notes,
        recorded_as(staff),
    )
    return await _update(session, client, application_id, "submit_scorecard", card, staff)


@router.post("/{application_id}/decision", response_model=ApplicationDetail, responses=UPDATE_ERRORS)
async def decide(
    application_id: str, body: DecisionCreate, session: SessionDep, client: TemporalClientDep, staff: StaffDep
) -> ApplicationDetail:
    decision = DecisionInput(
        body.decision.value,
        recorded_as(staff),
        body.reason,
        body.reason_code,
        acting_as(staff, body.approver_id, "vote"),
    )
    return await _update(session, client, application_id, "decide", decision, staff)


@router.post("/{application_id}/withdraw", response_model=ApplicationDetail, responses=UPDATE_ERRORS)
async def withdraw(
    application_id: str, body: WithdrawCreate, session: SessionDep, client: TemporalClientDep, staff: StaffDep
) -> ApplicationDetail:
    return await _update(
        session, client, application_id, "withdraw", WithdrawInput(recorded_as(staff), body.reason), staff
    )


def acting_as(staff: Principal, named: str | None, what: str) -> str | None:
    """The directory id a scorecard or an approver's vote is recorded under: only staff linked to the
    staff directory score or vote, and only as themselves. An account without a directory entry
    (ADMIN_TOKEN included) may take a decision that needs no approver's vote, and nothing more."""
    if staff.person_id is None:
        if what == "vote" and not named:
            return None  # a plain decision: the workflow asks for an approver where one is needed
        raise Forbidden(
            f"your account is not linked to the staff directory, so it cannot {what}"
            + (f" (as '{named}')" if named else "")
            + "; ops link an account with `offhours users create --person-id <id>`"
        )
    if named and named != staff.person_id:
        raise Forbidden(f"you can only {what} as yourself ('{staff.person_id}'), not as '{named}'")
    return staff.person_id


def recorded_as(principal: Principal) -> str:
    """How a member of staff is named in workflow histories: role and user id, never an email."""
    return f"{principal.role}:{principal.name}"


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
    return await _update(
        session,
        client,
        application_id,
        "decide_extension",
        ExtensionDecision(body.grant, recorded_as(staff)),
        staff,
    )


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
    return await _update(
        session,
        client,
        application_id,
        "extend_deadline",
        DeadlineExtension(body.hours * 3600, recorded_as(staff)),
        staff,
    )


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
    return await _update(
        session, client, application_id, "offer_slots", SlotOffer(list(body.slots), recorded_as(staff)), staff
    )


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
    return await _update(
        session,
        client,
        application_id,
        "release_feedback",
        FeedbackRelease(recorded_as(staff), body.text),
        staff,
    )


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
    if staff.role == "reviewer" and reviewer_id != staff.person_id:
        raise Forbidden("a reviewer sees only their own reviews")
    application = load_application(session, application_id, staff)
    pipeline = pipeline_from_snapshot(application.pipeline_snapshot)
    assignments = session.exec(
        select(ReviewAssignment)
        .where(ReviewAssignment.application_id == application.id, ReviewAssignment.reviewer == reviewer_id)
        .order_by(col(ReviewAssignment.id))
    ).all()
    # The review that is theirs now (a reviewer reaches this only with one); ops may look at any.
    assignment = next((a for a in assignments if a.status in REVIEWING), None) or next(
        iter(assignments), None
    )
    if assignment is None:
        raise NotFound(f"reviewer '{reviewer_id}' has no review of application '{application_id}'")
    review = next((s for s in pipeline.stages if isinstance(s, Review) and s.id == assignment.stage_id), None)
    assert review is not None
    detail = application_detail(session, application)
    blind = review.blind or hides_identity(staff, application)
    own = next((c for c in detail.scorecards if c.reviewer == reviewer_id), None)
    others = [c for c in detail.scorecards if c.reviewer != reviewer_id]
    job = session.get(Job, application.job_id)
    return ReviewView(
        application_id=application.id,
        job_title=job.title if job else "",
        reviewer_id=reviewer_id,
        blind=blind,
        candidate_name=None if blind else detail.candidate.name,
        answers=blind_answers(detail.answers) if blind else detail.answers,
        assessments=detail.assessments,
        criteria=[
            {"id": c.id, "title": c.title, "weight": c.weight, "anchors": list(c.anchors)}
            for c in review.criteria
        ],
        own_scorecard=own,
        other_scorecards=others if own is not None or not review.independent else None,
        combined_score=application.combined_score if own is not None or not review.independent else None,
    )


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
    application = load_application(session, application_id, staff)
    pipeline = pipeline_from_snapshot(application.pipeline_snapshot)
    stage = next((s for s in pipeline.stages if s.id == stage_id), None)
    if not isinstance(stage, Custom) or not stage.workflow:
        raise NotFound(
            f"application '{application_id}' has no custom stage '{stage_id}' that takes an outcome"
        )
    await update_application(
        client,
        session,
        application,
        "record_outcome",
        StageOutcome(body.outcome, recorded_as(staff), body.note),
        workflow_id=f"custom-{application.id}-{stage_id}",
        result_type=str,
        closed_message=f"the {stage_id} stage is not waiting for an outcome",
    )
    # The application moves on (to its next stage, or to rejected); answer once it has.
    for _ in range(100):
        session.expire_all()
        if load_application(session, application_id).stage != stage_id:
            break
        await asyncio.sleep(0.05)
    return application_detail(session, load_application(session, application_id))


@router.get(
    "/{application_id}/messages",
    response_model=list[MessagePublic],
    summary="The candidate's questions to their contact and the answers",
    responses=READ_ERRORS,
)
def messages(application_id: str, session: SessionDep, staff: StaffDep) -> list[MessagePublic]:
    return messages_of(session, load_application(session, application_id, staff))


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
    message = await candidate_service.answer_candidate(
        client, session, settings, application, recorded_as(staff), body.body
    )
    return next(m for m in messages_of(session, application) if m.id == message.id)


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
    application = load_application(session, application_id, staff)
    session.commit()
    try:
        return await audit.export(client, application.workflow_id)
    except RPCError as error:
        # Gone from Temporal (retention): the product's archive still has it, checked against its digest.
        archived = read_archived(
            request.app.state.engine, settings.DATA_DIR, application.workflow_id, settings
        )
        if archived is not None:
            return archived
        raise NotFound(
            f"the history of '{application_id}' is neither in Temporal nor archived: {error.message}"
        ) from None


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
    exported = await history(application_id, request, session, settings, client, staff)
    report = await audit.replay(exported, ids.application_workflow(application_id))
    return {**dataclasses.asdict(report), "outcomes_match": report.outcomes_match}


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
    exported = await history(application_id, request, session, settings, client, staff)
    application = load_application(session, application_id, staff)
    events = audit.timeline(exported) + privacy_timeline(session, application)
    return {"application_id": application_id, "events": events}
