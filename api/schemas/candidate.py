"""Bodies of the candidate API: answers, the candidate's view of their application, messages."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    Field,
    StringConstraints,
)

from api.schemas.common import Strict
from offhours.states import ApplicationStatus


class ExtensionRequestCreate(Strict):
    hours: int = Field(ge=1, le=24 * 60, description="How much more time, in hours")
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2_000)] | None = None


class AssessmentAnswerCreate(Strict):
    question_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    value: Annotated[str, StringConstraints(min_length=1, max_length=1_000)]


class SlotPickCreate(Strict):
    slot: AwareDatetime


class WithdrawCreate(Strict):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=5_000)] | None = None


class TextAnswerCreate(Strict):
    question_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    text: Annotated[str, StringConstraints(min_length=1, max_length=100_000)]


class TakePublic(BaseModel):
    """An opened question: its prompt, and the clock of the current take when it is timed."""

    question_id: str
    prompt: str
    take: int
    takes_allowed: int | None
    opened_at: datetime
    think_ends_at: datetime | None
    answer_ends_at: datetime | None
    server_now: datetime


class QuestionPublic(BaseModel):
    id: str
    number: int
    prompt: str | None = Field(description="Hidden (null) until a timed question is opened")
    type: str
    required: bool
    answered: bool
    choices: list[str]
    think_time: int | None
    answer_time_limit: int | None
    takes_allowed: int | None
    takes_used: int
    open_take: TakePublic | None
    max_bytes: int | None
    accepts: list[str]
    answer_text: str | None = None


class ProcessStep(BaseModel):
    id: str
    kind: str
    title: str
    detail: str
    state: str  # done, current, upcoming or skipped (never reached: the application closed before)
    page: str | None = None  # the current step's page on the candidate's link (/c/{token}<page>)


class MessagePublic(BaseModel):
    id: str
    from_candidate: bool
    author: str
    body: str
    created_at: datetime


class DeletionRequestCreate(Strict):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2_000)] | None = None


class ConsentCreate(Strict):
    version: Annotated[str, StringConstraints(min_length=64, max_length=64)] = Field(
        description="The version of the consent wording shown (GET the view: consent.version)"
    )


class Progress(BaseModel):
    answered: int
    total: int
    required_remaining: list[str]


class GradedQuestionPublic(BaseModel):
    id: str
    prompt: str
    type: str
    choices: list[str]


class ModulePublic(BaseModel):
    id: str
    title: str
    done: bool


class CandidateView(BaseModel):
    job_title: str
    candidate_name: str
    status: ApplicationStatus
    stage: str
    stage_kind: str
    stages: list[str]
    contact_name: str | None
    faq: list[dict[str, str]]
    assessment: list[GradedQuestionPublic] | None
    closed_by_assessment: bool = False  # the assessment's pass mark was missed and that ended it
    slots: list[datetime]
    booked_slot: datetime | None
    modules: list[ModulePublic] | None
    feedback: dict[str, Any] | None
    deadline: datetime | None
    deadline_local: str
    timezone: str
    accepting_answers: bool
    questions: list[QuestionPublic]
    progress: Progress
    process: list[ProcessStep]
    promised_response: str | None
    consent_required: bool
    consent_at: datetime | None
    consent_version: str
    pending_extension_hours: float | None
    messages: list[MessagePublic]
    deletion_requested_at: datetime | None


class CandidateStatePublic(BaseModel):
    status: str
    stage: str
    deadline: datetime | None
    pending_extension_hours: float | None
    assessment_ends_at: datetime | None
    slots: list[datetime]
    booked_slot: datetime | None
    modules_done: list[str]

    @classmethod
    def of(cls, state: Any) -> CandidateStatePublic:
        pending = state.pending_extension_seconds
        return cls(
            status=state.status,
            stage=state.stage,
            deadline=state.deadline,
            pending_extension_hours=pending / 3600 if pending else None,
            assessment_ends_at=state.assessment_ends_at,
            slots=state.slots,
            booked_slot=state.booked_slot,
            modules_done=state.modules_done,
        )


class WorkflowStatePublic(BaseModel):
    status: str
    stage: str
    deadline: datetime | None
    answered: list[str]


Sex = Literal["female", "male", "declined"]
RaceEthnicity = Literal[
    "hispanic_or_latino",
    "white",
    "black_or_african_american",
    "native_hawaiian_or_pacific_islander",
    "asian",
    "american_indian_or_alaska_native",
    "two_or_more",
    "declined",
]


class SelfIdentificationCreate(Strict):
    """Voluntary, after submission; never shown to reviewers or recruiters, only counted in
    aggregates; "declined" counts as unknown."""

    sex: Sex = Field(description="female, male or declined")
    race_ethnicity: RaceEthnicity = Field(description="an EEO-1 category, or declined")


class SelfIdentificationPublic(BaseModel):
    sex: Sex
    race_ethnicity: RaceEthnicity
    recorded_at: datetime
