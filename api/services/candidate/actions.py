"""What a candidate does with their link, for the portal's pages and the candidate API alike. Every
action goes through the application's workflow (consent, opening a question, answers, submission,
extension) or, for what outlives it (deletion requests), through the database plus a Notice
workflow that emails exactly once (questions to the contact: api/services/messages.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities.privacy import signal_privacy
from api import idempotency
from api.errors import Conflict, Gone, ServiceUnavailable, Unprocessable
from api.schemas import ExtensionRequestCreate, TakePublic
from api.services.candidate.view import ACCEPTING, pipeline_of, take_public
from api.services.messages import notify
from api.uploads import forget_if_unused, receive_file, release_upload, remove_replaced
from api.workflow_calls import update_application
from offhours import ids
from offhours.contracts import (
    AnswerInput,
    ApplicationState,
    AssessmentAnswerInput,
    ConsentInput,
    EmailRequest,
    ErasureRequest,
    ExtensionRequest,
    ModuleCompletion,
    OpenQuestion,
    PortalState,
    QuestionTake,
    SlotPick,
    WithdrawInput,
)
from offhours.models import Answer, Application, DeletionRequest, Job
from offhours.settings import Settings
from offhours.states import ApplicationStatus
from offhours.touch import touch
from offhours.vault import Erased, Vault
from pipelines.consent import consent_text
from pipelines.people import PEOPLE
from pipelines.stages import RECORDED, Question

log = logging.getLogger("offhours.api")


def refuse_if_closed(application: Application) -> None:
    """The API's early refusal of a change to a closed application (before an upload is taken, say).
    Not for a call sent with an Idempotency-Key: it may be the retry of a call that went through
    (the submission that closed it), which the workflow answers as it answered first; a new call is
    refused by the workflow's own check."""
    if idempotency.current() is not None:
        return
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


def interview_question(application: Application, question_id: str) -> Question:
    pipeline = pipeline_of(application)
    question = pipeline.question(question_id)
    if question is None:
        known = ", ".join(q.id for q in pipeline.interview_questions())
        raise Unprocessable(
            f"unknown question_id '{question_id}'; this interview asks: {known}",
            errors=[{"field": "question_id", "message": "unknown question"}],
        )
    return question


async def give_consent(
    client: Client, session: Session, settings: Settings, application: Application, version: str
) -> ApplicationState:
    job = session.get(Job, application.job_id)
    assert job is not None
    current = consent_text(pipeline_of(application), job.title, settings.RETENTION_DAYS).version
    if version != current:
        raise Conflict(
            "the consent wording has changed since the page was loaded; reload it, read it and agree again",
            errors=[{"field": "version", "message": "not the current wording"}],
        )
    state: ApplicationState = await update_application(
        client, session, application, "give_consent", ConsentInput(version)
    )
    return state


async def open_question(
    client: Client, session: Session, settings: Settings, application: Application, question_id: str
) -> TakePublic:
    question = interview_question(application, question_id)
    refuse_if_closed(application)
    await refuse_over_take_quota(client, settings, application, question, opening=True)
    take: QuestionTake = await update_application(
        client, session, application, "open_question", OpenQuestion(question.id), result_type=QuestionTake
    )
    return take_public(question, take)


def unlimited_takes(question: Question) -> bool:
    """A recording whose pipeline sets no `retakes` (nor think time): the workflow allows any number
    of takes, so the API holds it to MAX_TAKES_PER_QUESTION."""
    return question.type in RECORDED and question.takes_allowed is None


async def portal_state(client: Client, application: Application) -> PortalState:
    """The workflow's own count of takes; 503 when it cannot be asked (nor would the update go)."""
    try:
        handle: WorkflowHandle[object, object] = client.get_workflow_handle(application.workflow_id)
        async with asyncio.timeout(5):
            state: PortalState = await handle.query("portal", result_type=PortalState)
        return state
    except Exception as error:  # noqa: BLE001 (whatever keeps Temporal away is a 503 the caller may retry)
        raise ServiceUnavailable(
            f"the application's workflow could not be asked how many takes are used ({error}); try again"
        ) from None


