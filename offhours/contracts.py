"""Inputs and outputs exchanged between the API, the workflows and the activities.

Plain dataclasses only (no I/O), so the deterministic workflow sandbox can import them. They hold no
name or email: activities look personal data up by application id, which keeps it out of workflow
histories.
"""

from dataclasses import dataclass, field
from datetime import datetime

from pipelines.base import Pipeline

# Types of ApplicationError raised by workflow update validators; the API maps them to HTTP codes.
CONFLICT = "Conflict"  # the request is well formed but the application's state refuses it -> 409
INVALID = "Invalid"  # the request does not fit the pipeline (unknown question, wrong type) -> 422


@dataclass
class ApplicationInput:
    application_id: str
    job_id: str
    pipeline: Pipeline
    pipeline_version: str


@dataclass
class AnswerInput:
    question_id: str
    kind: str  # "text" or "file"
    text: str | None = None
    file_sha256: str | None = None
    file_name: str | None = None
    content_type: str | None = None
    size: int | None = None


@dataclass
class ScorecardInput:
    reviewer: str
    overall_recommendation: str
    ratings: dict[str, int]
    notes: str | None = None


@dataclass
class DecisionInput:
    decision: str  # "approve" or "reject"
    decided_by: str
    reason: str | None = None


@dataclass
class WithdrawInput:
    requested_by: str
    reason: str | None = None


@dataclass
class ApplicationState:
    """What the workflow knows, returned by its query and by every update."""

    application_id: str
    status: str
    stage: str
    deadline: datetime | None
    opened_at: datetime | None = None
    answered: list[str] = field(default_factory=list)
    reminders_sent: list[str] = field(default_factory=list)
    scorecards: int = 0
    decision: str | None = None


@dataclass
class LinkOpened:
    application_id: str
    at: datetime


@dataclass
class StatusChange:
    application_id: str
    status: str
    stage: str
    at: datetime
    deadline: datetime | None = None


@dataclass
class SaveAnswer:
    application_id: str
    answer: AnswerInput
    at: datetime


@dataclass
class SaveScorecard:
    application_id: str
    scorecard: ScorecardInput
    at: datetime


@dataclass
class SaveDecision:
    application_id: str
    decision: DecisionInput
    at: datetime


@dataclass
class EmailRequest:
    """One intended message. (application_id, message_key) identifies it for exactly-once sending."""

    application_id: str
    message_key: str
    template: str
    deadline: datetime | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass
class EmailResult:
    message_id: str
    sent_now: bool
