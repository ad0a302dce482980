"""The candidate's API, authorised by the signed link token from their invite email."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from sqlmodel import Session, col, select
from starlette.datastructures import UploadFile

from activities.email import format_deadline
from api.deps import SessionDep, SettingsDep, TemporalClientDep
from api.errors import Conflict, Gone, PayloadTooLarge, Unauthorized, Unprocessable
from api.schemas import (
    AssessmentAnswerCreate,
    CandidateStatePublic,
    CandidateView,
    ExtensionRequestCreate,
    GradedQuestionPublic,
    ModulePublic,
    Progress,
    QuestionPublic,
    SlotPickCreate,
    TextAnswerCreate,
    WorkflowStatePublic,
)
from api.workflow_calls import update_application
from offhours.contracts import (
    AnswerInput,
    ApplicationState,
    AssessmentAnswerInput,
    ExtensionRequest,
    ModuleCompletion,
    SlotPick,
)
from offhours.links import BadLink, ExpiredLink, read_candidate_token
from offhours.models import Answer, Application, Candidate, CandidateFeedback, Job, ModuleProgress
from offhours.settings import Settings
from offhours.states import ApplicationStatus
from offhours.storage import FileStore, FileTooLarge
from pipelines.base import pipeline_from_snapshot
from pipelines.people import PEOPLE
from pipelines.stages import Assessment, Onboarding

log = logging.getLogger("offhours.api")
router = APIRouter(prefix="/api/v1/candidate", tags=["candidate"])

ACCEPTING = (ApplicationStatus.invited, ApplicationStatus.in_progress)


def application_for_token(session: Session, settings: Settings, token: str) -> Application:
    try:
        application_id = read_candidate_token(token, settings.secret_key)
    except BadLink:
        raise Unauthorized("this link is not valid; use the link from your most recent email") from None
    except ExpiredLink:
        raise Gone("this link has expired; contact the hiring team for a new one") from None
    application = session.get(Application, application_id)
    if application is None:  # erased or never existed: reveal nothing
        raise Unauthorized("this link is not valid; use the link from your most recent email")
    return application


def _accepting(application: Application) -> bool:
    deadline_open = application.deadline is None or datetime.now(UTC) < application.deadline
    return application.status in ACCEPTING and deadline_open


async def notify_link_opened(request: Request, application: Application) -> None:
    """Fire-and-forget signal the first time a candidate opens their link; never fails the page."""
    if application.opened_at is not None or application.status not in ACCEPTING:
        return
    try:
        client = await request.app.state.temporal.client()
        await client.get_workflow_handle(application.workflow_id).signal("link_opened")
    except Exception as error:  # the page matters more than the analytics event
        log.info("could not record that %s was opened: %s", application.id, error)


async def workflow_state(request: Request, application: Application) -> ApplicationState | None:
    """The workflow's own view (slots on offer, assessment clock); None when it cannot be asked."""
    try:
        client = await request.app.state.temporal.client()
        handle = client.get_workflow_handle(application.workflow_id)
        async with asyncio.timeout(5):
            state: ApplicationState = await handle.query("state", result_type=ApplicationState)
        return state
    except Exception as error:
        log.info("could not query %s: %s", application.id, error)
        return None


@router.get(
    "/{token}",
    response_model=CandidateView,
    summary="What the candidate sees: stages, questions and progress",
)
async def candidate_view_route(
    token: str, request: Request, session: SessionDep, settings: SettingsDep
) -> CandidateView:
    application = application_for_token(session, settings, token)
    view = candidate_view(session, application, await workflow_state(request, application))
    await notify_link_opened(request, application)
    return view