async def refuse_over_take_quota(
    client: Client, settings: Settings, application: Application, question: Question, *, opening: bool
) -> None:
    """409 when a question with unlimited takes has had MAX_TAKES_PER_QUESTION of them and the
    request would start another: opening it once its latest take is over, or uploading with no take
    open. Counted by the workflow (takes opened, recordings saved); a take still open is used up."""
    if not unlimited_takes(question):
        return
    limit = settings.MAX_TAKES_PER_QUESTION
    portal = await portal_state(client, application)
    take = portal.open_takes.get(question.id)
    over = take is not None and take.answer_ends_at is not None and datetime.now(UTC) > take.answer_ends_at
    if opening and over:
        take = None  # its time is over: opening the question would start a new take
    if take is None and portal.takes.get(question.id, 0) >= limit:
        raise Conflict(
            f"question '{question.id}' has had {limit} takes, the most it allows; the recording you "
            "sent last stays as your answer. If something went wrong with it, write to your contact "
            "person",
            limit=limit,
            status=application.status,
            stage=application.stage,
        )


async def save_text_answer(
    client: Client, session: Session, application: Application, question_id: str, text: str
) -> ApplicationState:
    question = interview_question(application, question_id)
    refuse_if_closed(application)
    answer = AnswerInput(question_id=question.id, kind="text", text=text)
    state: ApplicationState = await update_application(client, session, application, "save_answer", answer)
    return state


async def save_file_answer(
    client: Client,
    session: Session,
    settings: Settings,
    application: Application,
    question: Question,
    chunks: AsyncIterable[bytes],
    received_at: datetime,
) -> ApplicationState:
    """The file's name is never passed on: it may name the candidate; staff see a neutral one."""
    if question.type not in ("file", *RECORDED):
        raise Unprocessable(
            f"question '{question.id}' takes a {question.type} answer as text, not a file",
            errors=[{"field": "file", "message": "not a file question"}],
        )
    await refuse_over_take_quota(client, settings, application, question, opening=False)
    try:
        key = Vault(settings).key(session, application.id)  # the file is sealed with it
    except Erased:
        raise Gone("this application's content has been erased; it takes no more answers") from None
    answer, stored = await receive_file(
        chunks, settings, question, received_at, application_id=application.id, key=key
    )
    replaced = session.exec(
        select(Answer.file_sha256).where(
            Answer.application_id == application.id, Answer.question_id == question.id
        )
    ).first()
    session.commit()  # no transaction held through the workflow call
    try:
        state: ApplicationState = await update_application(
            client, session, application, "save_answer", answer
        )
    except (Conflict, Unprocessable):
        forget_if_unused(session, settings, stored)  # refused: keep no file nobody points at
        raise
    # Its fate unknown (503 and the like), the upload keeps its hold on the file until it expires:
    # the workflow may still save the answer, and nothing removes a file an upload holds.
    release_upload(settings, stored)  # accepted: the answer points at the file
    try:
        remove_replaced(session, settings, application.id, replaced)
    except Exception:  # the answer is saved; a file left behind goes with a later upload or erasure
        log.exception("could not remove the files replaced on application %s", application.id)
    return state


async def submit(client: Client, session: Session, application: Application) -> ApplicationState:
    refuse_if_closed(application)
    state: ApplicationState = await update_application(client, session, application, "submit")
    return state


async def request_extension(
    client: Client, session: Session, application: Application, body: ExtensionRequestCreate
) -> ApplicationState:
    state: ApplicationState = await update_application(
        client, session, application, "request_extension", ExtensionRequest(body.hours * 3600, body.reason)
    )
    return state


# The later stages: the workflow's update validators enforce every rule (the assessment's clock,
# the slots on offer, the modules of the onboarding); these name the update and its input once, for
# the portal's pages and the candidate API alike.


