"""What analytics count from: stage transitions (append-only), each scorecard's ratings one row per
criterion, and the candidates' voluntary self-identification (kept apart from the application).

Transitions and ratings hold no personal data: ids, stage and status names, times, numbers. The
self-identification is personal and sensitive: it is only ever read in aggregates, never shown per
candidate, never put in a workflow, and deleted when the application is erased."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Float, Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from offhours.models.base import _ts


class StageTransition(SQLModel, table=True):
    """One row per application and change of stage or status, in order (`seq` from 1, the invite).

    Written by the `record_status` activity; a retried activity finds its row and writes nothing.
    `job_id`, `pipeline_name` and `invited_at` are copied from the application so that every metric
    filters on this table's own indexed columns, without a join. `stage_since` is when the stage
    `to_stage` was entered; on a row that leaves a stage, `stay_seconds` is the time spent in it."""

    __tablename__ = "stage_transitions"
    __table_args__ = (
        UniqueConstraint("application_id", "seq", name="uq_stage_transition_seq"),
        Index("ix_stage_transitions_job_status", "job_id", "to_status", "application_id"),
        Index("ix_stage_transitions_job_left", "job_id", "from_stage", "stay_seconds"),
        Index("ix_stage_transitions_pipeline_invited", "pipeline_name", "invited_at"),
        # the percentiles read these in order (nearest rank by offset), per job, per pipeline, or all
        Index("ix_stage_transitions_left", "from_stage", "stay_seconds"),
        Index("ix_stage_transitions_pipeline_left", "pipeline_name", "from_stage", "stay_seconds"),
        Index("ix_stage_transitions_job_milestone", "job_id", "milestone", "since_invite_seconds"),
        Index("ix_stage_transitions_milestone", "milestone", "since_invite_seconds"),
        Index(
            "ix_stage_transitions_pipeline_milestone", "pipeline_name", "milestone", "since_invite_seconds"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    application_id: str = Field(foreign_key="applications.id", max_length=40)
    seq: int
    job_id: str = Field(max_length=40)
    pipeline_name: str = Field(max_length=100)
    invited_at: datetime = _ts()
    from_stage: str | None = Field(default=None, max_length=40)
    from_status: str | None = Field(default=None, max_length=32)
    to_stage: str = Field(max_length=40)
    to_status: str = Field(max_length=32)
    at: datetime = _ts()
    stage_since: datetime = _ts()
    stay_seconds: float | None = None  # set when the row leaves a stage: the time spent in it
    since_invite_seconds: float = 0.0
    # "submitted" / "decided" on the application's first row reaching that point (time to complete,
    # time to decision), else None
    milestone: str | None = Field(default=None, max_length=16)


class ScorecardRating(SQLModel, table=True):
    """A scorecard's rating of one criterion (the scorecard keeps them as JSON too): what agreement
    and score distributions aggregate in SQL. Job, pipeline and invitation time are copied from the
    application, as on transitions, so every filter is on this table's own columns."""

    __tablename__ = "scorecard_ratings"
    __table_args__ = (
        UniqueConstraint("application_id", "reviewer", "criterion", name="uq_scorecard_rating"),
        Index("ix_scorecard_ratings_job_stage", "job_id", "stage_id", "criterion", "application_id"),
        Index("ix_scorecard_ratings_stage_criterion", "stage_id", "criterion", "application_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    application_id: str = Field(foreign_key="applications.id", index=True, max_length=40)
    job_id: str = Field(max_length=40)
    pipeline_name: str = Field(max_length=100)
    invited_at: datetime = _ts()
    stage_id: str = Field(max_length=64)
    reviewer: str = Field(max_length=200)
    criterion: str = Field(max_length=64)
    rating: int


SEX = ("female", "male", "declined")
RACE_ETHNICITY = (
    "hispanic_or_latino",
    "white",
    "black_or_african_american",
    "native_hawaiian_or_pacific_islander",
    "asian",
    "american_indian_or_alaska_native",
    "two_or_more",
    "declined",
)


class SelfIdentification(SQLModel, table=True):
    """A candidate's voluntary answer (EEO-1 categories), one per application; "declined" counts as
    unknown. Deleted with the application's personal content on erasure."""

    __tablename__ = "self_identifications"

    application_id: str = Field(foreign_key="applications.id", primary_key=True, max_length=40)
    sex: str = Field(sa_column=Column(String(16), nullable=False))
    race_ethnicity: str = Field(sa_column=Column(String(48), nullable=False))
    recorded_at: datetime = _ts(index=True)


class AnalyticsCounter(SQLModel, table=True):
    """The rollups (activities/rollups.py): a metric's counter per job, pipeline and invitation day
    (`day` "" holds the sum over every day). No personal data: names of stages, questions, criteria,
    reviewer ids and categories, and numbers."""

    __tablename__ = "analytics_counters"
    __table_args__ = (Index("ix_analytics_counters_metric", "day", "metric", "job_id"),)

    job_id: str = Field(primary_key=True, max_length=40)
    pipeline_name: str = Field(primary_key=True, max_length=100)
    day: str = Field(primary_key=True, max_length=10)
    metric: str = Field(primary_key=True, max_length=32)
    key: str = Field(primary_key=True, max_length=300)
    value: float = Field(default=0.0, sa_column=Column(Float, nullable=False))


class RollupState(SQLModel, table=True):
    """Whether the counters hold every application (a fresh database, or `offhours analytics
    rebuild` after an upgrade); until then analytics are computed from the raw tables."""

    __tablename__ = "analytics_rollup_state"

    id: int = Field(default=1, primary_key=True)
    built_at: datetime | None = _ts(nullable=True)
