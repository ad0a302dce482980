"""Database writes for the application read model. Each is an idempotent upsert keyed by the
application id and the step, so a retried or replayed activity never duplicates a row."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from offhours.contracts import LinkOpened, SaveAnswer, SaveDecision, SaveScorecard, StatusChange
from offhours.db import session_scope
from offhours.models import Answer, Application, Scorecard
from offhours.states import ApplicationStatus


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
            row.submitted_at = request.at
            session.add(row)

    @activity.defn(name="save_decision")
    def save_decision(self, request: SaveDecision) -> None:
        with session_scope(self.engine) as session:
            application = _application(session, request.application_id)
            application.decision = request.decision.decision
            application.decision_reason = request.decision.reason
            application.decided_by = request.decision.decided_by
            application.decided_at = request.at
            session.add(application)