async def start_assessment(client: Client, session: Session, application: Application) -> ApplicationState:
    state: ApplicationState = await update_application(client, session, application, "start_assessment")
    return state


async def save_assessment_answer(
    client: Client, session: Session, application: Application, question_id: str, value: str
) -> ApplicationState:
    answer = AssessmentAnswerInput(question_id, value)
    state: ApplicationState = await update_application(
        client, session, application, "save_assessment_answer", answer
    )
    return state


async def submit_assessment(client: Client, session: Session, application: Application) -> ApplicationState:
    state: ApplicationState = await update_application(client, session, application, "submit_assessment")
    return state


async def pick_slot(
    client: Client, session: Session, application: Application, slot: datetime
) -> ApplicationState:
    state: ApplicationState = await update_application(
        client, session, application, "pick_slot", SlotPick(slot)
    )
    return state


async def complete_module(
    client: Client, session: Session, application: Application, module_id: str
) -> ApplicationState:
    state: ApplicationState = await update_application(
        client, session, application, "complete_module", ModuleCompletion(module_id)
    )
    return state


async def request_deletion(
    client: Client, session: Session, settings: Settings, application: Application, reason: str | None
) -> DeletionRequest:
    """Record the request once, end the application if it is open, and confirm by email once. Asking
    again records nothing new but finishes what could not be done the first time (Temporal down)."""
    request = _deletion_request(session, application)
    if request is None:
        session.add(DeletionRequest(application_id=application.id, reason=reason))
        try:
            session.commit()
        except IntegrityError:  # the same request, sent twice at once
            session.rollback()
        request = _deletion_request(session, application)
        assert request is not None
    session.refresh(application)
    if not ApplicationStatus(application.status).is_final:  # an open application can no longer go on
        try:
            await update_application(
                client,
                session,
                application,
                "withdraw",
                WithdrawInput("candidate:deletion-request"),
            )
        except (Conflict, ServiceUnavailable) as error:
            log.info("deletion request of %s: application not withdrawn (%s)", application.id, error.detail)
    await schedule_candidate_erasure(client, session, settings, application, request)
    emails = [EmailRequest(application.id, "deletion-requested", "deletion_requested")]
    contact = pipeline_of(application).contact
    if contact in PEOPLE:
        emails.append(
            EmailRequest(
                application.id, "deletion-requested-staff", "deletion_requested_staff", to_staff=contact
            )
        )
    try:
        await notify(client, settings, ids.notice_workflow(f"deletion-{application.id}"), emails)
    except WorkflowAlreadyStartedError:
        pass  # confirmed already
    except Exception as error:  # noqa: BLE001 (the request is recorded; the confirmation is best effort)
        log.warning("deletion request of %s recorded, confirmation not started: %s", application.id, error)
    return request


async def schedule_candidate_erasure(
    client: Client, session: Session, settings: Settings, application: Application, request: DeletionRequest
) -> None:
    """The privacy workflow erases the application ERASURE_REQUEST_DAYS after the request at the
    latest (ops may erase sooner, or hold it). Asking again changes nothing."""
    if application.erasure_requested_at is None:
        application.erasure_requested_at = request.requested_at
        session.add(touch(application))
        session.commit()
    due = request.requested_at + timedelta(days=settings.ERASURE_REQUEST_DAYS)
    try:
        async with asyncio.timeout(10):
            await signal_privacy(
                client,
                settings.TASK_QUEUE,
                application.id,
                "erase",
                ErasureRequest("candidate", due, "candidate"),
            )
    except Exception as error:  # noqa: BLE001 (recorded; asking again (or ops) finishes it)
        log.warning("deletion request of %s recorded, erasure not scheduled: %s", application.id, error)


def _deletion_request(session: Session, application: Application) -> DeletionRequest | None:
    return session.exec(
        select(DeletionRequest).where(DeletionRequest.application_id == application.id)
    ).first()
