"""The candidate's API, authorised by the signed link token from their invite email.

The portal's pages (api/pages/portal.py, questions.py) do the same through api/services/candidate; this is the same
contract for other clients (a mobile app, an integration, the tests that bypass the browser).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from api.deps import CandidateDep, SessionDep, SettingsDep, TemporalClientDep
from api.errors import LINK_ERRORS, Unprocessable, errors
from api.schemas import (
    AssessmentAnswerCreate,
    CandidateStatePublic,
    CandidateView,
    ConsentCreate,
    DeletionRequestCreate,
    ExtensionRequestCreate,
    MessageCreate,
    MessagePublic,
    SelfIdentificationCreate,
    SelfIdentificationPublic,
    SlotPickCreate,
    TakePublic,
    TextAnswerCreate,
    WorkflowStatePublic,
)
from api.services import messages as thread
from api.services.candidate import actions, self_identification
from api.services.candidate.view import candidate_view, notify_link_opened, workflow_state
from api.uploads import check_declared_length, chunks_of, refuse_over_upload_quota
from offhours.contracts import ApplicationState
from offhours.models import Application
from offhours.settings import Settings

router = APIRouter(prefix="/api/v1/candidate", tags=["candidate"], responses=LINK_ERRORS)
# A call the workflow takes or refuses (409, 422), without a body and with one.
WORKFLOW_ERRORS = errors(409, 422, 503)
BODY_ERRORS = errors(400, 409, 413, 422, 503)


@router.get(
    "/{token}",
    response_model=CandidateView,
    summary="What the candidate sees: process, questions, progress, messages",
    responses=errors(422),
)
async def candidate_view_route(
    request: Request, application: CandidateDep, session: SessionDep, settings: SettingsDep
) -> CandidateView:
    view = candidate_view(session, application, await workflow_state(request, application), settings)
    await notify_link_opened(request, application)
    return view


@router.post(
    "/{token}/consent",
    response_model=CandidateStatePublic,
    summary="Agree to be recorded",
    responses=BODY_ERRORS,
)
async def consent(
    body: ConsentCreate,
    application: CandidateDep,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
) -> CandidateStatePublic:
    return CandidateStatePublic.of(
        await actions.give_consent(client, session, settings, application, body.version)
    )


@router.post(
    "/{token}/questions/{question_id}/open",
    response_model=TakePublic,
    summary="See a question: returns its prompt and starts its clock when it is timed",
    responses=WORKFLOW_ERRORS,
)
async def open_question(
    question_id: str,
    application: CandidateDep,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
) -> TakePublic:
    return await actions.open_question(client, session, settings, application, question_id)


def _validation_error(error: ValidationError) -> Unprocessable:
    problems = [
        {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]} for e in error.errors()
    ]
    fields = ", ".join(p["field"] for p in problems)
    return Unprocessable(f"invalid answer: check {fields}", errors=problems)


async def _file_answer(
    request: Request, application: Application, session: SessionDep, settings: Settings, client: Any
) -> ApplicationState:
    received_at = datetime.now(UTC)
    check_declared_length(request, settings)
    refuse_over_upload_quota(settings, application.id)  # before a byte of the body is taken
    form = await request.form(max_files=1, max_fields=4)
    try:
        question_id = form.get("question_id")
        upload = form.get("file")
        if not isinstance(question_id, str) or not question_id:
            raise Unprocessable("form field 'question_id' is required", errors=[{"field": "question_id"}])
        if not isinstance(upload, UploadFile):
            raise Unprocessable("form field 'file' must carry a file", errors=[{"field": "file"}])
        question = actions.interview_question(application, question_id)
        actions.refuse_if_closed(application)
        return await actions.save_file_answer(
            client,
            session,
            settings,
            application,
            question,
            chunks_of(upload),
            received_at,
        )
    finally:
        await form.close()


ANSWER_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": TextAnswerCreate.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["question_id", "file"],
                    "additionalProperties": False,
                    "properties": {
                        "question_id": {"type": "string"},
                        "file": {"type": "string", "format": "binary"},
                    },
                }
            },
        },
    }
}


def _state_public(state: ApplicationState) -> WorkflowStatePublic:
    return WorkflowStatePublic(
        status=state.status, stage=state.stage, deadline=state.deadline, answered=state.answered
    )


@router.post(
    "/{token}/answers",
    response_model=WorkflowStatePublic,
    summary="Save an answer: JSON for text or choice, multipart for a file or a recording",
    responses=errors(400, 409, 411, 413, 422, 503),
    openapi_extra=ANSWER_DOC,
)
async def save_answer(
    request: Request,
    application: CandidateDep,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
) -> WorkflowStatePublic:
    actions.refuse_if_closed(application)
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        return _state_public(await _file_answer(request, application, session, settings, client))
    if not content_type.startswith("application/json"):
        raise Unprocessable("send JSON for a text answer or multipart/form-data for a file")
    try:
        raw: Any = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise Unprocessable('the body must be JSON: {"question_id": ..., "text": ...}') from None
    try:
        body = TextAnswerCreate.model_validate(raw)
    except ValidationError as error:
        raise _validation_error(error) from None
    return _state_public(
        await actions.save_text_answer(client, session, application, body.question_id, body.text)
    )


@router.post(
    "/{token}/submit",
    response_model=WorkflowStatePublic,
    summary="Submit the answers for review",
    responses=WORKFLOW_ERRORS,
)
async def submit(
    application: CandidateDep, session: SessionDep, client: TemporalClientDep
) -> WorkflowStatePublic:
    return _state_public(await actions.submit(client, session, application))


@router.get(
    "/{token}/messages",
    response_model=list[MessagePublic],
    summary="The thread with the contact person",
    responses=errors(422),
)
def messages(application: CandidateDep, session: SessionDep) -> list[MessagePublic]:
    return thread.messages_of(session, application)


@router.post(
    "/{token}/messages",
    response_model=MessagePublic,
    status_code=201,
    summary="Ask the contact person",
    responses=BODY_ERRORS,
)
async def ask(
    body: MessageCreate,
    application: CandidateDep,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
) -> MessagePublic:
    message = await thread.ask_contact(client, session, settings, application, body.body)
    return MessagePublic(
        id=message.id, from_candidate=True, author="You", body=message.body, created_at=message.created_at
    )


@router.post(
    "/{token}/deletion-request",
    status_code=202,
    summary="Ask for my data to be deleted (recorded, confirmed)",
    responses=BODY_ERRORS,
)
async def deletion_request(
    body: DeletionRequestCreate,
    application: CandidateDep,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
) -> dict[str, Any]:
    request = await actions.request_deletion(client, session, settings, application, body.reason)
    return {"requested_at": request.requested_at, "detail": "recorded; you will get a confirmation by email"}


@router.post(
    "/{token}/extension",
    response_model=CandidateStatePublic,
    summary="Ask for more time",
    responses=BODY_ERRORS,
)
async def request_extension(
    body: ExtensionRequestCreate,
    application: CandidateDep,
    session: SessionDep,
    client: TemporalClientDep,
) -> CandidateStatePublic:
    return CandidateStatePublic.of(await actions.request_extension(client, session, application, body))


@router.post(
    "/{token}/assessment/start",
    response_model=CandidateStatePublic,
    summary="Start the timed assessment",
    responses=WORKFLOW_ERRORS,
)
async def start_assessment(
    application: CandidateDep, session: SessionDep, client: TemporalClientDep
) -> CandidateStatePublic:
    return CandidateStatePublic.of(await actions.start_assessment(client, session, application))


@router.post("/{token}/assessment/answers", response_model=CandidateStatePublic, responses=BODY_ERRORS)
async def save_assessment_answer(
    body: AssessmentAnswerCreate,
    application: CandidateDep,
    session: SessionDep,
    client: TemporalClientDep,
) -> CandidateStatePublic:
    return CandidateStatePublic.of(
        await actions.save_assessment_answer(client, session, application, body.question_id, body.value)
    )


@router.post("/{token}/assessment/submit", response_model=CandidateStatePublic, responses=WORKFLOW_ERRORS)
async def submit_assessment(
    application: CandidateDep, session: SessionDep, client: TemporalClientDep
) -> CandidateStatePublic:
    return CandidateStatePublic.of(await actions.submit_assessment(client, session, application))


@router.post(
    "/{token}/slot",
    response_model=CandidateStatePublic,
    summary="Book one of the offered slots",
    responses=BODY_ERRORS,
)
async def pick_slot(
    body: SlotPickCreate, application: CandidateDep, session: SessionDep, client: TemporalClientDep
) -> CandidateStatePublic:
    return CandidateStatePublic.of(await actions.pick_slot(client, session, application, body.slot))


@router.post(
    "/{token}/modules/{module_id}/complete", response_model=CandidateStatePublic, responses=WORKFLOW_ERRORS
)
async def complete_module(
    module_id: str, application: CandidateDep, session: SessionDep, client: TemporalClientDep
) -> CandidateStatePublic:
    return CandidateStatePublic.of(await actions.complete_module(client, session, application, module_id))


@router.post(
    "/{token}/self-identification",
    response_model=SelfIdentificationPublic,
    summary="Voluntary self-identification (after submission; only ever counted in aggregates)",
    responses=errors(400, 409, 413, 422),
)
def self_identify(
    body: SelfIdentificationCreate, application: CandidateDep, session: SessionDep
) -> SelfIdentificationPublic:
    row = self_identification.record(session, application, body.sex, body.race_ethnicity)
    return SelfIdentificationPublic.model_validate(row, from_attributes=True)
