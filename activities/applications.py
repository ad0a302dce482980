"""Database writes for the application read model. Each is an idempotent upsert keyed by the
application id and the step, so a retried or replayed activity never duplicates a row."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from offhours.contracts import (
    AssignReviewers,
    LinkOpened,
    ReleaseAssignment,
    SaveAnswer,
    SaveAssessment,
    SaveBooking,
    SaveDecision,
    SaveFeedback,
    SaveModuleProgress,
    SaveScore,
    SaveScorecard,
    StatusChange,
)
from offhours.db import session_scope
from offhours.models import (
    Answer,
    Application,
    AssessmentResult,
    Booking,
    CandidateFeedback,
    ModuleProgress,
    ReviewAssignment,
    Scorecard,
)
from offhours.states import ApplicationStatus
from pipelines.people import POOLS


def _application(session: Session, application_id: str) -> Application:
    application = session.get(Application, application_id)
    if application is None:
        raise ApplicationError(
            f"application {application_id} is not in the database",
            type="MissingApplication",
            non_retryable=True,
        )
    return application


class ApplicationActivities:
    """Synchronous on purpose: the worker runs them in a thread pool, off the event loop."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @activity.defn(name="record_status")
    def record_status(self, change: StatusChange) -> None:
        status = ApplicationStatus(change.status)
        with session_scope(self.engine) as session:
            application = _application(session, change.application_id)
            application.status = status
            application.stage = change.stage
            application.updated_at = change.at
            if change.deadline is not None:
                application.deadline = change.deadline
            if status == ApplicationStatus.in_progress and application.started_at is None:
                application.started_at = change.at
            if status == ApplicationStatus.submitted and application.submitted_at is None:
                application.submitted_at = change.at
            if status.is_final and application.closed_at is None:
                application.closed_at = change.at
            session.add(application)

    @activity.defn(name="record_link_opened")
    def record_link_opened(self, event: LinkOpened) -> None:
        with session_scope(self.engine) as session:
            application = _application(session, event.application_id)
            if application.opened_at is None:
                application.opened_at = event.at
                session.add(application)

    @activity.defn(name="save_answer")
    def save_answer(self, request: SaveAnswer) -> None:
        answer = request.answer
        with session_scope(self.engine) as session:
            _application(session, request.application_id)
            row = session.exec(
                select(Answer).where(
                    Answer.application_id == request.application_id, Answer.question_id == answer.question_id
                )
            ).first() or Answer(
                application_id=request.application_id, question_id=answer.question_id, kind=""
            )
            row.kind = answer.kind
            row.text = answer.text
            row.file_sha256 = answer.file_sha256
            row.file_name = answer.file_name
            row.content_type = answer.content_type
            row.size = answer.size
            row.answered_at = request.at
            session.add(row)

    @activity.defn(name="save_scorecard")
    def save_scorecard(self, request: SaveScorecard) -> None:
        card = request.scorecard
        with session_scope(self.engine) as session:
            _application(session, request.application_id)
            row = session.exec(
                select(Scorecard).where(
                    Scorecard.application_id == request.application_id, Scorecard.reviewer == card.reviewer
                )
            ).first() or Scorecard(
                application_id=request.application_id,
                reviewer=card.reviewer,
                overall_recommendation="",
                ratings={},
            )
            row.overall_recommendation = card.overall_recommendation
            row.ratings = dict(card.ratings)
            row.notes = card.notes
            row.stage_id = request.stage_id
            row.submitted_by = card.submitted_by or None
            row.submitted_at = request.at
            session.add(row)
            assignment = session.exec(
                select(ReviewAssignment).where(
                    ReviewAssignment.application_id == request.application_id,
                    ReviewAssignment.stage_id == request.stage_id,
                    ReviewAssignment.reviewer == card.reviewer,
                )
            ).first()
            if assignment is not None and assignment.status != "completed":
                assignment.status = "completed"
                assignment.closed_at = request.at
                session.add(assignment)

    @activity.defn(name="save_decision")
    def save_decision(self, request: SaveDecision) -> None:
        with session_scope(self.engine) as session:
            application = _application(session, request.application_id)
            application.decision = request.decision.decision
            application.decision_reason = request.decision.reason
            application.decision_reason_code = request.decision.reason_code
            application.decided_by = request.decision.decided_by
            application.decided_at = request.at
            session.add(application)

    @activity.defn(name="save_assessment")
    def save_assessment(self, request: SaveAssessment) -> None:
        with session_scope(self.engine) as session:
            _application(session, request.application_id)
            row = session.exec(
                select(AssessmentResult).where(
                    AssessmentResult.application_id == request.application_id,
                    AssessmentResult.stage_id == request.stage_id,
                )
            ).first() or AssessmentResult(
                application_id=request.application_id,
                stage_id=request.stage_id,
                answers={},
                points=0,
                max_points=0,
                passed=False,
            )
            row.answers = dict(request.answers)
            row.points = request.points
            row.max_points = request.max_points
            row.passed = request.passed
            row.started_at = request.started_at
            row.finished_at = request.at
            session.add(row)

    @activity.defn(name="assign_reviewers")
    def assign_reviewers(self, request: AssignReviewers) -> list[str]:
        """Pick the least-loaded pool members (open assignments), ties in pool order, and record the
        assignments. Retried or replayed, it returns the same reviewers: existing rows come first."""
        pool = POOLS.get(request.pool)
        if pool is None:
            raise ApplicationError(
                f"pool '{request.pool}' does not exist", type="UnknownPool", non_retryable=True
            )
        with session_scope(self.engine) as session:
            _application(session, request.application_id)
            existing = session.exec(
                select(ReviewAssignment)
                .where(
                    ReviewAssignment.application_id == request.application_id,
                    ReviewAssignment.stage_id == request.stage_id,
                    ReviewAssignment.status == "assigned",
                    col(ReviewAssignment.assigned_at) >= request.at,
                )
                .order_by(col(ReviewAssignment.id))
            ).all()
            chosen = [a.reviewer for a in existing if a.reviewer not in request.exclude][: request.count]
            if len(chosen) >= request.count:
                return chosen
            load = dict(
                session.exec(
                    select(ReviewAssignment.reviewer, func.count())
                    .where(ReviewAssignment.status == "assigned")
                    .group_by(col(ReviewAssignment.reviewer))
                ).all()
            )
            candidates = [m for m in pool.members if m not in request.exclude and m not in chosen]
            candidates.sort(key=lambda m: (load.get(m, 0), pool.members.index(m)))
            for reviewer in candidates[: request.count - len(chosen)]:
                row = session.exec(
                    select(ReviewAssignment).where(
                        ReviewAssignment.application_id == request.application_id,
                        ReviewAssignment.stage_id == request.stage_id,
                        ReviewAssignment.reviewer == reviewer,
                    )
                ).first() or ReviewAssignment(
                    application_id=request.application_id, stage_id=request.stage_id, reviewer=reviewer
                )
                row.status = "assigned"
                row.assigned_at = request.at
                row.due_at = request.due
                row.closed_at = None
                session.add(row)
                chosen.append(reviewer)
            return chosen

    @activity.defn(name="release_assignment")
    def release_assignment(self, request: ReleaseAssignment) -> None:
        with session_scope(self.engine) as session:
            row = session.exec(
                select(ReviewAssignment).where(
                    ReviewAssignment.application_id == request.application_id,
                    ReviewAssignment.stage_id == request.stage_id,
                    ReviewAssignment.reviewer == request.reviewer,
                )
            ).first()
            if row is not None and row.status == "assigned":
                row.status = request.status
                row.closed_at = request.at
                session.add(row)

    @activity.defn(name="save_score")
    def save_score(self, request: SaveScore) -> None:
        with session_scope(self.engine) as session:
            application = _application(session, request.application_id)
            application.combined_score = request.score
            session.add(application)

    @activity.defn(name="save_feedback")
    def save_feedback(self, request: SaveFeedback) -> None:
        with session_scope(self.engine) as session:
            _application(session, request.application_id)
            row = session.exec(
                select(CandidateFeedback).where(
                    CandidateFeedback.application_id == request.application_id,
                    CandidateFeedback.stage_id == request.stage_id,
                )
            ).first() or CandidateFeedback(
                application_id=request.application_id,
                stage_id=request.stage_id,
                strengths=[],
                to_develop=[],
                next_steps="",
            )
            row.strengths = list(request.strengths)
            row.to_develop = list(request.to_develop)
            row.next_steps = request.next_steps
            row.edited_text = request.edited_text
            row.released = request.released
            if request.released and row.released_at is None:
                row.released_at = request.at
            session.add(row)

    @activity.defn(name="save_booking")
    def save_booking(self, request: SaveBooking) -> None:
        with session_scope(self.engine) as session:
            _application(session, request.application_id)
            row = session.exec(
                select(Booking).where(
                    Booking.application_id == request.application_id, Booking.stage_id == request.stage_id
                )
            ).first() or Booking(
                application_id=request.application_id,
                stage_id=request.stage_id,
                slot=request.slot,
                duration_minutes=0,
            )
            row.slot = request.slot
            row.duration_minutes = request.duration_minutes
            row.booked_at = request.at
            session.add(row)

    @activity.defn(name="save_module_progress")
    def save_module_progress(self, request: SaveModuleProgress) -> None:
        with session_scope(self.engine) as session:
            _application(session, request.application_id)
            exists = session.exec(
                select(ModuleProgress).where(
                    ModuleProgress.application_id == request.application_id,
                    ModuleProgress.module_id == request.module_id,
                )
            ).first()
            if exists is None:
                session.add(
                    ModuleProgress(
                        application_id=request.application_id,
                        module_id=request.module_id,
                        completed_at=request.at,
                    )
                )
