from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlmodel import col, select
from starlette.datastructures import UploadFile

from api import pagination
from api.bodies import bounded_body
from api.deps import SessionDep, SettingsDep, StaffDep, TemporalClientDep
from api.errors import STAFF_ERRORS, PayloadTooLarge, Unprocessable, errors
from api.schemas import BulkInvitePublic, JobCreate, JobMemberCreate, JobMemberPublic, JobPublic
from api.services import jobs
from api.services.access import load_job
from api.services.jobs import MAX_CSV_BYTES, TOO_LARGE
from offhours.models import Job, JobMember
from pipelines.registry import PIPELINES

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"], responses=STAFF_ERRORS)


def job_public(job: Job) -> JobPublic:
    return JobPublic(
        id=job.id,
        title=job.title,
        pipeline=job.pipeline,
        pipeline_version=PIPELINES[job.pipeline].version if job.pipeline in PIPELINES else "",
        created_at=job.created_at,
        updated_at=job.updated_at,
        name=job.title,
    )


@router.post(
    "",
    status_code=201,
    response_model=JobPublic,
    summary="Open a job on a pipeline",
    responses=errors(400, 413, 422),
)
def create_job(body: JobCreate, session: SessionDep, staff: StaffDep) -> JobPublic:
    return job_public(jobs.open_job(session, staff, body))


@router.get(
    "",
    response_model=list[JobPublic],
    summary="The jobs the caller may see, a page at a time, oldest change first",
    description="Paginated by cursor in (`updated_at`, `id`) order: follow the `Link` header's "
    '`rel="next"` until it is absent; `updated_after` keeps the jobs changed since a previous sync. '
    "Recruiters see the jobs they are on. Greenhouse Harvest names: `name` is the job's title.",
    responses={200: {"headers": pagination.LINK_HEADER}, **errors(422)},
)
def list_jobs(
    session: SessionDep, staff: StaffDep, paging: pagination.PagingDep, response: Response
) -> list[JobPublic]:
    query = select(Job)
    if not staff.sees_every_job:
        query = query.join(JobMember, col(JobMember.job_id) == col(Job.id)).where(
            JobMember.user_id == (staff.user_id or "")
        )
    rows, next_cursor = pagination.page(session, query, col(Job.updated_at), col(Job.id), paging)
    pagination.paginate(response, paging, next_cursor)
    return [job_public(j) for j in rows]


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
    job, user = jobs.add_member(session, staff, job_id, body.user)
    return {"job_id": job.id, "user_id": user.id}


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
        raise PayloadTooLarge(TOO_LARGE)
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
    report = await jobs.invite_file(request.app.state.engine, client, settings, job, raw)
    return report.public()
