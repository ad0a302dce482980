"""What a candidate sees on their link, for the portal's pages and the candidate API alike: the
process and where they are in it, their questions (prompts hidden until a timed one is opened), the
workflow's own clocks, messages, feedback and what is kept about them."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import Request
from sqlmodel import Session, col, select
from temporalio.client import WorkflowHandle

from activities.email_text import format_deadline
from api.personal import answer_text
from api.schemas import (
    CandidateView,
    GradedQuestionPublic,
    ModulePublic,
    ProcessStep,
    Progress,
    QuestionPublic,
    TakePublic,
)
from api.services.messages import messages_of
from api.uploads import upload_limit
from offhours.contracts import ApplicationState, PortalState, QuestionTake
from offhours.durations import in_words
from offhours.media import ACCEPTED
from offhours.models import (
    Answer,
    Application,
    Candidate,
    CandidateFeedback,
    DeletionRequest,
    Job,
    ModuleProgress,
    invited_as,
)
from offhours.settings import Settings
from offhours.states import ApplicationStatus
from pipelines.base import Pipeline, pipeline_from_snapshot
from pipelines.consent import consent_text
from pipelines.people import PEOPLE
from pipelines.stages import RECORDED, Assessment, Interview, Onboarding, Question, Review, Scheduling
from pipelines.stages import Decision as DecisionStage

log = logging.getLogger("offhours.api")
ACCEPTING = (ApplicationStatus.invited, ApplicationStatus.in_progress)
# The page on the candidate's link where each kind of stage is done, linked while it is the current one.
STAGE_PAGES = {
    "interview": "/questions",
    "assessment": "/assessment",
    "scheduling": "/slots",
    "onboarding": "/onboarding",
    "feedback": "/feedback",
}
AFTER_OUTCOME = ("feedback", "onboarding")  # stages that run once the decision is made


def accepting(application: Application) -> bool:
    deadline_open = application.deadline is None or datetime.now(UTC) < application.deadline
    return application.status in ACCEPTING and deadline_open


def pipeline_of(application: Application) -> Pipeline:
    return pipeline_from_snapshot(application.pipeline_snapshot)


async def notify_link_opened(request: Request, application: Application) -> None:
    """Fire-and-forget signal the first time a candidate opens their link; never fails the page."""
    if application.opened_at is not None or application.status not in ACCEPTING:
        return
    try:
        client = await request.app.state.temporal.client()
        await client.get_workflow_handle(application.workflow_id).signal("link_opened")
    except Exception as error:  # noqa: BLE001 (the page matters more than the analytics event)
        log.info("could not record that %s was opened: %s", application.id, error)


@dataclass
class WorkflowView:
    """The workflow's own view: its state (slots, assessment clock) and the portal's (consent, takes)."""

    state: ApplicationState
    portal: PortalState


async def workflow_state(request: Request, application: Application) -> WorkflowView | None:
    """Asked of the application's workflow; None when it cannot be asked (Temporal down, say)."""
    try:
        client = await request.app.state.temporal.client()
        handle: WorkflowHandle[object, object] = client.get_workflow_handle(application.workflow_id)
        async with asyncio.timeout(5):
            state: ApplicationState = await handle.query("state", result_type=ApplicationState)
            portal: PortalState = await handle.query("portal", result_type=PortalState)
        return WorkflowView(state, portal)
    except Exception as error:  # noqa: BLE001 (the page is shown from the database when the workflow cannot be asked)
        log.info("could not query %s: %s", application.id, error)
        return None


# ------------------------------------------------------------------------------------- the view


def take_public(question: Question, take: QuestionTake) -> TakePublic:
    return TakePublic(
        question_id=question.id,
        prompt=question.prompt,
        take=take.take,
        takes_allowed=take.takes_allowed,
        opened_at=take.opened_at,
        think_ends_at=take.think_ends_at,
        answer_ends_at=take.answer_ends_at,
        server_now=datetime.now(UTC),
    )


def promised_response(pipeline: Pipeline) -> int | None:
    """How long the company promises to take once the candidate has done their part."""
    if pipeline.check_in is not None:
        return pipeline.check_in.promised_response
    review, decision = pipeline.first(Review), pipeline.first(DecisionStage)
    total = (review.sla if review else 0) + ((decision.sla or 0) if decision else 0)
    return total or None


