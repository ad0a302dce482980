"""The recruiter console in the browser: jobs, a job's board, an application with its timeline, the
actions on it and its audit. Every action is read from its form into the API's own `*Create` schema
and goes through the same workflow update as the API's."""

from __future__ import annotations

from collections import Counter
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, col, select
from temporalio.client import Client

from api.deps import Principal, SessionDep, SettingsDep, StaffDep, TemporalClientDep
from api.errors import ApiError, Conflict
from api.pages import actions
from api.pages.forms import parsed, text
from api.pages.render import staff_page
from api.schemas import DeadlineExtensionCreate, DecisionCreate, ExtensionDecisionCreate, WithdrawCreate
from api.services import applications, audit
from api.services.access import load_application, load_job, visible_jobs
from api.services.files import media_urls
from api.workflow_calls import update_application
from offhours.models import Application, Candidate, EmailMessage, Job
from offhours.settings import Settings
from offhours.states import ApplicationStatus
from pipelines.base import pipeline_from_snapshot
from pipelines.stages import Decision

router = APIRouter(prefix="/staff", tags=["staff pages"], include_in_schema=False)

BOARD = [s.value for s in ApplicationStatus]
DONE = {
    "decide": "Decision recorded; the candidate's email goes out once.",
    "extend_deadline": "The deadline moved; the candidate is told by email.",
    "decide_extension": "Answered; the candidate is told by email.",
    "withdraw": "The application is withdrawn; the candidate is told by email.",
    "opened": "The job is open. Invite candidates one by one or from a CSV file.",
    "invited": "Invited: the candidate's email with their link is on its way.",
    "offer_slots": "The slots are offered; the candidate is emailed to pick one.",
    "record_outcome": "The outcome is recorded; the application moves on.",
    "release_feedback": "The feedback is released; the candidate is emailed.",
    "member": "They are on the job now: it shows in their jobs.",
    "answered": "Your answer is sent to the candidate by email and shows on their page.",
}
HOURS = {"hours": "Enter a whole number of hours."}


@router.get("/jobs", response_class=HTMLResponse)
def jobs(request: Request, session: SessionDep, settings: SettingsDep, staff: StaffDep) -> HTMLResponse:
    listed = visible_jobs(session, staff)
    counts: dict[str, Counter[str]] = {}
    for job in listed:
        statuses = session.exec(select(Application.status).where(Application.job_id == job.id)).all()
        counts[job.id] = Counter(str(s) for s in statuses)
    return staff_page(request, settings, staff, "jobs.html", jobs=listed, counts=counts)


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def board(
    job_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    staff: StaffDep,
    status: str = "",
    q: str = "",
) -> HTMLResponse:
    return board_page(request, session, settings, staff, job_id, status=status, q=q)


def board_page(
    request: Request,
    session: Session,
    settings: Settings,
    staff: Principal,
    job_id: str,
    status: str = "",
    q: str = "",
    status_code: int = 200,
    **forms: Any,
) -> HTMLResponse:
    """A job's board; with `forms`, the invite forms again as sent, with what was refused."""
    job = load_job(session, job_id, staff)
    query = (
        select(Application, Candidate)
        .join(Candidate, col(Candidate.id) == col(Application.candidate_id))
        .where(Application.job_id == job.id)
        .order_by(col(Application.created_at))
    )
    if status in BOARD:
        query = query.where(Application.status == status)
    if q.strip():
        needle = f"%{q.strip().lower()}%"
        query = query.where(col(Candidate.name).ilike(needle) | col(Candidate.email).ilike(needle))
    columns: dict[str, list[tuple[Application, Candidate]]] = {s: [] for s in BOARD}
    for application, candidate in session.exec(query):
        columns[str(application.status)].append((application, candidate))
    context: dict[str, Any] = {
        "invite_errors": {},
        "invite": {},
        "csv_error": None,
        "member_error": None,
        **forms,
    }
    return staff_page(
        request,
        settings,
        staff,
        "board.html",
        status_code=status_code,
        job=job,
        columns=columns,
        status=status,
        q=q,
        statuses=BOARD,
        can_manage=staff.role in ("ops", "recruiter"),
        notice=DONE.get(request.query_params.get("done", "")),
        **context,
    )


def _timeline(session: Session, application: Application) -> list[tuple[Any, str]]:
    events: list[tuple[Any, str]] = [
        (application.created_at, "Invited"),
        (application.opened_at, "Opened the link"),
        (application.consent_at, "Consented to recording"),
        (application.started_at, "First answer saved"),
        (application.submitted_at, "Submitted"),
        (application.decided_at, f"Decided: {application.decision or ''} by {application.decided_by or ''}"),
        (application.closed_at, f"Closed ({application.status})"),
    ]
    for email in session.exec(
        select(EmailMessage).where(
            EmailMessage.application_id == application.id, EmailMessage.status == "sent"
        )
    ):
        events.append((email.sent_at, f"Email sent: {email.subject}"))
    return sorted([(at, what) for at, what in events if at is not None], key=lambda e: e[0])


@router.get("/applications/{application_id}", response_class=HTMLResponse)
def application_page(
    application_id: str, request: Request, session: SessionDep, settings: SettingsDep, staff: StaffDep
) -> HTMLResponse:
    return application_view(request, session, settings, staff, application_id)


