"""Rows the tests put in the database themselves: an application for a job of a given title, a bulk
run cut off after recording an application and before starting its workflow; and a CSV of candidates."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from offhours.models import Application, Candidate, Job
from operations.invitations import Row, _record
from pipelines.registry import get_pipeline
from tests.support.actors import unique_email
from tests.support.stack import Stack


def csv_of(rows: list[tuple[str, str, str]]) -> str:
    """The bulk invitation CSV of (name, email, timezone) rows."""
    return "name,email,timezone\n" + "".join(f"{n},{e},{z}\n" for n, e, z in rows)


async def recorded_but_unstarted(stack: Stack, email: str) -> tuple[Job, Application]:
    """A job, and a run that recorded the candidate's application, then stopped before starting
    its workflow."""
    job_public = await stack.create_job("Resumed")
    with Session(stack.engine) as session:
        job = session.get(Job, job_public["id"])
        assert job is not None
    pipeline = get_pipeline(job.pipeline)
    application, pending = await asyncio.to_thread(
        _record, stack.engine, job, Row(2, "Cut Off", email, "UTC"), pipeline.snapshot(), pipeline.version
    )
    assert pending
    return job, application


def application_for(engine: Engine, job_title: str) -> str:
    """An application row for a job of this title (the email renders from the product tables)."""
    suffix = uuid.uuid4().hex[:12]
    with Session(engine) as session:
        job = Job(id=f"job_{suffix}", title=job_title, pipeline="standard")
        candidate = Candidate(id=f"cnd_{suffix}", name="Ada", email=unique_email(), timezone="Europe/Lisbon")
        application = Application(
            id=f"app_{suffix}",
            job_id=job.id,
            candidate_id=candidate.id,
            workflow_id=f"application-app_{suffix}",
            pipeline_name="standard",
            pipeline_version="1",
            pipeline_snapshot={"title": "Standard", "stages": []},
            deadline=datetime.now(UTC) + timedelta(days=7),
        )
        session.add(job)
        session.add(candidate)
        session.commit()
        session.add(application)
        session.commit()
        return application.id