def candidate_view(
    session: Session, application: Application, state: ApplicationState | None
) -> CandidateView:
    candidate = session.get(Candidate, application.candidate_id)
    job = session.get(Job, application.job_id)
    assert candidate is not None and job is not None
    pipeline = pipeline_from_snapshot(application.pipeline_snapshot)
    answered = set(
        session.exec(select(Answer.question_id).where(Answer.application_id == application.id)).all()
    )
    questions = [
        QuestionPublic(id=q.id, prompt=q.prompt, type=q.type, required=q.required, answered=q.id in answered)
        for q in pipeline.interview_questions()
    ]
    stage = next((s for s in pipeline.stages if s.id == application.stage), None)
    stage_kind = stage.kind if stage is not None else application.stage
    assessment = None
    if isinstance(stage, Assessment) and state is not None and state.assessment_ends_at is not None:
        assessment = [
            GradedQuestionPublic(id=q.id, prompt=q.prompt, type=q.type, choices=list(q.choices))
            for q in stage.questions
        ]
    onboarding = pipeline.first(Onboarding)
    modules = None
    if onboarding is not None and application.status == ApplicationStatus.approved:
        done = set(
            session.exec(
                select(ModuleProgress.module_id).where(ModuleProgress.application_id == application.id)
            ).all()
        )
        modules = [ModulePublic(id=m.id, title=m.title, done=m.id in done) for m in onboarding.modules]
    feedback = session.exec(
        select(CandidateFeedback).where(
            CandidateFeedback.application_id == application.id, col(CandidateFeedback.released).is_(True)
        )
    ).first()
    contact = PEOPLE.get(pipeline.contact or "")
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
        accepting_answers=_accepting(application) and stage_kind in ("interview", "invite"),
        questions=questions,
        progress=Progress(
            answered=sum(q.answered for q in questions),
            total=len(questions),
            required_remaining=[q.id for q in questions if q.required and not q.answered],
        ),
        assessment=assessment,
        slots=list(state.slots) if state and not state.booked_slot else [],
        booked_slot=state.booked_slot if state else None,
        modules=modules,
        feedback=(
            {
                "text": feedback.edited_text,
                "strengths": feedback.strengths,
                "to_develop": feedback.to_develop,
                "next_steps": feedback.next_steps,
            }
            if feedback
            else None
        ),
    )


def _refuse_if_closed(application: Application) -> None:
    if application.status not in ACCEPTING:
        raise Conflict(
            f"the application is {application.status} and takes no more answers",
            status=application.status,
            stage=application.stage,
        )
    if application.deadline is not None and datetime.now(UTC) >= application.deadline:
        raise Conflict(
            f"the deadline ({application.deadline.isoformat()}) has passed",
            status=application.status,
            stage=application.stage,
        )


def _validation_error(error: ValidationError) -> Unprocessable:
    problems = [
        {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]} for e in error.errors()
    ]
    fields = ", ".join(p["field"] for p in problems)
    return Unprocessable(f"invalid answer: check {fields}", errors=problems)


async def _file_answer(request: Request, settings: Settings) -> AnswerInput:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > settings.MAX_UPLOAD_BYTES + 64 * 1024:
        raise PayloadTooLarge(f"the upload is larger than the limit of {settings.MAX_UPLOAD_BYTES} bytes")
    form = await request.form(max_files=1, max_fields=4)
    try:
        question_id = form.get("question_id")
        upload = form.get("file")
        if not isinstance(question_id, str) or not question_id:
            raise Unprocessable("form field 'question_id' is required", errors=[{"field": "question_id"}])
        if not isinstance(upload, UploadFile):
            raise Unprocessable("form field 'file' must carry a file", errors=[{"field": "file"}])
        store = FileStore(settings.DATA_DIR)
        try:
            stored = await asyncio.to_thread(store.put, upload.file, settings.MAX_UPLOAD_BYTES)
        except FileTooLarge as error:
            raise PayloadTooLarge(str(error)) from None
        return AnswerInput(
            question_id=question_id,
            kind="file",
            file_sha256=stored.sha256,
            file_name=(upload.filename or "upload")[:255],
            content_type=(upload.content_type or "application/octet-stream")[:255],
            size=stored.size,
        )
    finally:
        await form.close()


async def _text_answer(request: Request) -> AnswerInput:
    try:
        raw: Any = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise Unprocessable('the body must be JSON: {"question_id": ..., "text": ...}') from None
    try:
        body = TextAnswerCreate.model_validate(raw)
    except ValidationError as error:
        raise _validation_error(error) from None
    return AnswerInput(question_id=body.question_id, kind="text", text=body.text)


