"""The staff side in the browser: sign-in, the reviewer workspace and the recruiter console.

Pages use the same authorization policy as the API (api/policy.py) through the same dependency; a
browser session is a cookie (HttpOnly, SameSite=Lax, Secure on https) whose forms carry its CSRF
token. Every action goes through the same workflow updates as the API.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import update as sa_update
from sqlmodel import Session, col, select
from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError

from api import csrf, idempotency
from api.deps import (
    SESSION_COOKIE,
    Principal,
    SessionDep,
    SettingsDep,
    StaffDep,
    TemporalClientDep,
    staff_csrf_token,
)
from api.errors import ApiError, ServiceUnavailable, Unprocessable
from api.pages import render_page
from api.ratelimit import RateLimits
from api.routes.applications import (
    acting_as,
    application_detail,
    history,
    load_application,
    member_job_ids,
    recorded_as,
    review_view,
)
from api.routes.files import signed_file_url
from api.routes.jobs import load_job
from api.workflow_calls import update_application
from offhours import accounts, ids
from offhours.contracts import (
    DeadlineExtension,
    DecisionInput,
    EmailRequest,
    ExtensionDecision,
    ScorecardInput,
    WithdrawInput,
)
from offhours.models import Answer, Application, Candidate, EmailMessage, Job, ReviewAssignment, new_id
from offhours.settings import Settings
from offhours.states import ApplicationStatus, Recommendation
from operations import audit
from pipelines.base import pipeline_from_snapshot
from pipelines.people import PEOPLE
from pipelines.stages import Decision

router = APIRouter(prefix="/staff", tags=["staff pages"], include_in_schema=False)

BOARD = [s.value for s in ApplicationStatus]
DONE = {
    "decide": "Decision recorded; the candidate's email goes out once.",
    "extend_deadline": "The deadline moved; the candidate is told by email.",
    "decide_extension": "Answered; the candidate is told by email.",
    "withdraw": "The application is withdrawn; the candidate is told by email.",
}
RECOMMENDATIONS = [
    (Recommendation.strong_yes, "Strong yes"),
    (Recommendation.yes, "Yes"),
    (Recommendation.no, "No"),
    (Recommendation.definitely_not, "Definitely not"),
    (Recommendation.no_decision, "No decision"),
]


def page(
    request: Request,
    settings: Settings,
    staff: Principal | None,
    template: str,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    cookie = request.cookies.get(SESSION_COOKIE, "")
    return render_page(
        request,
        f"pages/staff/{template}",
        {
            "staff": staff,
            "csrf_token": staff_csrf_token(settings, cookie) if cookie else "",
            "person": PEOPLE.get(staff.person_id or "") if staff else None,
            **context,
        },
        status_code=status_code,
    )


# ------------------------------------------------------------------------------------ sign-in


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, settings: SettingsDep, next: str = "/staff") -> HTMLResponse:
    value, new = csrf.csrf_value(request)
    response = page(
        request, settings, None, "login.html", login_csrf=csrf.form_token(settings, value), next=next
    )
    if new:
        csrf.set_cookie(response, settings, value, path="/staff/")
    return response


@router.post("/login", response_model=None)
async def login(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    form = await request.form(max_fields=5)
    submitted = form.get(csrf.FIELD)
    csrf.verify(request, settings, submitted if isinstance(submitted, str) else None)
    email, password = str(form.get("email") or ""), str(form.get("password") or "")
    target = str(form.get("next") or "/staff")
    limits: RateLimits = request.app.state.rate_limits
    limits.login_attempt(request, email)  # counted, and 429 when over, before any hashing
    try:
        user = await accounts.authenticate_async(session, email, password)
    except accounts.Busy:
        raise ServiceUnavailable("too many sign-ins are being checked at this moment") from None
    if user is None:
        value, _ = csrf.csrf_value(request)
        return page(
            request,
            settings,
            None,
            "login.html",
            status_code=401,
            login_csrf=csrf.form_token(settings, value),
            next=target,
            email=email,
            error="That email and password do not match an active account.",
        )
    hours = settings.STAFF_SESSION_HOURS
    _, token = accounts.start_session(session, user, timedelta(hours=hours))
    response = RedirectResponse(target if target.startswith("/staff") else "/staff", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=hours * 3600,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        path="/",
    )
    return response


@router.post("/logout", response_model=None)
async def logout(request: Request, session: SessionDep, staff: StaffDep) -> Response:
    found = accounts.user_for_session(session, request.cookies.get(SESSION_COOKIE, ""))
    if found is not None:
        accounts.end_session(session, found[1])
    response = RedirectResponse("/staff/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("", response_model=None)
def home(staff: StaffDep) -> Response:
    return RedirectResponse("/staff/reviews" if staff.role == "reviewer" else "/staff/jobs", status_code=303)


# ------------------------------------------------------------------------------------ reviewers


@router.get("/reviews", response_class=HTMLResponse)
def reviews(request: Request, session: SessionDep, settings: SettingsDep, staff: StaffDep) -> HTMLResponse:
    rows = session.exec(
        select(ReviewAssignment, Application, Job)
        .join(Application, col(Application.id) == col(ReviewAssignment.application_id))
        .join(Job, col(Job.id) == col(Application.job_id))
        .where(ReviewAssignment.reviewer == (staff.person_id or ""))
        .order_by(col(ReviewAssignment.due_at))
    ).all()
    open_ = [(a, app, job) for a, app, job in rows if a.status == "assigned"]
    done = [(a, app, job) for a, app, job in rows if a.status != "assigned"]
    return page(request, settings, staff, "reviews.html", open_reviews=open_, done_reviews=done)


def _media(session: Session, settings: Settings, staff: Principal, application_id: str) -> dict[str, str]:
    """Short-lived signed URLs to the application's uploaded answers, by question, for `staff` only."""
    rows = session.exec(
        select(Answer).where(Answer.application_id == application_id, col(Answer.file_sha256).is_not(None))
    ).all()
    return {
        r.question_id: signed_file_url(settings, r.id, relative=True, viewer=staff)[0]
        for r in rows
        if r.id is not None
    }


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
    reviewer = staff.person_id or ""
    view = review_view(application_id, reviewer, session, staff)
    application = load_application(session, application_id, staff)
    pipeline = pipeline_from_snapshot(application.pipeline_snapshot)
    prompts = {q.id: q for q in pipeline.interview_questions()}
    return page(
        request,
        settings,
        staff,
        "review.html",
        status_code=status_code,
        view=view,
        prompts=prompts,
        media=_media(session, settings, staff, application.id),
        recommendations=RECOMMENDATIONS,
        people=PEOPLE,
        error=error,
    )


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
    pipeline = pipeline_from_snapshot(application.pipeline_snapshot)
    criteria = [c for s in pipeline.stages if s.kind == "review" for c in getattr(s, "criteria", ())]
    try:
        ratings = {}
        for criterion in criteria:
            value = str(form.get(f"rating-{criterion.id}") or "")
            if value not in ("1", "2", "3", "4", "5"):
                raise Unprocessable(f"Rate '{criterion.title}' from 1 to 5.")
            ratings[criterion.id] = int(value)
        recommendation = str(form.get("recommendation") or "")
        if recommendation not in {r.value for r, _ in RECOMMENDATIONS}:
            raise Unprocessable("Choose an overall recommendation.")
        notes = str(form.get("notes") or "").strip()[:20_000] or None
        card = ScorecardInput(
            acting_as(staff, None, "score") or "", recommendation, ratings, notes, recorded_as(staff)
        )
        await update_application(client, session, application, "submit_scorecard", card)
    except ApiError as error:
        return _review(request, session, settings, staff, application_id, error.status_code, error.detail)
    return RedirectResponse(f"/staff/reviews/{application_id}", status_code=303)