def process_steps(
    pipeline: Pipeline, application: Application, zone: str, ended_at: str | None = None
) -> list[ProcessStep]:
    """Each stage done, current or upcoming; with `ended_at` (the stage that closed the application
    early), the stages after it were never reached."""
    deadline = format_deadline(application.deadline, zone)
    ids = [s.id for s in pipeline.stages]
    current = ids.index(application.stage) if application.stage in ids else len(ids)
    after_outcome = pipeline.stages[current].kind in AFTER_OUTCOME if current < len(ids) else False
    if ApplicationStatus(application.status).is_final and not after_outcome:
        current = len(ids)
    promised = promised_response(pipeline)
    steps = []
    for index, stage in enumerate(pipeline.stages):
        if isinstance(stage, Interview):
            title, detail = "Answer the questions", f"{len(stage.questions)} questions, by {deadline}"
        elif isinstance(stage, Assessment):
            title = "Short assessment"
            detail = (
                f"{len(stage.questions)} questions, {in_words(stage.time_limit)} once started, by {deadline}"
            )
        elif isinstance(stage, Review):
            title = "Review by the team"
            detail = f"{stage.reviewers} reviewer(s) score your answers against the same criteria"
            if promised:
                detail += f"; you hear from us within {in_words(promised)}"
        elif isinstance(stage, DecisionStage):
            title, detail = "Decision", "You receive the decision by email, with its reason"
        elif isinstance(stage, Scheduling):
            title = stage.title
            detail = f"{stage.duration_minutes} minutes; you pick a time within {in_words(stage.pick_within)}"
        elif isinstance(stage, Onboarding):
            title, detail = "Onboarding", f"{len(stage.modules)} modules if you join"
        elif stage.kind == "feedback":
            title, detail = "Written feedback", "What stood out in your answers and what to develop"
        elif stage.kind == "invite":
            title, detail = "Invitation", f"Open until {deadline}"
        else:
            title, detail = stage.id.replace("_", " ").replace("-", " ").capitalize(), "Handled by the team"
        state = "done" if index < current else "current" if index == current else "upcoming"
        if ended_at in ids and index > ids.index(ended_at):
            state = "skipped"
        page = STAGE_PAGES.get(stage.kind) if state == "current" else None
        steps.append(
            ProcessStep(id=stage.id, kind=stage.kind, title=title, detail=detail, state=state, page=page)
        )
    return steps


def _questions(
    session: Session, application: Application, portal: PortalState | None, settings: Settings
) -> list[QuestionPublic]:
    """The interview's questions as the candidate may see them: a timed prompt only once opened, a
    written answer back (not on a withdrawn application's link), the takes the workflow counted."""
    withdrawn = application.status == ApplicationStatus.withdrawn
    answers = {
        a.question_id: a
        for a in session.exec(select(Answer).where(Answer.application_id == application.id)).all()
    }
    questions = []
    for number, q in enumerate(pipeline_of(application).interview_questions(), start=1):
        used = portal.takes.get(q.id, 0) if portal else 0
        open_take = portal.open_takes.get(q.id) if portal else None
        seen = used > 0 or q.id in answers
        answer = answers.get(q.id)
        questions.append(
            QuestionPublic(
                id=q.id,
                number=number,
                prompt=q.prompt if (seen or not q.timed) else None,
                type=q.type,
                required=q.required,
                answered=q.id in answers,
                choices=list(q.choices),
                think_time=q.think_time,
                answer_time_limit=q.answer_time_limit,
                takes_allowed=q.takes_allowed,
                takes_used=used,
                open_take=take_public(q, open_take) if open_take else None,
                max_bytes=upload_limit(settings, q) if q.type in ("file", *RECORDED) else None,
                accepts=list(ACCEPTED.get(q.type, ())),
                answer_text=answer_text(session, answer)
                if answer is not None and q.type in ("text", "choice") and not withdrawn
                else None,
            )
        )
    return questions


def _assessment(stage: object, state: ApplicationState | None) -> list[GradedQuestionPublic] | None:
    """The assessment's questions, once it has been started (its clock runs in the workflow)."""
    if not (isinstance(stage, Assessment) and state is not None and state.assessment_ends_at is not None):
        return None
    return [
        GradedQuestionPublic(id=q.id, prompt=q.prompt, type=q.type, choices=list(q.choices))
        for q in stage.questions
    ]


