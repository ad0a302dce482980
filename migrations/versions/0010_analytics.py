"""analytics: stage transitions (append-only), scorecard ratings per criterion, voluntary
self-identification; existing applications and scorecards backfilled

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 21:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from offhours.models import UTCDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FINAL = ("approved", "rejected", "expired", "withdrawn")


def upgrade() -> None:
    transitions = op.create_table(
        "stage_transitions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("pipeline_name", sa.String(length=100), nullable=False),
        sa.Column("invited_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("from_stage", sa.String(length=40), nullable=True),
        sa.Column("from_status", sa.String(length=32), nullable=True),
        sa.Column("to_stage", sa.String(length=40), nullable=False),
        sa.Column("to_status", sa.String(length=32), nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("stage_since", UTCDateTime(timezone=True), nullable=False),
        sa.Column("stay_seconds", sa.Float(), nullable=True),
        sa.Column("since_invite_seconds", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["application_id"], ["applications.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("application_id", "seq", name="uq_stage_transition_seq"),
    )
    op.create_index(
        "ix_stage_transitions_job_status", "stage_transitions", ["job_id", "to_status", "application_id"]
    )
    op.create_index(
        "ix_stage_transitions_job_left", "stage_transitions", ["job_id", "from_stage", "stay_seconds"]
    )
    op.create_index(
        "ix_stage_transitions_pipeline_invited", "stage_transitions", ["pipeline_name", "invited_at"]
    )
    ratings = op.create_table(
        "scorecard_ratings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.String(length=40), nullable=False),
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("pipeline_name", sa.String(length=100), nullable=False),
        sa.Column("invited_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("stage_id", sa.String(length=64), nullable=False),
        sa.Column("reviewer", sa.String(length=200), nullable=False),
        sa.Column("criterion", sa.String(length=64), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["application_id"], ["applications.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("application_id", "reviewer", "criterion", name="uq_scorecard_rating"),
    )
    op.create_index("ix_scorecard_ratings_application_id", "scorecard_ratings", ["application_id"])
    op.create_index(
        "ix_scorecard_ratings_job_stage", "scorecard_ratings", ["job_id", "stage_id", "criterion", "application_id"]
    )
    op.create_index(
        "ix_scorecard_ratings_stage_criterion",
        "scorecard_ratings",
        ["stage_id", "criterion", "application_id"],
    )
    op.create_table(
        "self_identifications",
        sa.Column("application_id", sa.String(length=40), nullable=False),
        sa.Column("sex", sa.String(length=16), nullable=False),
        sa.Column("race_ethnicity", sa.String(length=48), nullable=False),
        sa.Column("recorded_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["application_id"], ["applications.id"]),
        sa.PrimaryKeyConstraint("application_id"),
    )
    op.create_index("ix_self_identifications_recorded_at", "self_identifications", ["recorded_at"])
    _backfill(transitions, ratings)


def _backfill(transitions: sa.Table, ratings: sa.Table) -> None:
    """Applications from before this revision get the transitions their timestamps tell (invited,
    started, submitted, closed; no time in stage, which was not recorded), scorecards their rows."""
    bind = op.get_bind()
    applications = sa.table(
        "applications",
        *(sa.column(n) for n in ("id", "job_id", "pipeline_name", "status", "stage")),
        *(sa.column(n, UTCDateTime()) for n in ("created_at", "started_at", "submitted_at", "closed_at")),
    )
    rows: list[dict[str, object]] = []
    for a in bind.execute(sa.select(applications)).mappings():
        steps = [("invite", "invited", a["created_at"])]
        if a["started_at"] is not None:
            steps.append((a["stage"], "in_progress", a["started_at"]))
        if a["submitted_at"] is not None:
            steps.append((a["stage"], "submitted", a["submitted_at"]))
        if a["status"] in FINAL and a["closed_at"] is not None:
            steps.append((a["stage"], a["status"], a["closed_at"]))
        before: tuple[str | None, str | None] = (None, None)
        for seq, (stage, status, at) in enumerate(steps, start=1):
            rows.append(
                {
                    "application_id": a["id"],
                    "seq": seq,
                    "job_id": a["job_id"],
                    "pipeline_name": a["pipeline_name"],
                    "invited_at": a["created_at"],
                    "from_stage": before[0],
                    "from_status": before[1],
                    "to_stage": stage,
                    "to_status": status,
                    "at": at,
                    "stage_since": at,
                    "stay_seconds": None,
                    "since_invite_seconds": max((at - a["created_at"]).total_seconds(), 0.0),
                }
            )
            before = (stage, status)
    if rows:
        op.bulk_insert(transitions, rows)
    scorecards = sa.table(
        "scorecards",
        sa.column("application_id"),
        sa.column("reviewer"),
        sa.column("stage_id"),
        sa.column("ratings", sa.JSON()),
    )
    facts = {
        a["id"]: a
        for a in bind.execute(
            sa.select(applications.c.id, applications.c.job_id, applications.c.pipeline_name, applications.c.created_at)
        ).mappings()
    }
    found = [
        {
            "application_id": s["application_id"],
            "job_id": facts[s["application_id"]]["job_id"],
            "pipeline_name": facts[s["application_id"]]["pipeline_name"],
            "invited_at": facts[s["application_id"]]["created_at"],
            "stage_id": s["stage_id"],
            "reviewer": s["reviewer"],
            "criterion": criterion,
            "rating": int(rating),
        }
        for s in bind.execute(sa.select(scorecards)).mappings()
        for criterion, rating in (s["ratings"] or {}).items()
        if s["application_id"] in facts
    ]
    if found:
        op.bulk_insert(ratings, found)


def downgrade() -> None:
    op.drop_index("ix_self_identifications_recorded_at", table_name="self_identifications")
    op.drop_table("self_identifications")
    op.drop_index("ix_scorecard_ratings_stage_criterion", table_name="scorecard_ratings")
    op.drop_index("ix_scorecard_ratings_job_stage", table_name="scorecard_ratings")
    op.drop_index("ix_scorecard_ratings_application_id", table_name="scorecard_ratings")
    op.drop_table("scorecard_ratings")
    op.drop_index("ix_stage_transitions_pipeline_invited", table_name="stage_transitions")
    op.drop_index("ix_stage_transitions_job_left", table_name="stage_transitions")
    op.drop_index("ix_stage_transitions_job_status", table_name="stage_transitions")
    op.drop_table("stage_transitions")
