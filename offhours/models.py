"""Product tables (SQLModel). A read model of the workflows plus the content they collect.

The Temporal history is the record of the process; these rows are written by idempotent activities
(upserts keyed by application id and step) and by the API before a workflow starts.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from offhours.states import ApplicationStatus


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    """An opaque, unguessable id: never derived from a name or an email."""
    return f"{prefix}_{secrets.token_hex(10)}"


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC and always returns timezone-aware datetimes (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where UTC is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self,
        value: datetime | None,
        dialect: Any,  # noqa: ARG002 (SQLAlchemy's interface)
    ) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _ts(nullable: bool = False, index: bool = False) -> Any:
    """A UTC timestamp column: set to now when created, or empty until the event happens."""
    column: Column[datetime] = Column(UTCDateTime(), nullable=nullable, index=index)
    if nullable:
        return Field(default=None, sa_column=column)
    return Field(default_factory=utcnow, sa_column=column)


class Job(SQLModel, table=True):
    __tablename__ = "jobs"

    id: str = Field(primary_key=True, max_length=40)
    title: str = Field(max_length=200)
    pipeline: str = Field(max_length=100)
    created_at: datetime = _ts()


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
    __table_args__ = (UniqueConstraint("job_id", "candidate_id", name="uq_application_job_candidate"),)

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
    __table_args__ = (UniqueConstraint("application_id", "reviewer", name="uq_scorecard_reviewer"),)

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
    )

    id: int | None = Field(default=None, primary_key=True)
    application_id: str = Field(foreign_key="applications.id", index=True, max_length=40)
    stage_id: str = Field(max_length=64)
    reviewer: str = Field(max_length=200, index=True)
    status: str = Field(default="assigned", max_length=16, index=True)  # assigned, completed, reassigned
    assigned_at: datetime = _ts()
    due_at: datetime = _ts()
    closed_at: datetime | None = _ts(nullable=True)


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


class User(SQLModel, table=True):
    """A member of staff. `person_id` links them to the pipelines' directory (pipelines/people.py),
    where reviewer pools, approvers and contacts are named."""

    __tablename__ = "users"

    id: str = Field(primary_key=True, max_length=40)
    email: str = Field(sa_column=Column(String(320), nullable=False, unique=True))
    name: str = Field(max_length=200)
    role: str = Field(max_length=16)  # ops, recruiter, reviewer or auditor
    person_id: str | None = Field(default=None, max_length=64, index=True)
    password_hash: str | None = Field(default=None, max_length=255)
    disabled_at: datetime | None = _ts(nullable=True)
    created_at: datetime = _ts()


class ApiToken(SQLModel, table=True):
    """A staff API token. Only its sha256 is stored: the token itself is shown once, at creation."""

    __tablename__ = "api_tokens"

    id: str = Field(primary_key=True, max_length=40)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=40)
    name: str = Field(max_length=100)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = _ts()
    last_used_at: datetime | None = _ts(nullable=True)
    revoked_at: datetime | None = _ts(nullable=True)


class WebSession(SQLModel, table=True):
    """A browser login: the cookie holds a random token whose sha256 is stored here."""

    __tablename__ = "web_sessions"

    id: str = Field(primary_key=True, max_length=40)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=40)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = _ts()
    expires_at: datetime = _ts()
    revoked_at: datetime | None = _ts(nullable=True)


class JobMember(SQLModel, table=True):
    """Who works on a job: a recruiter sees the jobs they are on (ops see every job)."""

    __tablename__ = "job_members"
    __table_args__ = (UniqueConstraint("job_id", "user_id", name="uq_job_member"),)

    id: int | None = Field(default=None, primary_key=True)
    job_id: str = Field(foreign_key="jobs.id", index=True, max_length=40)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=40)
    added_at: datetime = _ts()


class DataKey(SQLModel, table=True):
    """An application's data key, wrapped by a master key. Destroyed (wrapped = NULL) by erasure."""

    __tablename__ = "data_keys"

    application_id: str = Field(primary_key=True, max_length=40)
    master_key_id: str = Field(max_length=64)
    wrapped: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    created_at: datetime = _ts()
    destroyed_at: datetime | None = _ts(nullable=True)


class PersonalText(SQLModel, table=True):
    """Personal free text (a written answer, a note, a reason), sealed with the application's data
    key. Workflows carry its id and sha256, never the text."""

    __tablename__ = "personal_texts"

    id: str = Field(primary_key=True, max_length=40)
    application_id: str = Field(index=True, max_length=40)
    purpose: str = Field(max_length=32)  # answer, notes, decision_reason, withdrawal_reason, ...
    sha256: str = Field(max_length=64)
    sealed: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    created_at: datetime = _ts()


class LegalHold(SQLModel, table=True):
    """A legal hold on an application: while one is open, neither retention nor erasure runs."""

    __tablename__ = "legal_holds"

    id: str = Field(primary_key=True, max_length=40)
    application_id: str = Field(foreign_key="applications.id", index=True, max_length=40)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    placed_by: str = Field(max_length=200)
    placed_at: datetime = _ts()
    released_by: str | None = Field(default=None, max_length=200)
    released_at: datetime | None = _ts(nullable=True)
    # derived from the releasing call's Idempotency-Key: its retry finds what it released
    release_ref: str | None = Field(default=None, max_length=40)


class HistoryArchive(SQLModel, table=True):
    """An archived workflow history: the file's sha256 and a hash chain over all entries, so that a
    history altered or removed after archiving is detected (`offhours audit verify-chain`)."""

    __tablename__ = "history_archive"

    seq: int | None = Field(default=None, primary_key=True)
    workflow_id: str = Field(max_length=120, unique=True)
    application_id: str | None = Field(default=None, max_length=40, index=True)
    path: str = Field(max_length=300)  # relative to DATA_DIR
    sha256: str = Field(max_length=64)
    previous_chain: str = Field(max_length=64, unique=True)  # the chain value before this entry
    chain: str = Field(max_length=64, unique=True)  # sha256(previous_chain + sha256 + workflow_id)
    events: int
    archived_at: datetime = _ts()


class IdempotentRequest(SQLModel, table=True):
    """A state-changing call made with an `Idempotency-Key` (api/idempotency/): claimed while it
    runs, then its response, kept for a retry of the same call to answer. The key itself is not
    stored (the id is an HMAC of it and the caller's credential), and the response is sealed with a
    key derived from it, so a stored answer opens only for the caller who sent the key."""

    __tablename__ = "idempotent_requests"

    id: str = Field(primary_key=True, max_length=64)
    fingerprint: str = Field(max_length=64)  # an HMAC of the method, path and body
    state: str = Field(default="running", max_length=16)  # running, done
    claim: str = Field(max_length=32)  # drawn by the call that holds it; a takeover draws anew
    lease_until: datetime = _ts()  # a running claim older than this was left by a lost process
    application_id: str | None = Field(default=None, max_length=40, index=True)
    job_id: str | None = Field(default=None, max_length=40, index=True)  # a bulk invitation's job
    status_code: int | None = None
    sealed: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    created_at: datetime = _ts()
    expires_at: datetime = _ts(index=True)
