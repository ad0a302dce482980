"""Applications as staff receive them and the changes staff make to them, for the JSON API and the
staff pages alike: each change is a workflow update, its argument built from the same `*Create`
schema whichever way it came in."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import update as sa_update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError

from api import idempotency
from api.deps import Principal
from api.errors import Conflict, NotFound, ServiceUnavailable
from api.pagination import Paging, page
from api.personal import answer_text, retention_until
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
    PipelineRef,
    ScorecardCreate,
    ScorecardPublic,
    SlotOfferCreate,
    StageOutcomeCreate,
    StageRef,
    WithdrawCreate,
)
from api.services.access import (
    acting_as,
    hides_identity,
    load_application,
    load_job,
    member_job_ids,
    recorded_as,
)
from api.services.files import neutral_file_name
from api.workflow_calls import busy, update_application
from offhours import ids
from offhours.contracts import (
    DeadlineExtension,
    DecisionInput,
    EmailRequest,
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
    ReviewAssignment,
    Scorecard,
    invited_as,
    new_id,
)
from offhours.settings import Settings
from offhours.states import ApplicationStatus
from operations.invitations import Row, invite
from pipelines.base import pipeline_from_snapshot
from pipelines.stages import Custom

log = logging.getLogger("offhours.api")
HIDDEN_CANDIDATE = CandidatePublic(id="", name="", email="", timezone="")


def stage_name(snapshot: dict[str, Any], stage_id: str) -> str:
    """The name of a stage of the pipeline `snapshot`: its title where it has one, else its kind
    ("Review"), else its id ("Closed")."""
    for stage in snapshot.get("stages", ()):
        if stage.get("id") == stage_id:
            if stage.get("title"):
                return str(stage["title"])
            return str(stage.get("kind") or stage_id).capitalize()
    return stage_id.replace("_", " ").capitalize()


def application_public(session: Session, application: Application) -> ApplicationPublic:
    candidate = session.get(Candidate, application.candidate_id)
    assert candidate is not None
    return ApplicationPublic(
        id=application.id,
        job_id=application.job_id,
        candidate=CandidatePublic.model_validate(invited_as(candidate, application), from_attributes=True),
        candidate_id=application.candidate_id,
        status=application.status,
        stage=application.stage,
        current_stage=StageRef(
            id=application.stage, name=stage_name(application.pipeline_snapshot, application.stage)
        ),
        deadline=application.deadline,
        pipeline=PipelineRef(name=application.pipeline_name, version=application.pipeline_version),
        combined_score=application.combined_score,
        decision=application.decision,
        decision_reason=application.decision_reason,
        decision_reason_code=application.decision_reason_code,
        decided_by=application.decided_by,
        created_at=application.created_at,
        updated_at=application.updated_at,
        applied_at=application.created_at,
        last_activity_at=application.updated_at,
        rejected_at=application.closed_at if application.status == ApplicationStatus.rejected else None,
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
            "candidate_id": "",
            "identity_hidden": True,
            "answers": blind_answers(detail.answers),
        }
    )


def list_applications(
    session: Session,
    staff: Principal,
    job_id: str | None,
    status: ApplicationStatus | None,
    paging: Paging,
    offset: int = 0,
) -> tuple[list[ApplicationPublic], str | None]:
    """A page of the applications `staff` may see (recruiters: their jobs'), in (updated_at, id)
    order, and the next page's cursor. `offset` skips rows of the first page (the old paging)."""
    query = select(Application)
    if not staff.sees_every_job:
        query = query.where(col(Application.job_id).in_(member_job_ids(session, staff)))
    if job_id is not None:
        query = query.where(Application.job_id == job_id)
    if status is not None:
        query = query.where(Application.status == status)
    if offset:
        query = query.offset(offset)
    rows, next_cursor = page(session, query, col(Application.updated_at), col(Application.id), paging)
    return [application_public(session, a) for a in rows], next_cursor


async def invite_candidate(
    session: Session,
    engine: Engine,
    client: Client,
    settings: Settings,
    staff: Principal,
    body: ApplicationCreate,
) -> Application:
    """Invite a candidate to a job, through the one invite path (operations.invitations.invite)."""
    job = load_job(session, body.job_id, staff)
    row = Row(0, body.candidate.name, body.candidate.email.strip().lower(), body.candidate.timezone)
    # Sent with an Idempotency-Key, the application's id derives from it: a retry of a call whose
    # answer was lost (its process, say) finds the application it made and finishes it.
    application_id = idempotency.row_id("app")
    session.commit()  # no transaction held while the invitation is recorded and started
    try:
        invitation = await invite(engine, client, settings, job, row, application_id=application_id)
    except Exception as error:  # noqa: BLE001 (any refusal by the engine is a 503; nothing is kept)
        log.warning("invitation to job %s not started: %s", job.id, error)
        raise busy(
            "the workflow engine did not accept the application; nothing was saved by this request"
        ) from None
    application = invitation.application
    if not invitation.started and application.id != application_id:
        raise Conflict(
            "this candidate already has an application for this job; nothing new was started",
            application_id=application.id,
            status=application.status,
        )
    return application


# ------------------------------------------------------------------ changes, as workflow updates


async def change(
    client: Client, session: Session, staff: Principal, application_id: str, update: str, arg: object
) -> ApplicationDetail:
    """Send `update` to the application's workflow; the application as `staff` may see it after."""
    application = load_application(session, application_id, staff)
    await update_application(client, session, application, update, arg)
    session.expire_all()
    return detail_for(session, staff, load_application(session, application_id))


def scorecard_input(staff: Principal, body: ScorecardCreate) -> ScorecardInput:
    return ScorecardInput(
        acting_as(staff, body.reviewer_id, "score") or "",
        body.overall_recommendation.value,
        dict(body.ratings),
        body.notes,
        recorded_as(staff),
    )


def decision_input(staff: Principal, body: DecisionCreate) -> DecisionInput:
    return DecisionInput(
        body.decision.value,
        recorded_as(staff),
        body.reason,
        body.reason_code,
        acting_as(staff, body.approver_id, "vote"),
    )


def withdrawal(staff: Principal, body: WithdrawCreate) -> WithdrawInput:
    return WithdrawInput(recorded_as(staff), body.reason)


def extension_decision(staff: Principal, body: ExtensionDecisionCreate) -> ExtensionDecision:
    return ExtensionDecision(body.grant, recorded_as(staff))


def deadline_extension(staff: Principal, body: DeadlineExtensionCreate) -> DeadlineExtension:
    return DeadlineExtension(body.hours * 3600, recorded_as(staff))


def slot_offer(staff: Principal, body: SlotOfferCreate) -> SlotOffer:
    return SlotOffer(list(body.slots), recorded_as(staff))


def feedback_release(staff: Principal, body: FeedbackReleaseCreate) -> FeedbackRelease:
    return FeedbackRelease(recorded_as(staff), body.text)


async def record_stage_outcome(
    client: Client,
    session: Session,
    staff: Principal,
    application_id: str,
    stage_id: str,
    body: StageOutcomeCreate,
) -> ApplicationDetail:
    """The outcome of a custom stage that waits for one (a reference check, say), sent to the
    stage's own workflow; answered once the application has moved on."""
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
        workflow_id=ids.custom_stage_workflow(application.id, stage_id),
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


async def resend_invitation(
    client: Client, session: Session, settings: Settings, application: Application
) -> None:
    """The invitation again (its link, its deadline), as a Notice: exactly once per form sent. The
    new link replaces every earlier one (a forwarded or leaked link stops working)."""
    if application.status not in (ApplicationStatus.invited, ApplicationStatus.in_progress):
        raise Conflict("Only an open application's invitation can be sent again.")
    key = idempotency.row_id("resend") or new_id("resend")  # a form sent twice: one email
    # Moved on in SQL, so that two resends at once both count; moved back if the email cannot be sent.
    moved = sa_update(Application).where(col(Application.id) == application.id)
    session.execute(moved.values(link_generation=col(Application.link_generation) + 1))
    session.commit()
    session.refresh(application)
    email = EmailRequest(application.id, f"invite-{key}", "invite")
    try:
        await client.start_workflow(
            "Notice", [email], id=ids.notice_workflow(key), task_queue=settings.TASK_QUEUE
        )
    except Exception as error:  # noqa: BLE001 (the row is taken back whatever stopped the start)
        already = isinstance(error, WorkflowAlreadyStartedError)  # sent by this form's first post
        back = sa_update(Application).where(
            col(Application.id) == application.id,
            col(Application.link_generation) == application.link_generation,
        )
        session.execute(back.values(link_generation=application.link_generation - 1))
        session.commit()
        if not already:
            raise ServiceUnavailable(f"the invitation could not be sent again just now ({error})") from None