# ------------------------------------------------------------------------------------ recruiters


def _visible_jobs(session: Session, staff: Principal) -> list[Job]:
    query = select(Job).order_by(col(Job.created_at).desc())
    if not staff.sees_every_job:
        query = query.where(col(Job.id).in_(member_job_ids(session, staff)))
    return list(session.exec(query))


@router.get("/jobs", response_class=HTMLResponse)
def jobs(request: Request, session: SessionDep, settings: SettingsDep, staff: StaffDep) -> HTMLResponse:
    listed = _visible_jobs(session, staff)
    counts: dict[str, Counter[str]] = {}
    for job in listed:
        statuses = session.exec(select(Application.status).where(Application.job_id == job.id)).all()
        counts[job.id] = Counter(str(s) for s in statuses)
    return page(request, settings, staff, "jobs.html", jobs=listed, counts=counts)


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
    return page(
        request, settings, staff, "board.html", job=job, columns=columns, status=status, q=q, statuses=BOARD
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
    return _application(request, session, settings, staff, application_id)


def _application(
    request: Request,
    session: Session,
    settings: Settings,
    staff: Principal,
    application_id: str,
    status_code: int = 200,
    error: str | None = None,
    notice: str | None = None,
) -> HTMLResponse:
    application = load_application(session, application_id, staff)
    detail = application_detail(session, application)
    pipeline = pipeline_from_snapshot(application.pipeline_snapshot)
    decision = pipeline.first(Decision)
    return page(
        request,
        settings,
        staff,
        "application.html",
        status_code=status_code,
        application=application,
        detail=detail,
        job=session.get(Job, application.job_id),
        prompts={q.id: q for q in pipeline.interview_questions()},
        media=_media(session, settings, staff, application.id),
        reasons=list(decision.reason_codes) if decision else [],
        approvers=list(decision.approvers) if decision else [],
        timeline=_timeline(session, application),
        can_manage=staff.role in ("ops", "recruiter"),
        error=error,
        notice=notice or DONE.get(request.query_params.get("done", "")),
    )


async def _act(
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
        return _application(
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
    exported = await history(application_id, request, session, settings, client, staff)
    report = await audit.replay(exported, ids.application_workflow(application_id))
    return page(
        request,
        settings,
        staff,
        "audit.html",
        application_id=application_id,
        events=audit.timeline(exported),
        report=report,
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
    pipeline = pipeline_from_snapshot(application.pipeline_snapshot)
    stage = pipeline.first(Decision)
    code = str(form.get("reason_code") or "")
    reason = next((r for r in (stage.reason_codes if stage else ()) if r.code == code), None)
    if reason is None:
        return _application(
            request, session, settings, staff, application_id, 422, "Choose a reason for the decision."
        )
    text = str(form.get("reason") or "").strip()[:5000] or None
    approver = acting_as(staff, str(form.get("approver") or "") or None, "vote")
    decision = DecisionInput(reason.decision, recorded_as(staff), text, reason.code, approver)
    return await _act(request, session, settings, client, staff, application_id, "decide", decision)


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
    reason = str(form.get("reason") or "").strip()[:5000] or None
    withdrawal = WithdrawInput(recorded_as(staff), reason)
    return await _act(request, session, settings, client, staff, application_id, "withdraw", withdrawal)


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
    grant = str(form.get("grant") or "") == "yes"
    decision = ExtensionDecision(grant, recorded_as(staff))
    return await _act(request, session, settings, client, staff, application_id, "decide_extension", decision)


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
    hours = str(form.get("hours") or "")
    if not hours.isascii() or not hours.isdigit() or not 1 <= int(hours[:4]) <= 720 or len(hours) > 3:
        return _application(request, session, settings, staff, application_id, 422, "Enter 1 to 720 hours.")
    extension = DeadlineExtension(int(hours) * 3600, recorded_as(staff))
    return await _act(request, session, settings, client, staff, application_id, "extend_deadline", extension)


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
    if application.status not in (ApplicationStatus.invited, ApplicationStatus.in_progress):
        return _application(
            request,
            session,
            settings,
            staff,
            application_id,
            409,
            "Only an open application's invitation can be sent again.",
        )
    key = idempotency.row_id("resend") or new_id("resend")  # a form sent twice: one email
    # The new link replaces every earlier one (a forwarded or leaked link stops working). Moved on
    # in SQL, so that two resends at once both count; moved back if the email cannot be sent.
    moved = sa_update(Application).where(col(Application.id) == application.id)
    session.execute(moved.values(link_generation=col(Application.link_generation) + 1))
    session.commit()
    session.refresh(application)
    email = EmailRequest(application.id, f"invite-{key}", "invite")
    try:
        await client.start_workflow(
            "Notice", [email], id=ids.notice_workflow(key), task_queue=settings.TASK_QUEUE
        )
    except Exception as error:
        already = isinstance(error, WorkflowAlreadyStartedError)  # sent by this form's first post
        back = sa_update(Application).where(
            col(Application.id) == application.id,
            col(Application.link_generation) == application.link_generation,
        )
        session.execute(back.values(link_generation=application.link_generation - 1))
        session.commit()
        if already:
            return _application(
                request, session, settings, staff, application_id, notice="The invitation was sent again."
            )
        raise ServiceUnavailable(f"the invitation could not be sent again just now ({error})") from None
    return _application(
        request, session, settings, staff, application_id, notice="The invitation was sent again."
    )


def login_redirect(path: str) -> RedirectResponse:
    return RedirectResponse(f"/staff/login?next={quote(path)}", status_code=303)
