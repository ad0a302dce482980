"""The application and what it collects: jobs, candidates, answers, scorecards, emails, stages' records,
messages, deletion requests. A read model of the workflows (written by idempotent activities keyed by
application and step) plus the content they collect."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Integer, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from offhours.models.base import _ts
from offhours.states import ApplicationStatus


class Job(SQLModel, table=True):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_updated", "updated_at", "id"),)

    id: str = Field(primary_key=True, max_length=40)
    title: str = Field(max_length=200)
    pipeline: str = Field(max_length=100)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class Candidate(SQLModel, table=True):
    __tablename__ = "candidates"

    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=200)
    email: str = Field(sa_column=Column(String(320), nullable=False, unique=True))
    timezone: str = Field(max_length=64)
    created_at: datetime = _ts()


def invited_as(candidate: Candidate, application: Application) -> Candidate:
    """The candidate as this application knows them: its own name and time zone where it has them
    (a detached copy; the shared row is not changed)."""
    return Candidate(
        id=candidate.id,
        name=candidate.name if application.candidate_name is None else application.candidate_name,
        email=candidate.email,
        timezone=candidate.timezone
        if application.candidate_timezone is None
        else application.candidate_timezone,
        created_at=candidate.created_at,
    )


class Application(SQLModel, table=True):
    __tablename__ = "applications"
    __table_args__ = (
        UniqueConstraint("job_id", "candidate_id", name="uq_application_job_candidate"),
        Index("ix_applications_updated", "updated_at", "id"),
    )

    id: str = Field(primary_key=True, max_length=40)
    job_id: str = Field(foreign_key="jobs.id", index=True, max_length=40)
    candidate_id: str = Field(foreign_key="candidates.id", index=True, max_length=40)
    workflow_id: str = Field(max_length=80, unique=True)
    status: ApplicationStatus = Field(
        default=ApplicationStatus.invited, sa_column=Column(String(32), nullable=False, index=True)
    )
    stage: str = Field(default="invite", max_length=40)
    pipeline_name: str = Field(max_length=100)
    pipeline_version: str = Field(max_length=64)
    pipeline_snapshot: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    deadline: datetime | None = _ts(nullable=True)
    combined_score: float | None = None
    decision: str | None = Field(default=None, max_length=16)
    decision_reason_code: str | None = Field(default=None, max_length=64)
    decision_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    decided_by: str | None = Field(default=None, max_length=200)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
    opened_at: datetime | None = _ts(nullable=True)  # the candidate first opened their link
    started_at: datetime | None = _ts(nullable=True)
    submitted_at: datetime | None = _ts(nullable=True)
    decided_at: datetime | None = _ts(nullable=True)
    closed_at: datetime | None = _ts(nullable=True)
    # The candidate's consent to recording: when, and which wording (sha256 of the consent text).
    consent_at: datetime | None = _ts(nullable=True)
    consent_version: str | None = Field(default=None, max_length=64)
    # Privacy: retention counts from closed_at; erasure keeps ids, timestamps, outcomes and digests.
    retention_days: int | None = None
    legal_hold_at: datetime | None = _ts(nullable=True)  # on hold: neither retention nor erasure runs
    erasure_requested_at: datetime | None = _ts(nullable=True)
    erased_at: datetime | None = _ts(nullable=True)
    erased_by: str | None = Field(default=None, max_length=200)
    erasure_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # The candidate as this invitation named them. A candidate row is shared by the applications
    # of one email address, and what one job's recruiter typed is not shown to another's.
    candidate_name: str | None = Field(default=None, max_length=200)
    candidate_timezone: str | None = Field(default=None, max_length=64)
    # Candidate links carry it (offhours/links.py); a new link moves it on and older links stop.
    link_generation: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))


class Answer(SQLModel, table=True):
    __tablename__ = "answers"
    __table_args__ = (UniqueConstraint("application_id", "question_id", name="uq_answer_question"),)

    id: int | None = Field(default=None, primary_key=True)
    application_id: str = Field(foreign_key="applications.id", index=True, max_length=40)
    question_id: str = Field(max_length=64)
    kind: str = Field(max_length=16)
    text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # before Step 6 only
    text_id: str | None = Field(default=None, max_length=40)  # the sealed text (personal_texts)
    text_sha256: str | None = Field(default=None, max_length=64)
    file_sha256: str | None = Field(default=None, max_length=64)
    file_name: str | None = Field(default=None, max_length=255)
    content_type: str | None = Field(default=None, max_length=255)
    size: int | None = None
    duration_seconds: float | None = None  # recorded answers: measured from the media itself
    answered_at: datetime = _ts()


class Scorecard(SQLModel, table=True):
    __tablename__ = "scorecards"
    __table_args__ = (
        UniqueConstraint("application_id", "reviewer", name="uq_scorecard_reviewer"),
        Index("ix_scorecards_submitted", "submitted_at", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    application_id: str = Field(foreign_key="applications.id", index=True, max_length=40)
    reviewer: str = Field(max_length=200)
    stage_id: str = Field(default="review", max_length=64)
    submitted_by: str | None = Field(default=None, max_length=200)
    overall_recommendation: str = Field(max_length=32)
    ratings: dict[str, int] = Field(sa_column=Column(JSON, nullable=False))
    notes: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    submitted_at: datetime = _ts()


class EmailMessage(SQLModel, table=True):
    """The outbox: one row per intended message, so that a retried send never sends twice."""

    __tablename__ = "email_messages"
    __table_args__ = (UniqueConstraint("application_id", "message_key", name="uq_email_message_key"),)

    id: int | None = Field(default=None, primary_key=True)
    application_id: str = Field(foreign_key="applications.id", index=True, max_length=40)
    message_key: str = Field(max_length=64)
    message_id: str = Field(max_length=255, unique=True)
    template: str = Field(max_length=64)
    recipient: str = Field(max_length=320)
    subject: str = Field(max_length=300)
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = _ts()
    sent_at: datetime | None = _ts(nullable=True)


class AssessmentResult(SQLModel, table=True):
    __tablename__ = "assessment_results"
    __table_args__ = (UniqueConstraint("application_id", "stage_id", name="uq_assessment_stage"),)

    id: int | None = Field(default=None, primary_key=True)
    application_id: str = Field(foreign_key="applications.id", index=True, max_length=40)
    stage_id: str = Field(max_length=64)
    answers: dict[str, str] = Field(sa_column=Column(JSON, nullable=False))
    points: int
    max_points: int
    passed: bool
    started_at: datetime = _ts()
    finished_at: datetime = _ts()


class ReviewAssignment(SQLModel, table=True):
    """Who reviews what: the open ones are each reviewer's queue and load."""

    __tablename__ = "review_assignments"
    __table_args__ = (
        UniqueConstraint("application_id", "stage_id", "reviewer", name="uq_review_assignment"),
        Index("ix_review_assignments_reviewer_seconds", "reviewer", "seconds_to_score"),
        Index("ix_review_assignments_job_reviewer_seconds", "job_id", "reviewer", "seconds_to_score"),
    )

    id: int | None = Field(default=None, primary_key=True)
    application_id: str = Field(foreign_key="applications.id", index=True, max_length=40)
    stage_id: str = Field(max_length=64)
    reviewer: str = Field(max_length=200, index=True)
    status: str = Field(default="assigned", max_length=16, index=True)  # assigned, completed, reassigned
    assigned_at: datetime = _ts()
    due_at: datetime = _ts()
    closed_at: datetime | None = _ts(nullable=True)
    job_id: str | None = Field(default=None, max_length=40)  # the application's, for analytics
    seconds_to_score: float | None = None  # assigned to scored, once completed


