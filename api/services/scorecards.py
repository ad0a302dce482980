"""Scorecards across applications, for integrations: every scorecard the caller may see (recruiters:
on the jobs they are on), a page at a time in submission order."""

from __future__ import annotations

from sqlmodel import Session, col, select

from api.deps import Principal
from api.pagination import Paging, page
from api.schemas import Interviewer, ScorecardListed, StageRef
from api.services.access import member_job_ids
from api.services.applications import stage_name
from offhours.models import Application, Scorecard
from pipelines.people import PEOPLE


def scorecard_listed(card: Scorecard, application: Application) -> ScorecardListed:
    assert card.id is not None
    person = PEOPLE.get(card.reviewer)
    return ScorecardListed(
        id=card.id,
        application_id=application.id,
        candidate_id=application.candidate_id,
        job_id=application.job_id,
        stage_id=card.stage_id,
        interview_step=StageRef(
            id=card.stage_id, name=stage_name(application.pipeline_snapshot, card.stage_id)
        ),
        reviewer=card.reviewer,
        interviewer=Interviewer(id=card.reviewer, name=person.name if person else card.reviewer),
        submitted_by=card.submitted_by,
        submitted_at=card.submitted_at,
        updated_at=card.submitted_at,
        overall_recommendation=card.overall_recommendation,
        ratings=dict(card.ratings),
        notes=card.notes,
    )


def list_scorecards(
    session: Session,
    staff: Principal,
    job_id: str | None,
    application_id: str | None,
    paging: Paging,
) -> tuple[list[ScorecardListed], str | None]:
    """A page of the scorecards `staff` may see, in (submitted_at, id) order, and the next cursor.
    Only roles that read whole applications reach this (the policy): the same applications as the
    application list, so a recruiter sees the scorecards of their jobs' applications."""
    query = select(Scorecard, Application).join(
        Application, col(Application.id) == col(Scorecard.application_id)
    )
    if not staff.sees_every_job:
        query = query.where(col(Application.job_id).in_(member_job_ids(session, staff)))
    if job_id is not None:
        query = query.where(Application.job_id == job_id)
    if application_id is not None:
        query = query.where(Scorecard.application_id == application_id)
    rows, next_cursor = page(session, query, col(Scorecard.submitted_at), col(Scorecard.id), paging)
    return [scorecard_listed(card, application) for card, application in rows], next_cursor
