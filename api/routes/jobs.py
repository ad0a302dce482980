from __future__ import annotations

from fastapi import APIRouter
from sqlmodel import col, select

from api.deps import SessionDep, StaffDep
from api.errors import NotFound, Unprocessable
from api.schemas import JobCreate, JobPublic
from offhours.models import Job, new_id
from pipelines import PIPELINES, PipelineError, get_pipeline

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])


def job_public(job: Job) -> JobPublic:
    return JobPublic(
        id=job.id,
        title=job.title,
        pipeline=job.pipeline,
        pipeline_version=PIPELINES[job.pipeline].version if job.pipeline in PIPELINES else "",
        created_at=job.created_at,
    )


@router.post("", status_code=201, response_model=JobPublic, summary="Open a job on a pipeline")
def create_job(body: JobCreate, session: SessionDep, staff: StaffDep) -> JobPublic:
    staff.require("ops", "recruiter")
    try:
        get_pipeline(body.pipeline)
    except PipelineError as error:
        raise Unprocessable(str(error), known_pipelines=sorted(PIPELINES)) from None
    job = Job(id=new_id("job"), title=body.title, pipeline=body.pipeline)
    session.add(job)
    return job_public(job)


@router.get("", response_model=list[JobPublic])
def list_jobs(session: SessionDep, staff: StaffDep) -> list[JobPublic]:
    return [job_public(j) for j in session.exec(select(Job).order_by(col(Job.created_at).desc()))]


@router.get("/{job_id}", response_model=JobPublic)
def get_job(job_id: str, session: SessionDep, staff: StaffDep) -> JobPublic:
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound(f"no job with id '{job_id}'")
    return job_public(job)
