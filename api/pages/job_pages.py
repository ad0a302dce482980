"""Jobs in the browser, for ops and recruiters: open a job on a pipeline of the registry, invite one
candidate from its board, or many from a CSV file with the report line by line. Each goes through
the same service as its JSON API twin (api/services/jobs.py, api/services/applications.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlmodel import Session
from starlette.datastructures import UploadFile

from api.deps import Principal, SessionDep, SettingsDep, StaffDep, TemporalClientDep
from api.errors import ApiError, Conflict, NotFound, Unprocessable
from api.pages.console import board_page
from api.pages.forms import field_errors, parsed, text
from api.pages.render import staff_page
from api.schemas import ApplicationCreate, JobCreate, JobMemberCreate
from api.services import applications, jobs
from api.services.access import load_job
from api.services.jobs import MAX_CSV_BYTES
from offhours.models import Job
from offhours.settings import Settings
from pipelines.registry import PIPELINES

router = APIRouter(prefix="/staff", tags=["staff pages"], include_in_schema=False)

INVITE_FIELDS = {"candidate.name": "name", "candidate.email": "email", "candidate.timezone": "timezone"}


KINDS = {
    "invite": "Invitation",
    "interview": "One-way interview",
    "assessment": "Graded assessment",
    "review": "Review",
    "feedback": "Written feedback",
    "decision": "Decision",
    "scheduling": "Live interview",
    "onboarding": "Onboarding",
    "custom": "Custom stage",
}


def describe(stage: Any) -> str:
    """A stage in a few words, as the form lists it."""
    kind: str = KINDS.get(stage.kind, str(stage.kind))
    if stage.kind == "interview":
        return f"{kind}: {len(stage.questions)} question{'s' if len(stage.questions) != 1 else ''}"
    if stage.kind == "review":
        blind = ", blind" if stage.blind else ""
        return f"{kind} by {stage.reviewers} of the {stage.pool} pool{blind}"
    if stage.kind == "feedback":
        return str(kind) + (" (held for a recruiter to edit)" if stage.hold_for_edit else "")
    if stage.kind == "scheduling":
        return f"{kind}: {stage.title}"
    if stage.kind == "custom":
        return f"{kind}: {stage.id}"
    return str(kind)


def _pipelines() -> list[tuple[str, str, list[str]]]:
    """Each pipeline of the registry: its name, title and its stages in a few words, in order."""
    return [
        (name, PIPELINES[name].title, [describe(stage) for stage in PIPELINES[name].stages])
        for name in sorted(PIPELINES)
    ]


def _new_job(
    request: Request,
    settings: Settings,
    staff: Principal,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> HTMLResponse:
    return staff_page(
        request,
        settings,
        staff,
        "job_new.html",
        status_code=status_code,
        pipelines=_pipelines(),
        errors=errors or {},
        values=values or {},
    )


@router.get("/jobs/new", response_class=HTMLResponse)
def new_job_page(request: Request, settings: SettingsDep, staff: StaffDep) -> HTMLResponse:
    return _new_job(request, settings, staff)


@router.post("/jobs/new", response_model=None)
async def new_job(request: Request, session: SessionDep, settings: SettingsDep, staff: StaffDep) -> Response:
    form = await request.form(max_fields=5)
    values = {"title": text(form, "title"), "pipeline": text(form, "pipeline")}
    if not values["pipeline"]:
        errors = {"pipeline": "Choose the pipeline the job runs on."}
        return _new_job(request, settings, staff, 422, errors, values)
    try:
        job = jobs.open_job(session, staff, parsed(JobCreate, values))
    except ApiError as error:
        errors = field_errors(error, {"title": "title", "pipeline": "pipeline"}, "pipeline")
        return _new_job(request, settings, staff, error.status_code, errors, values)
    return RedirectResponse(f"/staff/jobs/{job.id}?done=opened", status_code=303)


def _board_error(
    request: Request,
    session: Session,
    settings: Settings,
    staff: Principal,
    job_id: str,
    error: ApiError,
    **context: Any,
) -> HTMLResponse:
    return board_page(request, session, settings, staff, job_id, status_code=error.status_code, **context)


@router.post("/jobs/{job_id}/invite", response_model=None)
async def invite_one(
    job_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
    staff: StaffDep,
) -> Response:
    """One candidate, as POST /api/v1/applications invites them; a second time is refused."""
    form = await request.form(max_fields=8)
    values = {name: text(form, name) for name in ("name", "email", "timezone")}
    load_job(session, job_id, staff)
    body = {"job_id": job_id, "candidate": values}
    try:
        created = parsed(ApplicationCreate, body)
        application = await applications.invite_candidate(
            session, request.app.state.engine, client, settings, staff, created
        )
    except ApiError as error:
        default = "email" if isinstance(error, Conflict) else "name"
        errors = field_errors(error, INVITE_FIELDS, default)
        if isinstance(error, Conflict):
            errors["email"] = error.detail
        return _board_error(
            request, session, settings, staff, job_id, error, invite_errors=errors, invite=values
        )
    return RedirectResponse(f"/staff/applications/{application.id}?done=invited", status_code=303)


@router.post("/jobs/{job_id}/invitations", response_model=None)
async def upload_csv(
    job_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
    staff: StaffDep,
) -> Response:
    """A CSV file, as POST /api/v1/jobs/{id}/invitations takes it, invited in the background while
    the browser follows its progress page; a file that cannot be read is refused at once."""
    job = load_job(session, job_id, staff)
    session.commit()  # read only: hold nothing while the rows go through
    form = await request.form(max_files=1, max_fields=4, max_part_size=1024 * 1024)
    upload = form.get("file")
    raw = b""
    if isinstance(upload, UploadFile):
        raw = await upload.read(MAX_CSV_BYTES + 1)
        await form.close()
    if not raw:
        error = Unprocessable("Choose a CSV file with a header line: name,email[,timezone].")
        return _board_error(request, session, settings, staff, job_id, error, csv_error=error.detail)
    try:
        rows, bad = jobs.read_csv(raw)  # a file that cannot be read is refused here, nothing invited
    except ApiError as error:
        return _board_error(request, session, settings, staff, job_id, error, csv_error=error.detail)
    engine = request.app.state.engine

    def work(progress: Callable[[int], None]) -> Awaitable[jobs.BulkReport]:
        return jobs.invite_parsed(engine, client, settings, job, rows, bad, progress)

    name = upload.filename if isinstance(upload, UploadFile) and upload.filename else ""
    registry = runs(request)
    try:
        run = registry.start(job.id, staff.name, name, len(rows) + len(bad), len(bad), work)
    except jobs.UploadUnderWay as busy:  # one file at a time per user and job: show the first
        return RedirectResponse(f"/staff/jobs/{job.id}/invitations/{busy.run.id}?busy=1", status_code=303)
    if len(rows) <= SHORT_FILE_ROWS:  # a few lines: straight to the report, no progress page
        await registry.settle(run, SHORT_FILE_WAIT)
    return RedirectResponse(f"/staff/jobs/{job.id}/invitations/{run.id}", status_code=303)


SHORT_FILE_ROWS = 10  # a file this short is waited for (up to SHORT_FILE_WAIT seconds)
SHORT_FILE_WAIT = 5.0


def runs(request: Request) -> jobs.InviteRuns:
    found: jobs.InviteRuns = request.app.state.invite_runs
    return found


def _run(
    request: Request, session: Session, staff: Principal, job_id: str, run_id: str
) -> tuple[Job, jobs.InviteRun]:
    job = load_job(session, job_id, staff)
    run = runs(request).get(run_id, job_id, staff.name)
    if run is None:
        raise NotFound(
            "this upload's progress is not kept any more (an hour after it ended, the server "
            "restarted, or this page reached another API replica); send the file again: nobody is "
            "invited twice"
        )
    return job, run


@router.get("/jobs/{job_id}/invitations/{run_id}", response_class=HTMLResponse)
def invite_run(
    job_id: str, run_id: str, request: Request, session: SessionDep, settings: SettingsDep, staff: StaffDep
) -> HTMLResponse:
    """The upload's progress while it runs (the page follows it by itself with JavaScript, or on
    reload without), then its report line by line."""
    job, run = _run(request, session, staff, job_id, run_id)
    busy = request.query_params.get("busy") == "1"
    page = staff_page(
        request, settings, staff, "invite_report.html", job=job, run=run, report=run.report, busy=busy
    )
    page.headers["Cache-Control"] = "no-store"
    return page


@router.get("/jobs/{job_id}/invitations/{run_id}/progress")
def invite_run_progress(
    job_id: str, run_id: str, request: Request, session: SessionDep, staff: StaffDep
) -> JSONResponse:
    _, run = _run(request, session, staff, job_id, run_id)
    return JSONResponse(
        {"done": run.done, "total": run.total, "running": run.running, "failed": run.failed},
        headers={"Cache-Control": "no-store"},
    )


@router.post("/jobs/{job_id}/members", response_model=None)
async def add_member(
    job_id: str, request: Request, session: SessionDep, settings: SettingsDep, staff: StaffDep
) -> Response:
    """A member of staff put on the job, as POST /api/v1/jobs/{id}/members does."""
    form = await request.form(max_fields=5)
    who = text(form, "user")
    try:
        jobs.add_member(session, staff, job_id, parsed(JobMemberCreate, {"user": who}).user)
    except ApiError as error:
        session.rollback()
        message = "Enter the email of a user." if not who else error.detail
        return _board_error(
            request, session, settings, staff, job_id, error, member_error=message, member=who
        )
    return RedirectResponse(f"/staff/jobs/{job_id}?done=member", status_code=303)
