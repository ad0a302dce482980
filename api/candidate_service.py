"""What a candidate can do with their link, shared by the JSON API and the portal's pages.

Every action goes through the application's workflow (consent, opening a question, answers,
submission, extension) or, for what outlives it (questions to the contact, deletion requests),
through the database plus a Notice workflow that emails exactly once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities.email import format_deadline
from activities.privacy import signal_privacy
from api import idempotency
from api.deps import SessionDep, SettingsDep
from api.errors import (
    Conflict,
    Gone,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    Unprocessable,
)
from api.personal import answer_text
from api.ratelimit import RateLimits
from api.schemas import (
    CandidateView,
    GradedQuestionPublic,
    MessagePublic,
    ModulePublic,
    ProcessStep,
    Progress,
    QuestionPublic,
    TakePublic,
)
from api.uploads import forget_if_unused, receive_file, release_upload, remove_replaced, upload_limit
from api.workflow_calls import update_application
from offhours import ids
from offhours.contracts import (
    AnswerInput,
    ApplicationState,
    ConsentInput,
    EmailRequest,
    ErasureRequest,
    OpenQuestion,
    PortalState,
    QuestionTake,
    WithdrawInput,
)
from offhours.durations import in_words
from offhours.links import BadLink, ExpiredLink, read_candidate_link
from offhours.media import ACCEPTED
from offhours.models import (
    Answer,
    Application,
    Candidate,
    CandidateFeedback,
    ContactMessage,
    DeletionRequest,
    Job,
    ModuleProgress,
    invited_as,
    new_id,
)
from offhours.settings import Settings
from offhours.states import ApplicationStatus
from offhours.vault import Erased, Vault
from pipelines.base import Pipeline, pipeline_from_snapshot
from pipelines.consent import consent_text
from pipelines.people import PEOPLE
from pipelines.stages import RECORDED, Assessment, Interview, Onboarding, Question, Review, Scheduling
from pipelines.stages import Decision as DecisionStage

log = logging.getLogger("offhours.api")
ACCEPTING = (ApplicationStatus.invited, ApplicationStatus.in_progress)
INVALID_LINK = "this link is not valid; use the link from your most recent email"


# ------------------------------------------------------------------------------------- the link


def candidate_application(
    token: str, request: Request, session: SessionDep, settings: SettingsDep
) -> Application:
    """The application a link is scoped to. A genuine link is rate-limited per application; links
    that do not verify are throttled per address (api/ratelimit.py)."""
    limits: RateLimits = request.app.state.rate_limits

    def bad_link() -> Exception:
        return limits.bad_link(request) or Unauthorized(INVALID_LINK)

    try:
        link = read_candidate_link(token, settings.secret_key)
    except BadLink:
        raise bad_link() from None
    except ExpiredLink:
        raise Gone("this link has expired; contact the hiring team for a new one") from None
    application = session.get(Application, link.application_id)
    if application is None:  # never existed: reveal nothing
        raise bad_link()
    limits.check(request, f"{application.id}:{link.generation}")
    if application.erased_at is not None:
        raise Gone("the data of this application has been erased; nothing is kept behind this link")
    if link.generation < application.link_generation:
        raise Gone("a newer link has been sent to you; use the link from your most recent email")
    if application.status == ApplicationStatus.withdrawn and not _status_route(request):
        raise Gone(
            "this application was withdrawn; its link now shows only its status and your data rights",
            status=application.status,
        )
    state = request.scope.setdefault("state", {})
    idempotency.note_caller(state)
    idempotency.note_application(state, application.id)
    # End the read transaction: its pooled connection is not held through a long upload or a
    # workflow call (the loaded row stays usable; the session reconnects when next used).
    session.commit()
    return application


# What a withdrawn application's link still opens: its status, and the candidate's data rights
# (what is kept, and asking for deletion).
STATUS_ROUTES = frozenset(
    {
        ("GET", "/api/v1/candidate/{token}"),
        ("POST", "/api/v1/candidate/{token}/deletion-request"),
        ("GET", "/c/{token}"),
        ("GET", "/c/{token}/privacy"),
        ("POST", "/c/{token}/privacy"),
    }
)


def _status_route(request: Request) -> bool:
    route = request.scope.get("route")
    return (request.method, getattr(route, "path", "")) in STATUS_ROUTES


CandidateDep = Annotated[Application, Depends(candidate_application)]


def accepting(application: Application) -> bool:
    deadline_open = application.deadline is None or datetime.now(UTC) < application.deadline
    return application.status in ACCEPTING and deadline_open


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


def pipeline_of(application: Application) -> Pipeline:
    return pipeline_from_snapshot(application.pipeline_snapshot)


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


async def notify_link_opened(request: Request, application: Application) -> None:
    """Fire-and-forget signal the first time a candidate opens their link; never fails the page."""
    if application.opened_at is not None or application.status not in ACCEPTING:
        return
    try:
        client = await request.app.state.temporal.client()
        await client.get_workflow_handle(application.workflow_id).signal("link_opened")
    except Exception as error:  # the page matters more than the analytics event
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
    except Exception as error:
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


def process_steps(pipeline: Pipeline, application: Application, zone: str) -> list[ProcessStep]:
    deadline = format_deadline(application.deadline, zone)
    ids = [s.id for s in pipeline.stages]
    current = ids.index(application.stage) if application.stage in ids else len(ids)
    if ApplicationStatus(application.status).is_final:
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
        steps.append(ProcessStep(id=stage.id, kind=stage.kind, title=title, detail=detail, state=state))
    return steps


def messages_of(session: Session, application: Application) -> list[MessagePublic]:
    rows = session.exec(
        select(ContactMessage)
        .where(ContactMessage.application_id == application.id)
        .order_by(col(ContactMessage.created_at), col(ContactMessage.id))
    ).all()
    pipeline = pipeline_of(application)
    contact = PEOPLE.get(pipeline.contact or "")
    return [
        MessagePublic(
            id=m.id,
            from_candidate=m.author == "candidate",
            author="You" if m.author == "candidate" else (contact.name if contact else "The hiring team"),
            body=m.body,
            created_at=m.created_at,
        )
        for m in rows
    ]


def candidate_view(
    session: Session, application: Application, view: WorkflowView | None, settings: Settings
) -> CandidateView:
    state = view.state if view else None
    portal = view.portal if view else None
    candidate = session.get(Candidate, application.candidate_id)
    job = session.get(Job, application.job_id)
    assert candidate is not None and job is not None
    candidate = invited_as(candidate, application)
    # A withdrawn application's link shows its status and the candidate's data rights, not its content.
    withdrawn = application.status == ApplicationStatus.withdrawn
    pipeline = pipeline_of(application)
    answers = {
        a.question_id: a
        for a in session.exec(select(Answer).where(Answer.application_id == application.id)).all()
    }
    questions = []
    for number, q in enumerate(pipeline.interview_questions(), start=1):
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
    deletion = session.exec(
        select(DeletionRequest).where(DeletionRequest.application_id == application.id)
    ).first()
    promised = promised_response(pipeline)
    pending = state.pending_extension_seconds if state else None
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
        process=process_steps(pipeline, application, candidate.timezone),
        promised_response=in_words(promised) if promised else None,
        consent_required=any(q.type in RECORDED for q in pipeline.interview_questions()),
        consent_at=application.consent_at,
        consent_version=consent_text(pipeline, job.title, settings.RETENTION_DAYS).version,
        pending_extension_hours=pending / 3600 if pending else None,
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
        messages=[] if withdrawn else messages_of(session, application),
        deletion_requested_at=deletion.requested_at if deletion else None,
    )


# ------------------------------------------------------------------------------------- actions


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
    except Exception as error:
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
    file_name: str,
    received_at: datetime,
) -> ApplicationState:
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
        chunks, settings, question, file_name, received_at, application_id=application.id, key=key
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


async def _notify(client: Client, settings: Settings, notice_id: str, emails: list[EmailRequest]) -> None:
    async with asyncio.timeout(10):
        await client.start_workflow("Notice", emails, id=notice_id, task_queue=settings.TASK_QUEUE)


async def _send_message(
    client: Client,
    session: Session,
    settings: Settings,
    message: ContactMessage,
    email: EmailRequest,
    quota: int | None = None,
) -> ContactMessage:
    """Start the message's Notice first, then store the message. The Notice's email waits for the row
    (retried for a day), so a message is never stored without being sent, nor sent twice: if Temporal
    does not take the notice, nothing is stored and the sender is asked to try again.

    With a `quota`, the message is stored only if its author has sent fewer than that many on the
    application: counted after the row is written and the application row locked, so that messages
    sent at once are counted one after the other (SQLite: the insert takes the database's write
    lock; PostgreSQL: FOR NO KEY UPDATE). One over the quota is rolled back and its Notice ended
    before it can find the row: nothing is stored, no email is sent."""
    notice = ids.notice_workflow(message.id)
    try:
        await _notify(client, settings, notice, [email])
    except WorkflowAlreadyStartedError:
        pass  # a retry whose first call started the Notice, then was lost before storing the row
    except Exception as error:
        raise ServiceUnavailable(f"the message could not be sent just now ({error}); try again") from None
    session.add(message)
    if quota is not None:
        session.flush()
        session.exec(
            select(Application.id)
            .where(Application.id == message.application_id)
            .with_for_update(key_share=True)
        ).one()
        if _messages_sent(session, message.application_id, message.author) > quota:
            session.rollback()
            try:
                await client.get_workflow_handle(notice).terminate(reason="over the message quota")
            except Exception as error:  # it finds no row, and gives up after a day
                log.warning("notice %s over the quota not ended: %s", notice, error)
            raise too_many_messages(quota)
    session.commit()
    return message


def _messages_sent(session: Session, application_id: str, author: str) -> int:
    return session.exec(
        select(func.count())
        .select_from(ContactMessage)
        .where(ContactMessage.application_id == application_id, ContactMessage.author == author)
    ).one()


def too_many_messages(quota: int) -> TooManyRequests:
    return TooManyRequests(
        f"you have sent {quota} messages about this application, the most it takes; your contact "
        "person has received them all and answers on this page and by email: wait for their answer",
        limit=quota,
    )


async def ask_contact(
    client: Client, session: Session, settings: Settings, application: Application, body: str
) -> ContactMessage:
    """The candidate's question to their contact: emailed by a Notice workflow, then stored."""
    contact = pipeline_of(application).contact
    if contact is None or contact not in PEOPLE:
        raise Conflict("this process names no contact person; reply to one of our emails instead")
    message_id = idempotency.row_id("msg")
    if message_id is not None and (sent := session.get(ContactMessage, message_id)) is not None:
        return sent  # a retry (Idempotency-Key) of a question already sent
    quota = settings.MAX_CONTACT_MESSAGES_PER_APPLICATION
    if _messages_sent(session, application.id, "candidate") >= quota:
        raise too_many_messages(quota)  # before the Notice: no email
    session.commit()  # no transaction held through the Notice's start
    message = ContactMessage(
        id=message_id or new_id("msg"), application_id=application.id, author="candidate", body=body
    )
    email = EmailRequest(
        application.id,
        f"msg-{message.id}",
        "contact_question",
        to_staff=contact,
        extra={"message_id": message.id},
    )
    return await _send_message(client, session, settings, message, email, quota)


