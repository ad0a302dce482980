"""What the analytics API answers (read-only; the definitions are in operations/analytics)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class FunnelCounts(BaseModel):
    invited: int
    opened: int
    started: int
    submitted: int
    reviewed: int
    decided: int
    approved: int
    rejected: int
    expired: int
    withdrawn: int


class FunnelRates(BaseModel):
    taken: float | None = Field(description="started ÷ invited")
    completion: float | None = Field(description="submitted ÷ started")
    opened: float | None = Field(description="opened ÷ invited")
    reviewed: float | None = Field(description="reviewed ÷ submitted")
    decided: float | None = Field(description="decided ÷ submitted")
    approval: float | None = Field(description="approved ÷ decided")


class PassThrough(BaseModel):
    stage_id: str
    entered: int
    moved_on: int
    rate: float | None


class FunnelPublic(BaseModel):
    counts: FunnelCounts
    rates: FunnelRates
    pass_through: list[PassThrough]


class Durations(BaseModel):
    n: int
    median_seconds: float | None
    p90_seconds: float | None


class StagePublic(Durations):
    stage_id: str
    entered: int
    moved_on: int
    ended_here: int
    still_in: int
    pass_through: float | None


class ResponseTime(BaseModel):
    applications: int
    kept: int
    share: float | None


class StagesPublic(BaseModel):
    stages: list[StagePublic]
    time_to_complete: Durations
    time_to_decision: Durations
    response_time: ResponseTime


class QuestionPublic(BaseModel):
    question_id: str
    stage_id: str
    prompt: str
    answered: int
    answered_share: float | None
    last_answered_by_dropouts: int


class QuestionsPublic(BaseModel):
    started: int
    dropped_out: int
    dropped_out_before_answering: int
    questions: list[QuestionPublic]


class ReminderWindow(BaseModel):
    window: int
    label: str
    reached: int
    submitted: int
    share: float | None


class RemindersPublic(BaseModel):
    windows: list[ReminderWindow]
    not_submitted: int


class ReviewerLoad(BaseModel):
    reviewer: str
    assigned: int
    done: int
    on_time: int
    overdue: int
    reassigned: int
    open: int
    on_time_share: float | None
    median_seconds_to_score: float | None


class ReviewersPublic(BaseModel):
    reviewers: list[ReviewerLoad]


class CriterionAgreement(BaseModel):
    id: str
    title: str
    alpha_interval: float | None
    alpha_ordinal: float | None


class Distribution(BaseModel):
    criterion: str
    counts: dict[str, int]


class StageAgreement(BaseModel):
    stage_id: str
    applications: int = Field(description="applications scored at least twice")
    alpha_interval: float | None
    alpha_ordinal: float | None
    icc2_1: float | None
    icc2_k: float | None
    icc_applications: int
    icc_reviewers: int
    criteria: list[CriterionAgreement]
    distributions: list[Distribution]


class AgreementPublic(BaseModel):
    stages: list[StageAgreement]


class ImpactRowPublic(BaseModel):
    stage: str
    dimension: str
    category: str
    applicants: int
    selected: int
    selection_rate: float | None
    impact_ratio: float | None
    flagged: bool
    fisher_p: float | None
    suppressed: bool = Field(description="fewer than 5 people: pages and CSV show no counts")


class StageTotal(BaseModel):
    stage: str
    applicants: int
    selected: int


class UnknownByDimension(BaseModel):
    sex: int
    race_ethnicity: int


class AdverseImpactPublic(BaseModel):
    unknown: int
    unknown_by_dimension: UnknownByDimension
    totals: list[StageTotal]
    rows: list[ImpactRowPublic]
