"""Request and response bodies. Field names follow familiar ATS shapes (jobs, candidates,
applications, scorecards with overall_recommendation)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, field_validator

from offhours.states import ApplicationStatus, Decision, Recommendation

Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JobCreate(Strict):
    title: Text200
    pipeline: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class JobPublic(BaseModel):
    id: str
    title: str
    pipeline: str
    pipeline_version: str
    created_at: datetime


class CandidateIn(Strict):
    name: Text200
    email: EmailStr
    timezone: str = Field(description="IANA time zone, for example Europe/Paris")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{value}'; use an IANA name such as Europe/Paris") from None
        return value


class ApplicationCreate(Strict):
    job_id: str
    candidate: CandidateIn


class CandidatePublic(BaseModel):
    id: str
    name: str
    email: str
    timezone: str


class PipelineRef(BaseModel):
    name: str
    version: str


class AnswerPublic(BaseModel):
    question_id: str
    kind: str
    text: str | None
    file_sha256: str | None
    file_name: str | None
    content_type: str | None
    size: int | None
    answered_at: datetime


class ScorecardPublic(BaseModel):
    reviewer: str
    overall_recommendation: str
    ratings: dict[str, int]
    notes: str | None
    submitted_at: datetime


class ApplicationPublic(BaseModel):
    id: str
    job_id: str
    candidate: CandidatePublic
    status: ApplicationStatus
    stage: str
    deadline: datetime | None
    pipeline: PipelineRef
    decision: str | None
    decision_reason: str | None
    decided_by: str | None
    created_at: datetime
    updated_at: datetime
    opened_at: datetime | None
    started_at: datetime | None
    submitted_at: datetime | None
    decided_at: datetime | None
    closed_at: datetime | None


class ApplicationDetail(ApplicationPublic):
    answers: list[AnswerPublic]
    scorecards: list[ScorecardPublic]


class ScorecardCreate(Strict):
    overall_recommendation: Recommendation
    ratings: dict[
        Annotated[str, StringConstraints(min_length=1, max_length=100)], Annotated[int, Field(ge=1, le=5)]
    ]
    notes: Annotated[str, StringConstraints(max_length=20_000)] | None = None


class DecisionCreate(Strict):
    decision: Decision
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=5_000)] | None = None


class WithdrawCreate(Strict):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=5_000)] | None = None


class TextAnswerCreate(Strict):
    question_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    text: Annotated[str, StringConstraints(min_length=1, max_length=100_000)]


class QuestionPublic(BaseModel):
    id: str
    prompt: str
    type: str
    required: bool
    answered: bool


class Progress(BaseModel):
    answered: int
    total: int
    required_remaining: list[str]


class CandidateView(BaseModel):
    job_title: str
    candidate_name: str
    status: ApplicationStatus
    stage: str
    deadline: datetime | None
    deadline_local: str
    accepting_answers: bool
    questions: list[QuestionPublic]
    progress: Progress


class WorkflowStatePublic(BaseModel):
    status: str
    stage: str
    deadline: datetime | None
    answered: list[str]