def application_view(
    request: Request,
    session: Session,
    settings: Settings,
    staff: Principal,
    application_id: str,
    status_code: int = 200,
    error: str | None = None,
    notice: str | None = None,
    **forms: Any,
) -> HTMLResponse:
    """The application page; with `forms`, a form as sent again, with what was refused."""
    application = load_application(session, application_id, staff)
    pipeline = pipeline_from_snapshot(application.pipeline_snapshot)
    decision = pipeline.first(Decision)
    detail = applications.application_detail(session, application)
    return staff_page(
        request,
        settings,
        staff,
        "application.html",
        status_code=status_code,
        application=application,
        detail=detail,
        job=session.get(Job, application.job_id),
        prompts={q.id: q for q in pipeline.interview_questions()},
        media=media_urls(session, settings, staff, application.id),
        reasons=list(decision.reason_codes) if decision else [],
        approvers=list(decision.approvers) if decision else [],
        timeline=_timeline(session, application),
        can_manage=staff.role in ("ops", "recruiter"),
        error=error,
        notice=notice or DONE.get(request.query_params.get("done", "")),
        **actions.context(session, application, pipeline, detail.candidate.timezone, forms),
    )


async def act(
    request: Request,
    session: Session,
    settings: Settings,
    client: Client,
    staff: Principal,
    application_id: str,
    update: str,
    arg: object,
) -> Response:
    application = load_application(session, application_id, staff)
    try:
        await update_application(client, session, application, update, arg)
    except ApiError as error:
        return application_view(
            request, session, settings, staff, application_id, error.status_code, error.detail
        )
    return RedirectResponse(f"/staff/applications/{application_id}?done={update}", status_code=303)


@router.get("/applications/{application_id}/audit", response_class=HTMLResponse)
async def audit_page(
    application_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
    staff: StaffDep,
) -> HTMLResponse:
    """For auditors: the timeline from the Temporal history and its replay with the current code."""
    exported = await audit.history(session, request.app.state.engine, settings, client, staff, application_id)
    return staff_page(
        request,
        settings,
        staff,
        "audit.html",
        application_id=application_id,
        events=audit.history_events(exported),
        report=await audit.replay(exported, application_id),
    )


@router.post("/applications/{application_id}/decision", response_model=None)
async def decide(
    application_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
    staff: StaffDep,
) -> Response:
    form = await request.form(max_fields=10)
    application = load_application(session, application_id, staff)
    stage = pipeline_from_snapshot(application.pipeline_snapshot).first(Decision)
    code = text(form, "reason_code")
    reason = next((r for r in (stage.reason_codes if stage else ()) if r.code == code), None)
    if reason is None:
        return application_view(
            request, session, settings, staff, application_id, 422, "Choose a reason for the decision."
        )
    values = {
        "decision": reason.decision,
        "reason": text(form, "reason") or None,
        "reason_code": reason.code,
        "approver_id": text(form, "approver") or None,
    }
    try:
        body = parsed(DecisionCreate, values)
    except ApiError as error:
        return application_view(
            request, session, settings, staff, application_id, error.status_code, error.detail
        )
    decision = applications.decision_input(staff, body)
    return await act(request, session, settings, client, staff, application_id, "decide", decision)


@router.post("/applications/{application_id}/withdraw", response_model=None)
async def withdraw(
    application_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
    staff: StaffDep,
) -> Response:
    form = await request.form(max_fields=5)
    try:
        body = parsed(WithdrawCreate, {"reason": text(form, "reason") or None})
    except ApiError as error:
        return application_view(
            request, session, settings, staff, application_id, error.status_code, error.detail
        )
    withdrawal = applications.withdrawal(staff, body)
    return await act(request, session, settings, client, staff, application_id, "withdraw", withdrawal)


@router.post("/applications/{application_id}/extension", response_model=None)
async def extension(
    application_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
    staff: StaffDep,
) -> Response:
    form = await request.form(max_fields=5)
    # The page's two buttons send grant=yes or grant=no; anything else refuses, as before.
    body = ExtensionDecisionCreate(grant=text(form, "grant") == "yes")
    decision = applications.extension_decision(staff, body)
    return await act(request, session, settings, client, staff, application_id, "decide_extension", decision)


@router.post("/applications/{application_id}/deadline", response_model=None)
async def extend_deadline(
    application_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
    staff: StaffDep,
) -> Response:
    form = await request.form(max_fields=5)
    try:
        body = parsed(DeadlineExtensionCreate, {"hours": text(form, "hours")}, HOURS)
    except ApiError as error:
        return application_view(
            request, session, settings, staff, application_id, error.status_code, error.detail
        )
    extension = applications.deadline_extension(staff, body)
    return await act(request, session, settings, client, staff, application_id, "extend_deadline", extension)


@router.post("/applications/{application_id}/resend-invite", response_model=None)
async def resend_invite(
    application_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
    staff: StaffDep,
) -> Response:
    """The invitation again (its link, its deadline), as a Notice: exactly once per click."""
    application = load_application(session, application_id, staff)
    try:
        await applications.resend_invitation(client, session, settings, application)
    except Conflict as error:
        return application_view(
            request, session, settings, staff, application_id, error.status_code, error.detail
        )
    return application_view(
        request, session, settings, staff, application_id, notice="The invitation was sent again."
    )
