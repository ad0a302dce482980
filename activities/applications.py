"""Database writes for the application read model. Each is an idempotent upsert keyed by the
application id and the step, so a retried or replayed activity never duplicates a row."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, col, func, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.rollups import tracked
from activities.webhooks import emit, iso
from offhours.contracts import (
    AssignReviewers,
    LinkOpened,
    ReleaseAssignment,
    SaveAnswer,
    SaveAssessment,
    SaveBooking,
    SaveConsent,
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
    PersonalText,
    ReviewAssignment,
    Scorecard,
    ScorecardRating,
    StageTransition,
)
from offhours.settings import Settings
from offhours.states import ApplicationStatus
from offhours.touch import touch
from offhours.vault import Vault
from pipelines.people import POOLS

RowT = TypeVar("RowT", bound=SQLModel)


def _find(session: Session, model: type[RowT], **keys: Any) -> RowT | None:
    return session.exec(select(model).where(*(getattr(model, k) == v for k, v in keys.items()))).first()


def _upsert(session: Session, model: type[RowT], keys: dict[str, Any], **values: Any) -> RowT:
    """The row with these keys, created or updated with these values: retries write it once."""
    row = _find(session, model, **keys)
    if row is None:
        row = model(**keys, **values)
    else:
        for name, value in values.items():
            setattr(row, name, value)
    session.add(row)
    return row


def _application(session: Session, application_id: str) -> Application:
    application = session.get(Application, application_id)
    if application is None:
        raise ApplicationError(
            f"application {application_id} is not in the database",
            type="MissingApplication",
            non_retryable=True,
        )
    return application


def _save_ratings(
    session: Session, application: Application, stage_id: str, reviewer: str, ratings: dict[str, int]
) -> None:
    """The scorecard's ratings, one row per criterion (a corrected scorecard replaces them)."""
    rows = session.exec(
        select(ScorecardRating).where(
            ScorecardRating.application_id == application.id, ScorecardRating.reviewer == reviewer
        )
    ).all()
    for row in rows:
        if row.criterion not in ratings:
            session.delete(row)
    known = {row.criterion: row for row in rows}
    for criterion, rating in ratings.items():
        row = known.get(criterion) or ScorecardRating(
            application_id=application.id,
            reviewer=reviewer,
            criterion=criterion,
            rating=int(rating),
            job_id=application.job_id,
            pipeline_name=application.pipeline_name,
            invited_at=application.created_at,
            stage_id=stage_id,
        )
        row.rating, row.stage_id = int(rating), stage_id
        session.add(row)


def _append_transition(session: Session, application: Application, change: StatusChange) -> None:
    """The change as the application's next stage transition, unless it changes neither stage nor
    status (a moved deadline) or is the last row already (the activity retried after writing it)."""
    last = session.exec(
        select(StageTransition)
        .where(StageTransition.application_id == application.id)
        .order_by(col(StageTransition.seq).desc())
        .limit(1)
    ).first()
    if last is not None and (last.to_stage, last.to_status) == (change.stage, change.status):
        return
    if last is not None and change.at < last.at:
        return  # an older change replayed after a newer one was recorded: the order stands
    invited_at = application.created_at  # the cohort every metric's date range filters on
    point = (
        "submitted"
        if change.status == "submitted"
        else "decided"
        if change.status in ("approved", "rejected")
        else None
    )
    if point is not None and last is not None:
        earlier = select(StageTransition.id).where(
            StageTransition.application_id == application.id, StageTransition.milestone == point
        )
        if session.exec(earlier).first() is not None:
            point = None  # reached before: the first time counts
    moved = last is None or last.to_stage != change.stage
    stage_since = change.at if moved else last.stage_since  # type: ignore[union-attr]
    session.add(
        StageTransition(
            application_id=application.id,
            seq=1 if last is None else last.seq + 1,
            job_id=application.job_id,
            pipeline_name=application.pipeline_name,
            invited_at=invited_at,
            from_stage=None if last is None else last.to_stage,
            from_status=None if last is None else last.to_status,
            to_stage=change.stage,
            to_status=change.status,
            at=change.at,
            stage_since=stage_since,
            stay_seconds=(change.at - last.stage_since).total_seconds()
            if last is not None and moved
            else None,
            since_invite_seconds=max((change.at - invited_at).total_seconds(), 0.0),
            milestone=point,
        )
    )
    _emit_transition(session, application, last, change, point, 1 if last is None else last.seq + 1)


