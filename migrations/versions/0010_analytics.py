"""analytics: stage transitions (append-only), scorecard ratings per criterion, voluntary
self-identification; existing applications and scorecards backfilled

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 21:10:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from offhours.models import UTCDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FINAL = ("approved", "rejected", "expired", "withdrawn")
INDEXES = {
    "ix_stage_transitions_left": ["from_stage", "stay_seconds"],
    "ix_stage_transitions_pipeline_left": ["pipeline_name", "from_stage", "stay_seconds"],
    "ix_stage_transitions_job_milestone": ["job_id", "milestone", "since_invite_seconds"],
    "ix_stage_transitions_milestone": ["milestone", "since_invite_seconds"],
    "ix_stage_transitions_pipeline_milestone": ["pipeline_name", "milestone", "since_invite_seconds"],
}


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
        sa.Column("milestone", sa.String(length=16), nullable=True),
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
    for name, columns in INDEXES.items():
        op.create_index(name, "stage_transitions", columns)
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
    op.create_table(
        "analytics_counters",
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("pipeline_name", sa.String(length=100), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("metric", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("job_id", "pipeline_name", "day", "metric", "key"),
    )
    op.create_index("ix_analytics_counters_metric", "analytics_counters", ["day", "metric", "job_id"])
    state = op.create_table(
        "analytics_rollup_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("built_at", UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("review_assignments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("job_id", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("seconds_to_score", sa.Float(), nullable=True))
    op.create_index("ix_review_assignments_reviewer_seconds", "review_assignments", ["reviewer", "seconds_to_score"])
    op.create_index(
        "ix_review_assignments_job_reviewer_seconds", "review_assignments", ["job_id", "reviewer", "seconds_to_score"]
    )
    bind = op.get_bind()
    empty = bind.execute(sa.text("SELECT COUNT(*) FROM applications")).scalar_one() == 0
    _backfill(transitions, ratings)
    # A new database has nothing to count: its rollups are complete from the start. An existing one
    # is counted by `offhours analytics rebuild`; until then analytics read the raw tables.
    if empty:
        op.bulk_insert(state, [{"id": 1, "built_at": datetime.now(UTC)}])


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
    firsts: set[tuple[object, str]] = set()
    for row in rows:
        point = "submitted" if row["to_status"] == "submitted" else "decided" if row["to_status"] in ("approved", "rejected") else None
        if point is not None and (row["application_id"], point) not in firsts:
            firsts.add((row["application_id"], point))
            row["milestone"] = point
        else:
            row["milestone"] = None
    if rows:
        op.bulk_insert(transitions, rows)
    assignments = sa.table(
        "review_assignments",
        sa.column("id"),
        sa.column("application_id"),
        sa.column("status"),
        sa.column("job_id"),
        sa.column("seconds_to_score", sa.Float()),
        sa.column("assigned_at", UTCDateTime()),
        sa.column("closed_at", UTCDateTime()),
    )
    owners = dict(bind.execute(sa.select(applications.c.id, applications.c.job_id)).all())
    for r in bind.execute(sa.select(assignments)).mappings().all():
        done = r["status"] == "completed" and r["closed_at"] is not None
        bind.execute(
            assignments.update()
            .where(assignments.c.id == r["id"])
            .values(
                job_id=owners.get(r["application_id"]),
                seconds_to_score=(r["closed_at"] - r["assigned_at"]).total_seconds() if done else None,
            )
        )
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
    op.drop_index("ix_review_assignments_job_reviewer_seconds", table_name="review_assignments")
    op.drop_index("ix_review_assignments_reviewer_seconds", table_name="review_assignments")
    with op.batch_alter_table("review_assignments", schema=None) as batch_op:
        batch_op.drop_column("seconds_to_score")
        batch_op.drop_column("job_id")
    op.drop_table("analytics_rollup_state")
    op.drop_index("ix_analytics_counters_metric", table_name="analytics_counters")
    op.drop_table("analytics_counters")
    for name in INDEXES:
        op.drop_index(name, table_name="stage_transitions")
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
