"""Bodies of the staff API: jobs, pipelines, applications, reviews, decisions, privacy."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AwareDatetime,
    BaseModel,
    EmailStr,
    Field,
    StringConstraints,
    field_validator,
)

from api.schemas.common import IANA_ZONES, PIPELINE_NAMES, Strict, Text200
from offhours.states import ApplicationStatus, Decision, Recommendation


class JobCreate(Strict):
    title: Text200
    pipeline: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] = Field(
        description="One of the pipelines ops have defined (GET /api/v1/pipelines)",
        json_schema_extra={"enum": PIPELINE_NAMES},
    )


class JobPublic(BaseModel):
    id: str
    title: str
    pipeline: str
    pipeline_version: str
    created_at: datetime
    updated_at: datetime = Field(description="When the job last changed: the cursor order of the job list")
    name: str = Field(description="The title, under Greenhouse Harvest's name for it")


class JobMemberPublic(BaseModel):
    job_id: str
    user_id: str


class RowProblem(BaseModel):
    line: int = Field(description="The CSV line, counting the header as line 1")
    reason: str


class BulkInvitePublic(BaseModel):
    invited: int
    already_invited: int
    errors: list[RowProblem] = Field(description="The rows not invited, and why")
    rows: int


class PipelineSummary(BaseModel):
    name: str
    title: str
    version: str
    stages: list[str] = Field(description="The kinds of its stages, in order")


class PipelineDefinition(BaseModel):
    version: str
    definition: dict[str, Any]


class FileLinkPublic(BaseModel):
    url: str = Field(description="Signed; works until `expires` for the user it was issued to")
    expires: int = Field(description="Unix time")
    sha256: str


class CandidateIn(Strict):
    name: Text200
    email: EmailStr
    timezone: str = Field(
        description="IANA time zone, for example Europe/Paris",
        json_schema_extra={"enum": IANA_ZONES} if IANA_ZONES else None,
    )

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
    text_sha256: str | None = Field(
        default=None, description="sha256 of a written answer (kept after erasure)"
    )
    file_sha256: str | None
    file_name: str | None
    content_type: str | None = Field(description="Read from the file's content, not from the upload")
    size: int | None
    duration_seconds: float | None = Field(default=None, description="Recordings: measured from the media")
    answered_at: datetime


class ScorecardPublic(BaseModel):
    reviewer: str
    stage_id: str
    submitted_by: str | None
    overall_recommendation: str
    ratings: dict[str, int]
    notes: str | None
    submitted_at: datetime


class StageRef(BaseModel):
    id: str
    name: str


class Interviewer(BaseModel):
    id: str = Field(description="Their id in the staff directory")
    name: str


class ScorecardListed(BaseModel):
    """A scorecard as the scorecard list gives it, in Greenhouse Harvest's names: `interviewer` (the
    reviewer, by directory id and name), `interview_step` (the review stage), `submitted_by` (the
    account that submitted it), `overall_recommendation` (definitely_not, no, yes, strong_yes,
    no_decision) and `ratings` (each criterion of the stage, 1 to 5, on the pipeline's anchors)."""

    id: int
    application_id: str
    candidate_id: str
    job_id: str
    stage_id: str
    interview_step: StageRef
    reviewer: str = Field(description="= `interviewer.id`")
    interviewer: Interviewer
    submitted_by: str | None
    submitted_at: datetime
    updated_at: datetime = Field(
        description="= `submitted_at`: a corrected scorecard replaces the earlier one, and its time"
    )
    overall_recommendation: str
    ratings: dict[str, int]
    notes: str | None = Field(description="The reviewer's notes; null once the application is erased")


class ApplicationPublic(BaseModel):
    """An application as staff and integrations read it. Beside its own names, those of Greenhouse
    Harvest where it has one: `candidate_id`, `applied_at` (= `created_at`), `last_activity_at`
    (= `updated_at`), `current_stage` (= `stage`, with a name), `rejected_at`."""

    id: str
    job_id: str
    candidate: CandidatePublic
    candidate_id: str = Field(description="The candidate's id (empty when their identity is withheld)")
    status: ApplicationStatus
    stage: str
    current_stage: StageRef = Field(description="The stage the application is at, by id and name")
    deadline: datetime | None
    pipeline: PipelineRef
    combined_score: float | None
    decision: str | None
    decision_reason: str | None
    decision_reason_code: str | None
    decided_by: str | None
    created_at: datetime
    updated_at: datetime = Field(
        description="When anything shown here last changed (status, answers, scorecards, decision, "
        "privacy, messages): the cursor order of the application list, and what `updated_after` filters"
    )
    applied_at: datetime = Field(description="When the candidate was invited (= `created_at`)")
    last_activity_at: datetime = Field(description="= `updated_at`")
    rejected_at: datetime | None = Field(default=None, description="When it closed as rejected, if it did")
    opened_at: datetime | None
    started_at: datetime | None
    submitted_at: datetime | None
    decided_at: datetime | None
    closed_at: datetime | None
    # Privacy: when the content is due for erasure (retention counted from the close), whether a
    # legal hold suspends that, and when the content was erased (ids, outcomes and digests remain).
    retention_until: datetime | None = None
    legal_hold: bool = False
    erasure_requested_at: datetime | None = None
    erased_at: datetime | None = None
    erased_by: str | None = None
    identity_hidden: bool = Field(
        default=False,
        description="The candidate's identity is withheld from this caller (a reviewer on a blind "
        "review): `candidate` then holds empty strings, file names are neutral",
    )


class LegalHoldCreate(Strict):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)] = Field(
        description="why the application's data must be kept (a claim, an investigation)"
    )