def _emit_transition(
    session: Session,
    application: Application,
    last: StageTransition | None,
    change: StatusChange,
    point: str | None,
    seq: int,
) -> None:
    """The webhook events of a new transition: created (the first), submitted (the first time),
    stage changed, closed (the first final status). Keys make a retried activity emit nothing."""
    if last is None:
        emit(session, application, "application.created", "created", change.at)
    if point == "submitted":
        emit(session, application, "application.submitted", "submitted", change.at)
    if last is not None and last.to_stage != change.stage:
        emit(
            session,
            application,
            "application.stage_changed",
            f"stage:{seq}",
            change.at,
            previous_stage=last.to_stage,
        )
    final = ApplicationStatus(change.status).is_final
    if final and (last is None or not ApplicationStatus(last.to_status).is_final):
        emit(session, application, "application.closed", "closed", change.at, outcome=change.status)


class ApplicationActivities:
    """Synchronous on purpose: the worker runs them in a thread pool, off the event loop."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.vault = Vault(settings)

    def _text(self, session: Session, text_id: str | None, given: str | None) -> str | None:
        """Personal text a workflow refers to by id (or, in histories recorded before, carried)."""
        if text_id is None:
            return given
        return self.vault.read_text(session, text_id)

    @activity.defn(name="record_status")
    def record_status(self, change: StatusChange) -> None:
        status = ApplicationStatus(change.status)
        with session_scope(self.engine) as session, tracked(session, change.application_id):
            application = _application(session, change.application_id)
            application.status = status
            application.stage = change.stage
            touch(application)
            if change.deadline is not None:
                application.deadline = change.deadline
            if status == ApplicationStatus.in_progress and application.started_at is None:
                application.started_at = change.at
            if status == ApplicationStatus.submitted and application.submitted_at is None:
                application.submitted_at = change.at
            if status.is_final and application.closed_at is None:
                application.closed_at = change.at
            session.add(application)
            _append_transition(session, application, change)

    @activity.defn(name="record_link_opened")
    def record_link_opened(self, event: LinkOpened) -> None:
        with session_scope(self.engine) as session, tracked(session, event.application_id):
            application = _application(session, event.application_id)
            if application.opened_at is None:
                application.opened_at = event.at
                touch(application)
                session.add(application)

    @activity.defn(name="record_consent")
    def record_consent(self, consent: SaveConsent) -> None:
        with session_scope(self.engine) as session:
            application = _application(session, consent.application_id)
            if application.consent_at is None:
                application.consent_at = consent.at
                application.consent_version = consent.version
                session.add(application)

    @activity.defn(name="save_answer")
    def save_answer(self, request: SaveAnswer) -> None:
        answer = request.answer
        with session_scope(self.engine) as session, tracked(session, request.application_id):
            touch(_application(session, request.application_id))
            before = _find(
                session, Answer, application_id=request.application_id, question_id=answer.question_id
            )
            if before is not None and before.text_id and before.text_id != answer.text_id:
                replaced = session.get(PersonalText, before.text_id)  # a corrected written answer
                if replaced is not None:
                    session.delete(replaced)
            _upsert(
                session,
                Answer,
                {"application_id": request.application_id, "question_id": answer.question_id},
                kind=answer.kind,
                text=answer.text if answer.text_id is None else None,
                text_id=answer.text_id,
                text_sha256=answer.text_sha256,
                file_sha256=answer.file_sha256,
                file_name=answer.file_name,
                content_type=answer.content_type,
                size=answer.size,
                duration_seconds=answer.duration_seconds,
                answered_at=request.at,
            )

    @activity.defn(name="save_scorecard")
    def save_scorecard(self, request: SaveScorecard) -> None:
        card = request.scorecard
        with session_scope(self.engine) as session, tracked(session, request.application_id):
            application = touch(_application(session, request.application_id))
            _upsert(
                session,
                Scorecard,
                {"application_id": request.application_id, "reviewer": card.reviewer},
                overall_recommendation=card.overall_recommendation,
                ratings=dict(card.ratings),
                notes=self._text(session, card.notes_id, card.notes),
                stage_id=request.stage_id,
                submitted_by=card.submitted_by or None,
                submitted_at=request.at,
            )
            _save_ratings(session, application, request.stage_id, card.reviewer, dict(card.ratings))
            saved = _find(session, Scorecard, application_id=request.application_id, reviewer=card.reviewer)
            assert saved is not None
            emit(
                session,
                application,
                "scorecard.submitted",
                f"scorecard:{card.reviewer}:{iso(request.at)}",
                request.at,
                scorecard={"id": saved.id, "stage_id": request.stage_id, "interviewer_id": card.reviewer},
            )
            assignment = _find(
                session,
                ReviewAssignment,
                application_id=request.application_id,
                stage_id=request.stage_id,
                reviewer=card.reviewer,
            )
            if assignment is not None and assignment.status != "completed":
                assignment.status = "completed"
                assignment.closed_at = request.at
                assignment.seconds_to_score = max((request.at - assignment.assigned_at).total_seconds(), 0.0)
                session.add(assignment)

    @activity.defn(name="save_decision")
    def save_decision(self, request: SaveDecision) -> None:
        with session_scope(self.engine) as session:
            application = _application(session, request.application_id)
            application.decision = request.decision.decision
            application.decision_reason = self._text(
                session, request.decision.reason_id, request.decision.reason
            )
            application.decision_reason_code = request.decision.reason_code
            application.decided_by = request.decision.decided_by
            application.decided_at = request.at
            touch(application)
            session.add(application)
            emit(
                session,
                application,
                "decision.made",
                "decision",
                request.at,
                decision=request.decision.decision,
                reason_code=request.decision.reason_code,
                decided_by=request.decision.decided_by,
            )

    @activity.defn(name="save_assessment")
    def save_assessment(self, request: SaveAssessment) -> None:
        with session_scope(self.engine) as session:
            touch(_application(session, request.application_id))
            _upsert(
                session,
                AssessmentResult,
                {"application_id": request.application_id, "stage_id": request.stage_id},
                answers=dict(request.answers),
                points=request.points,
                max_points=request.max_points,
                passed=request.passed,
                started_at=request.started_at,
                finished_at=request.at,
            )

    @activity.defn(name="assign_reviewers")
    def assign_reviewers(self, request: AssignReviewers) -> list[str]:
        """Pick the least-loaded pool members (open assignments), ties in pool order, and record the
        assignments. Retried or replayed, it returns the same reviewers: existing rows come first."""
        pool = POOLS.get(request.pool)
        if pool is None:
            raise ApplicationError(
                f"pool '{request.pool}' does not exist", type="UnknownPool", non_retryable=True
            )
        with session_scope(self.engine) as session, tracked(session, request.application_id):
            application = _application(session, request.application_id)
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
                _upsert(
                    session,
                    ReviewAssignment,
                    {
                        "application_id": request.application_id,
                        "stage_id": request.stage_id,
                        "reviewer": reviewer,
                    },
                    status="assigned",
                    assigned_at=request.at,
                    due_at=request.due,
                    closed_at=None,
                    job_id=application.job_id,
                )
                touch(application)
                chosen.append(reviewer)
            return chosen

    @activity.defn(name="release_assignment")
    def release_assignment(self, request: ReleaseAssignment) -> None:
        with session_scope(self.engine) as session, tracked(session, request.application_id):
            row = _find(
                session,
                ReviewAssignment,
                application_id=request.application_id,
                stage_id=request.stage_id,
                reviewer=request.reviewer,
            )
            if row is not None and row.status == "assigned":
                row.status = request.status
                row.closed_at = request.at
                touch(_application(session, request.application_id))
                session.add(row)

    @activity.defn(name="save_score")
    def save_score(self, request: SaveScore) -> None:
        with session_scope(self.engine) as session:
            application = _application(session, request.application_id)
            application.combined_score = request.score
            touch(application)
            session.add(application)

    @activity.defn(name="save_feedback")
    def save_feedback(self, request: SaveFeedback) -> None:
        with session_scope(self.engine) as session:
            touch(_application(session, request.application_id))
            keys = {"application_id": request.application_id, "stage_id": request.stage_id}
            released_before = _find(session, CandidateFeedback, **keys)
            _upsert(
                session,
                CandidateFeedback,
                keys,
                strengths=list(request.strengths),
                to_develop=list(request.to_develop),
                next_steps=request.next_steps,
                edited_text=self._text(session, request.edited_text_id, request.edited_text),
                released=request.released,
                released_at=(released_before.released_at if released_before else None)
                or (request.at if request.released else None),
            )

    @activity.defn(name="save_booking")
    def save_booking(self, request: SaveBooking) -> None:
        with session_scope(self.engine) as session:
            touch(_application(session, request.application_id))
            _upsert(
                session,
                Booking,
                {"application_id": request.application_id, "stage_id": request.stage_id},
                slot=request.slot,
                duration_minutes=request.duration_minutes,
                booked_at=request.at,
            )

    @activity.defn(name="save_module_progress")
    def save_module_progress(self, request: SaveModuleProgress) -> None:
        with session_scope(self.engine) as session:
            _application(session, request.application_id)
            keys = {"application_id": request.application_id, "module_id": request.module_id}
            if _find(session, ModuleProgress, **keys) is None:  # the first completion counts
                _upsert(session, ModuleProgress, keys, completed_at=request.at)