class CandidateFeedback(SQLModel, table=True):
    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("application_id", "stage_id", name="uq_feedback_stage"),)

    id: int | None = Field(default=None, primary_key=True)
    application_id: str = Field(foreign_key="applications.id", index=True, max_length=40)
    stage_id: str = Field(max_length=64)
    strengths: list[str] = Field(sa_column=Column(JSON, nullable=False))
    to_develop: list[str] = Field(sa_column=Column(JSON, nullable=False))
    next_steps: str = Field(sa_column=Column(Text, nullable=False))
    edited_text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    released: bool = False
    created_at: datetime = _ts()
    released_at: datetime | None = _ts(nullable=True)


class Booking(SQLModel, table=True):
    __tablename__ = "bookings"
    __table_args__ = (UniqueConstraint("application_id", "stage_id", name="uq_booking_stage"),)

    id: int | None = Field(default=None, primary_key=True)
    application_id: str = Field(foreign_key="applications.id", index=True, max_length=40)
    stage_id: str = Field(max_length=64)
    slot: datetime = _ts()
    duration_minutes: int
    booked_at: datetime = _ts()


class ModuleProgress(SQLModel, table=True):
    __tablename__ = "module_progress"
    __table_args__ = (UniqueConstraint("application_id", "module_id", name="uq_module_progress"),)

    id: int | None = Field(default=None, primary_key=True)
    application_id: str = Field(foreign_key="applications.id", index=True, max_length=40)
    module_id: str = Field(max_length=64)
    completed_at: datetime = _ts()


class ContactMessage(SQLModel, table=True):
    """The candidate's thread with their contact person: questions one way, answers the other."""

    __tablename__ = "contact_messages"
    __table_args__ = (Index("ix_contact_messages_created", "created_at", "id"),)

    id: str = Field(primary_key=True, max_length=40)
    application_id: str = Field(foreign_key="applications.id", index=True, max_length=40)
    author: str = Field(max_length=200)  # "candidate" or the staff member's id
    body: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = _ts()


class DeletionRequest(SQLModel, table=True):
    """A candidate asked for their data to be deleted. Carried out by the privacy tooling."""

    __tablename__ = "deletion_requests"

    id: int | None = Field(default=None, primary_key=True)
    application_id: str = Field(foreign_key="applications.id", unique=True, max_length=40)
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    requested_at: datetime = _ts()
    completed_at: datetime | None = _ts(nullable=True)


# ------------------------------------------------------------------------------------ staff accounts