class LegalHoldPublic(BaseModel):
    id: str
    application_id: str
    reason: str
    placed_by: str
    placed_at: datetime
    released_by: str | None
    released_at: datetime | None


class ErasureCreate(Strict):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)] = Field(
        description="why the content is erased now (the candidate's request, a ticket number)"
    )


class ErasurePublic(BaseModel):
    application_id: str
    status: Literal["scheduled", "erased"]
    due: datetime
    detail: str


class AssessmentPublic(BaseModel):
    stage_id: str
    answers: dict[str, str]
    points: int
    max_points: int
    passed: bool
    started_at: datetime
    finished_at: datetime


class AssignmentPublic(BaseModel):
    stage_id: str
    reviewer: str
    status: str
    assigned_at: datetime
    due_at: datetime
    closed_at: datetime | None


class ApplicationDetail(ApplicationPublic):
    answers: list[AnswerPublic]
    scorecards: list[ScorecardPublic]
    assessments: list[AssessmentPublic]
    review_assignments: list[AssignmentPublic]
    pipeline_definition: dict[str, Any]


class ReviewView(BaseModel):
    """What a reviewer sees: blind (no name or email) and independent (others' scores only after
    their own is in), as the pipeline says."""

    application_id: str
    job_title: str
    reviewer_id: str
    blind: bool
    candidate_name: str | None
    answers: list[AnswerPublic]
    assessments: list[AssessmentPublic]
    criteria: list[dict[str, Any]]
    own_scorecard: ScorecardPublic | None
    other_scorecards: list[ScorecardPublic] | None
    combined_score: float | None


class ScorecardCreate(Strict):
    reviewer_id: str | None = Field(
        default=None,
        description="The assigned reviewer this scorecard is for; optional when only one is open",
    )
    overall_recommendation: Recommendation
    ratings: dict[
        Annotated[str, StringConstraints(min_length=1, max_length=100)], Annotated[int, Field(ge=1, le=5)]
    ]
    notes: Annotated[str, StringConstraints(max_length=20_000)] | None = None


class DecisionCreate(Strict):
    decision: Decision
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=5_000)] | None = None
    reason_code: str | None = Field(default=None, description="One of the pipeline's reason codes")
    approver_id: str | None = Field(
        default=None, description="The approver voting, when the pipeline names approvers"
    )


class StageOutcomeCreate(Strict):
    outcome: Literal["continue", "reject"]
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=5_000)] | None = None


class ExtensionDecisionCreate(Strict):
    grant: bool


class SlotOfferCreate(Strict):
    slots: list[AwareDatetime] = Field(min_length=1, max_length=20)


class FeedbackReleaseCreate(Strict):
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)] | None = (
        None
    )


class MessageCreate(Strict):
    body: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5_000)]


class DeadlineExtensionCreate(Strict):
    hours: int = Field(ge=1, le=720, description="How much later the deadline moves, in hours")


class JobMemberCreate(Strict):
    user: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=320)] = Field(
        description="The user's id or email"
    )
