from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from starlette.datastructures import UploadFile

from api import idempotency
from api.bodies import bounded_body
from api.deps import Principal, SessionDep, SettingsDep, StaffDep, TemporalClientDep
from api.errors import STAFF_ERRORS, PayloadTooLarge, Unprocessable, errors
from api.schemas import BulkInvitePublic, JobCreate, JobMemberCreate, JobMemberPublic, JobPublic
from api.services.access import is_member, load_job
from offhours import accounts
from offhours.models import Job, JobMember, new_id
from operations.invitations import CsvError, invite_rows, parse_csv
from pipelines.registry import PIPELINES, PipelineError, get_pipeline

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"], responses=STAFF_ERRORS)


def job_public(job: Job) -> JobPublic:
    return JobPublic(
        id=job.id,
        title=job.title,
        pipeline=job.pipeline,
        pipeline_version=PIPELINES[job.pipeline].version if job.pipeline in PIPELINES else "",
        created_at=job.created_at,
    )


@router.post(
    "",
    status_code=201,
    response_model=JobPublic,
    summary="Open a job on a pipeline",
    responses=errors(400, 413, 422),
)
def create_job(body: JobCreate, session: SessionDep, staff: StaffDep) -> JobPublic:
    try:
        get_pipeline(body.pipeline)
    except PipelineError as error:
        raise Unprocessable(str(error), known_pipelines=sorted(PIPELINES)) from None
    job_id = idempotency.row_id("job")  # a retry (Idempotency-Key) finds the job it opened
    if job_id is not None and (opened := session.get(Job, job_id)) is not None:
        return job_public(opened)
    job = Job(id=job_id or new_id("job"), title=body.title, pipeline=body.pipeline)
    session.add(job)
    if staff.user_id is not None:  # whoever opens a job is on it
        session.flush()
        session.add(JobMember(job_id=job.id, user_id=staff.user_id))
    return job_public(job)


@router.get("", response_model=list[JobPublic])
def list_jobs(session: SessionDep, staff: StaffDep) -> list[JobPublic]:
    query = select(Job).order_by(col(Job.created_at).desc())
    if not staff.sees_every_job:
        query = query.join(JobMember, col(JobMember.job_id) == col(Job.id)).where(
            JobMember.user_id == (staff.user_id or "")
        )
    return [job_public(j) for j in session.exec(query)]


@router.get("/{job_id}", response_model=JobPublic, responses=errors(404, 422))
def get_job(job_id: str, session: SessionDep, staff: StaffDep) -> JobPublic:
    return job_public(load_job(session, job_id, staff))


@router.post(
    "/{job_id}/members",
    status_code=201,
    summary="Put a member of staff on a job",
    response_model=JobMemberPublic,
    responses=errors(400, 404, 413, 422),
)
def add_member(job_id: str, body: JobMemberCreate, session: SessionDep, staff: StaffDep) -> dict[str, str]:
    job = load_job(session, job_id, staff)
    try:
        user = accounts.find_user(session, body.user)
    except accounts.AccountError as error:
        raise Unprocessable(str(error), errors=[{"field": "user", "message": "no such user"}]) from None
    if not is_member(session, job.id, Principal(user.id, user.role, user.id)):
        session.add(JobMember(job_id=job.id, user_id=user.id))
        try:
            session.flush()
        except IntegrityError:  # added at the same moment by someone else
            session.rollback()
    return {"job_id": job.id, "user_id": user.id}


MAX_CSV_BYTES = 20 * 1024 * 1024


@router.post(
    "/{job_id}/invitations",
    summary="Invite candidates from a CSV file (name,email[,timezone]); idempotent per (job, email)",
    response_model=BulkInvitePublic,
    responses=errors(400, 404, 413, 422, 503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "additionalProperties": False,
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                },
            },
        }
    },
)
async def bulk_invite(
    job_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalClientDep,
    staff: StaffDep,
) -> dict[str, Any]:
    job = load_job(session, job_id, staff)
    session.commit()  # read only: hold nothing while thousands of rows go through
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_CSV_BYTES:
        raise PayloadTooLarge(f"the file is larger than {MAX_CSV_BYTES // (1024 * 1024)} MB; split it")
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=2)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise Unprocessable("send the CSV as the form field 'file'", errors=[{"field": "file"}])
        raw = await upload.read(MAX_CSV_BYTES + 1)
        await form.close()
    else:
        raw = await bounded_body(request, MAX_CSV_BYTES, "the file")
    if len(raw) > MAX_CSV_BYTES:
        raise PayloadTooLarge(f"the file is larger than {MAX_CSV_BYTES // (1024 * 1024)} MB; split it")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Unprocessable("the file is not UTF-8 text; save the CSV as UTF-8") from None
    try:
        rows, bad = parse_csv(text)
    except CsvError as error:
        raise Unprocessable(
            f"line {error.line}: {error.reason}; nothing was invited",
            errors=[{"line": error.line, "reason": error.reason}],
        ) from None
    if not rows and bad and bad[0].line == 1:
        raise Unprocessable(bad[0].reason, errors=[{"line": 1, "reason": bad[0].reason}])
    result = await invite_rows(request.app.state.engine, client, settings, job, rows)
    errors = sorted([*bad, *result.errors], key=lambda b: b.line)
    return {
        "invited": result.invited,
        "already_invited": result.already_invited,
        "errors": [{"line": b.line, "reason": b.reason} for b in errors],
        "rows": len(rows) + len(bad),
    }
