"""A reviewer's view of an application: blind where the stage is, independent (no other scores
before their own), and the criteria of the review stage they are assigned to, which their scorecard
rates: the JSON API's review view and the reviewer's page are the same."""

from __future__ import annotations

from sqlmodel import Session, col, select

from api.deps import Principal
from api.errors import Forbidden, NotFound
from api.schemas import ReviewView
from api.services.access import REVIEWING, hides_identity, load_application
from api.services.applications import application_detail, blind_answers
from offhours.models import Application, Job, ReviewAssignment
from pipelines.base import pipeline_from_snapshot
from pipelines.stages import Review


def review_stage(session: Session, application: Application, reviewer_id: str) -> Review:
    """The review stage `reviewer_id` scores on the application: the one of the review that is
    theirs now, open before scored (a reviewer reaches this only with one); ops may look at any
    they had. Its criteria are those the workflow takes in their scorecard."""
    assignments = session.exec(
        select(ReviewAssignment)
        .where(ReviewAssignment.application_id == application.id, ReviewAssignment.reviewer == reviewer_id)
        .order_by(col(ReviewAssignment.id))
    ).all()
    # On a pipeline with several review stages the open one comes first: it is the one being scored.
    assignment = (
        next((a for a in assignments if a.status == "assigned"), None)
        or next((a for a in assignments if a.status in REVIEWING), None)
        or next(iter(assignments), None)
    )
    if assignment is None:
        raise NotFound(f"reviewer '{reviewer_id}' has no review of application '{application.id}'")
    pipeline = pipeline_from_snapshot(application.pipeline_snapshot)
    review = next((s for s in pipeline.stages if isinstance(s, Review) and s.id == assignment.stage_id), None)
    assert review is not None
    return review


def review_view(session: Session, staff: Principal, application_id: str, reviewer_id: str) -> ReviewView:
    if staff.role == "reviewer" and reviewer_id != staff.person_id:
        raise Forbidden("a reviewer sees only their own reviews")
    application = load_application(session, application_id, staff)
    review = review_stage(session, application, reviewer_id)
    detail = application_detail(session, application)
    blind = review.blind or hides_identity(staff, application)
    own = next((c for c in detail.scorecards if c.reviewer == reviewer_id), None)
    others = [c for c in detail.scorecards if c.reviewer != reviewer_id]
    job = session.get(Job, application.job_id)
    return ReviewView(
        application_id=application.id,
        job_title=job.title if job else "",
        reviewer_id=reviewer_id,
        blind=blind,
        candidate_name=None if blind else detail.candidate.name,
        answers=blind_answers(detail.answers) if blind else detail.answers,
        assessments=detail.assessments,
        criteria=[
            {"id": c.id, "title": c.title, "weight": c.weight, "anchors": list(c.anchors)}
            for c in review.criteria
        ],
        own_scorecard=own,
        other_scorecards=others if own is not None or not review.independent else None,
        combined_score=application.combined_score if own is not None or not review.independent else None,
    )