ANSWER_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": TextAnswerCreate.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["question_id", "file"],
                    "properties": {
                        "question_id": {"type": "string"},
                        "file": {"type": "string", "format": "binary"},
                    },
                }
            },
        },
    }
}


@router.post(
    "/{token}/answers",
    response_model=WorkflowStatePublic,
    summary="Save an answer: JSON for text, multipart for a file",
    openapi_extra=ANSWER_DOC,
)
async def save_answer(
    token: str, request: Request, session: SessionDep, settings: SettingsDep, client: TemporalClientDep
) -> WorkflowStatePublic:
    application = application_for_token(session, settings, token)
    _refuse_if_closed(application)
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        answer = await _file_answer(request, settings)
    elif content_type.startswith("application/json"):
        answer = await _text_answer(request)
    else:
        raise Unprocessable("send JSON for a text answer or multipart/form-data for a file")
    state = await update_application(client, session, application, "save_answer", answer)
    return WorkflowStatePublic(
        status=state.status, stage=state.stage, deadline=state.deadline, answered=state.answered
    )


@router.post("/{token}/submit", response_model=WorkflowStatePublic, summary="Submit the answers for review")
async def submit(
    token: str, session: SessionDep, settings: SettingsDep, client: TemporalClientDep
) -> WorkflowStatePublic:
    application = application_for_token(session, settings, token)
    _refuse_if_closed(application)
    state = await update_application(client, session, application, "submit")
    return WorkflowStatePublic(
        status=state.status, stage=state.stage, deadline=state.deadline, answered=state.answered
    )


def _state_public(state: ApplicationState) -> WorkflowStatePublic:
    return WorkflowStatePublic(
        status=state.status, stage=state.stage, deadline=state.deadline, answered=state.answered
    )


@router.post("/{token}/extension", response_model=CandidateStatePublic, summary="Ask for more time")
async def request_extension(
    token: str,
    body: ExtensionRequestCreate,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
) -> CandidateStatePublic:
    application = application_for_token(session, settings, token)
    state = await update_application(
        client, session, application, "request_extension", ExtensionRequest(body.hours * 3600, body.reason)
    )
    return CandidateStatePublic.of(state)


@router.post(
    "/{token}/assessment/start", response_model=CandidateStatePublic, summary="Start the timed assessment"
)
async def start_assessment(
    token: str, session: SessionDep, settings: SettingsDep, client: TemporalClientDep
) -> CandidateStatePublic:
    application = application_for_token(session, settings, token)
    return CandidateStatePublic.of(await update_application(client, session, application, "start_assessment"))


@router.post("/{token}/assessment/answers", response_model=CandidateStatePublic)
async def save_assessment_answer(
    token: str,
    body: AssessmentAnswerCreate,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
) -> CandidateStatePublic:
    application = application_for_token(session, settings, token)
    answer = AssessmentAnswerInput(body.question_id, body.value)
    return CandidateStatePublic.of(
        await update_application(client, session, application, "save_assessment_answer", answer)
    )


@router.post("/{token}/assessment/submit", response_model=CandidateStatePublic)
async def submit_assessment(
    token: str, session: SessionDep, settings: SettingsDep, client: TemporalClientDep
) -> CandidateStatePublic:
    application = application_for_token(session, settings, token)
    return CandidateStatePublic.of(
        await update_application(client, session, application, "submit_assessment")
    )


@router.post("/{token}/slot", response_model=CandidateStatePublic, summary="Book one of the offered slots")
async def pick_slot(
    token: str, body: SlotPickCreate, session: SessionDep, settings: SettingsDep, client: TemporalClientDep
) -> CandidateStatePublic:
    application = application_for_token(session, settings, token)
    return CandidateStatePublic.of(
        await update_application(client, session, application, "pick_slot", SlotPick(body.slot))
    )


@router.post("/{token}/modules/{module_id}/complete", response_model=CandidateStatePublic)
async def complete_module(
    token: str, module_id: str, session: SessionDep, settings: SettingsDep, client: TemporalClientDep
) -> CandidateStatePublic:
    application = application_for_token(session, settings, token)
    completion = ModuleCompletion(module_id)
    return CandidateStatePublic.of(
        await update_application(client, session, application, "complete_module", completion)
    )
