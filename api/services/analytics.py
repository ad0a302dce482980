"""The scope of an analytics request: who asks (ops and auditors every job, recruiters the jobs they
are on, reviewers their own review load only) and the filters they give."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlmodel import Session

from api.deps import Principal
from api.errors import Forbidden, Unprocessable
from api.services.access import load_job, member_job_ids
from operations.analytics import counted
from operations.analytics.queries import Scope
from pipelines.registry import PIPELINES

REVIEWER_METRIC = "reviewers"


def parse_when(value: str | None, name: str, *, end: bool) -> datetime | None:
    """A date (the whole day: `to` includes it) or an ISO 8601 time (UTC when no zone is given)."""
    if value is None or value == "":
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime.combine(day + timedelta(days=1) if end else day, time(), tzinfo=UTC)
        when = datetime.fromisoformat(value)
    except ValueError:
        raise Unprocessable(
            f"'{name}' must be a date (2026-09-01) or an ISO 8601 time (2026-09-01T09:00:00Z); got '{value}'"
        ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def scope_for(
    session: Session,
    staff: Principal,
    metric: str,
    *,
    job_id: str | None,
    pipeline: str | None,
    start: str | None,
    end: str | None,
) -> Scope:
    if staff.role == "reviewer" and metric != REVIEWER_METRIC:
        raise Forbidden("reviewers see their own review load only: GET /api/v1/analytics/reviewers")
    if pipeline is not None and pipeline not in PIPELINES:
        raise Unprocessable(f"no pipeline named '{pipeline}'; known: {', '.join(sorted(PIPELINES))}")
    since, until = parse_when(start, "from", end=False), parse_when(end, "to", end=True)
    if since is not None and until is not None and since >= until:
        raise Unprocessable("'from' must come before 'to'")
    reviewer = None
    job_ids: tuple[str, ...] | None = None
    if staff.role == "reviewer":
        reviewer = staff.person_id or f"user:{staff.user_id}"  # no person: no assignments either
    elif not staff.sees_every_job:
        job_ids = tuple(sorted(member_job_ids(session, staff)))
    if job_id is not None:  # a job they may not see is a 404 (reviewers: their load on it, if any)
        job_ids = (job_id,) if staff.role == "reviewer" else (load_job(session, job_id, staff).id,)
    return Scope(job_ids=job_ids, pipeline=pipeline, start=since, end=until, reviewer=reviewer)


def compute(session: Session, metric: str, scope: Scope) -> dict[str, Any]:
    return counted.compute(session, metric, scope)