async def answer_candidate(
    client: Client, session: Session, settings: Settings, application: Application, author: str, body: str
) -> ContactMessage:
    """A staff member's answer: emailed to the candidate and shown on their page."""
    message_id = idempotency.row_id("msg")
    if message_id is not None and (sent := session.get(ContactMessage, message_id)) is not None:
        return sent  # a retry (Idempotency-Key) of an answer already sent
    message = ContactMessage(
        id=message_id or new_id("msg"), application_id=application.id, author=author, body=body
    )
    email = EmailRequest(
        application.id, f"msg-{message.id}", "contact_answer", extra={"message_id": message.id}
    )
    return await _send_message(client, session, settings, message, email)


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
        await _notify(client, settings, ids.notice_workflow(f"deletion-{application.id}"), emails)
    except WorkflowAlreadyStartedError:
        pass  # confirmed already
    except Exception as error:
        log.warning("deletion request of %s recorded, confirmation not started: %s", application.id, error)
    return request


async def schedule_candidate_erasure(
    client: Client, session: Session, settings: Settings, application: Application, request: DeletionRequest
) -> None:
    """The privacy workflow erases the application ERASURE_REQUEST_DAYS after the request at the
    latest (ops may erase sooner, or hold it). Asking again changes nothing."""
    if application.erasure_requested_at is None:
        application.erasure_requested_at = request.requested_at
        session.add(application)
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
    except Exception as error:  # recorded; asking again (or ops) finishes it
        log.warning("deletion request of %s recorded, erasure not scheduled: %s", application.id, error)


def _deletion_request(session: Session, application: Application) -> DeletionRequest | None:
    return session.exec(
        select(DeletionRequest).where(DeletionRequest.application_id == application.id)
    ).first()