def _closed_by_assessment(
    pipeline: Pipeline, application: Application, state: ApplicationState | None
) -> str | None:
    """The assessment that closed the application (its pass mark missed, and a fail rejects)."""
    if state is None or state.assessment_passed is not False:
        return None
    if application.status != ApplicationStatus.rejected:
        return None
    return next((s.id for s in pipeline.stages if isinstance(s, Assessment) and s.on_fail == "reject"), None)


def _modules(session: Session, application: Application, pipeline: Pipeline) -> list[ModulePublic] | None:
    """Onboarding's modules, once the application is approved, each done or not."""
    onboarding = pipeline.first(Onboarding)
    if onboarding is None or application.status != ApplicationStatus.approved:
        return None
    done = set(
        session.exec(
            select(ModuleProgress.module_id).where(ModuleProgress.application_id == application.id)
        ).all()
    )
    return [ModulePublic(id=m.id, title=m.title, done=m.id in done) for m in onboarding.modules]


def _feedback(session: Session, application: Application) -> dict[str, object] | None:
    """The written feedback, once released."""
    feedback = session.exec(
        select(CandidateFeedback).where(
            CandidateFeedback.application_id == application.id, col(CandidateFeedback.released).is_(True)
        )
    ).first()
    if feedback is None:
        return None
    return {
        "text": feedback.edited_text,
        "strengths": feedback.strengths,
        "to_develop": feedback.to_develop,
        "next_steps": feedback.next_steps,
    }


def candidate_view(
    session: Session, application: Application, view: WorkflowView | None, settings: Settings
) -> CandidateView:
    state = view.state if view else None
    candidate = session.get(Candidate, application.candidate_id)
    job = session.get(Job, application.job_id)
    assert candidate is not None
    assert job is not None
    candidate = invited_as(candidate, application)
    # A withdrawn application's link shows its status and the candidate's data rights, not its content.
    withdrawn = application.status == ApplicationStatus.withdrawn
    pipeline = pipeline_of(application)
    questions = _questions(session, application, view.portal if view else None, settings)
    stage = next((s for s in pipeline.stages if s.id == application.stage), None)
    stage_kind = stage.kind if stage is not None else application.stage
    contact = PEOPLE.get(pipeline.contact or "")
    deletion = session.exec(
        select(DeletionRequest).where(DeletionRequest.application_id == application.id)
    ).first()
    promised = promised_response(pipeline)
    pending = state.pending_extension_seconds if state else None
    ended = _closed_by_assessment(pipeline, application, state)
    return CandidateView(
        job_title=job.title,
        candidate_name=candidate.name,
        status=application.status,
        stage=application.stage,
        stage_kind=stage_kind,
        stages=[s.kind for s in pipeline.stages],
        contact_name=contact.name if contact else None,
        faq=[{"question": f.question, "answer": f.answer} for f in pipeline.faq],
        deadline=application.deadline,
        deadline_local=format_deadline(application.deadline, candidate.timezone),
        timezone=candidate.timezone,
        accepting_answers=accepting(application) and stage_kind in ("interview", "invite"),
        questions=questions,
        progress=Progress(
            answered=sum(q.answered for q in questions),
            total=len(questions),
            required_remaining=[q.id for q in questions if q.required and not q.answered],
        ),
        process=process_steps(pipeline, application, candidate.timezone, ended),
        promised_response=in_words(promised) if promised else None,
        consent_required=any(q.type in RECORDED for q in pipeline.interview_questions()),
        consent_at=application.consent_at,
        consent_version=consent_text(pipeline, job.title, settings.RETENTION_DAYS).version,
        pending_extension_hours=pending / 3600 if pending else None,
        assessment=_assessment(stage, state),
        closed_by_assessment=ended is not None,
        slots=list(state.slots) if state and not state.booked_slot else [],
        booked_slot=state.booked_slot if state else None,
        modules=_modules(session, application, pipeline),
        feedback=_feedback(session, application),
        messages=[] if withdrawn else messages_of(session, application),
        deletion_requested_at=deletion.requested_at if deletion else None,
    )
