"""stages: assessment, review assignments, feedback, bookings, onboarding

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 09:38:41.040238
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import offhours.models

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('assessment_results',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.String(length=40), nullable=False),
    sa.Column('stage_id', sa.String(length=64), nullable=False),
    sa.Column('answers', sa.JSON(), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('max_points', sa.Integer(), nullable=False),
    sa.Column('passed', sa.Boolean(), nullable=False),
    sa.Column('started_at', offhours.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', offhours.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('application_id', 'stage_id', name='uq_assessment_stage')
    )
    with op.batch_alter_table('assessment_results', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assessment_results_application_id'), ['application_id'], unique=False)

    op.create_table('bookings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.String(length=40), nullable=False),
    sa.Column('stage_id', sa.String(length=64), nullable=False),
    sa.Column('slot', offhours.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('duration_minutes', sa.Integer(), nullable=False),
    sa.Column('booked_at', offhours.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('application_id', 'stage_id', name='uq_booking_stage')
    )
    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bookings_application_id'), ['application_id'], unique=False)

    op.create_table('feedback',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.String(length=40), nullable=False),
    sa.Column('stage_id', sa.String(length=64), nullable=False),
    sa.Column('strengths', sa.JSON(), nullable=False),
    sa.Column('to_develop', sa.JSON(), nullable=False),
    sa.Column('next_steps', sa.Text(), nullable=False),
    sa.Column('edited_text', sa.Text(), nullable=True),
    sa.Column('released', sa.Boolean(), nullable=False),
    sa.Column('created_at', offhours.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('released_at', offhours.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('application_id', 'stage_id', name='uq_feedback_stage')
    )
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feedback_application_id'), ['application_id'], unique=False)

    op.create_table('module_progress',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.String(length=40), nullable=False),
    sa.Column('module_id', sa.String(length=64), nullable=False),
    sa.Column('completed_at', offhours.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('application_id', 'module_id', name='uq_module_progress')
    )
    with op.batch_alter_table('module_progress', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_module_progress_application_id'), ['application_id'], unique=False)

    op.create_table('review_assignments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.String(length=40), nullable=False),
    sa.Column('stage_id', sa.String(length=64), nullable=False),
    sa.Column('reviewer', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('assigned_at', offhours.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('due_at', offhours.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_at', offhours.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('application_id', 'stage_id', 'reviewer', name='uq_review_assignment')
    )
    with op.batch_alter_table('review_assignments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_review_assignments_application_id'), ['application_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_review_assignments_reviewer'), ['reviewer'], unique=False)
        batch_op.create_index(batch_op.f('ix_review_assignments_status'), ['status'], unique=False)

    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('combined_score', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('decision_reason_code', sa.String(length=64), nullable=True))

    with op.batch_alter_table('scorecards', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stage_id', sa.String(length=64), nullable=False, server_default='review'))
        batch_op.add_column(sa.Column('submitted_by', sa.String(length=200), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('scorecards', schema=None) as batch_op:
        batch_op.drop_column('submitted_by')
        batch_op.drop_column('stage_id')

    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.drop_column('decision_reason_code')
        batch_op.drop_column('combined_score')

    with op.batch_alter_table('review_assignments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_review_assignments_status'))
        batch_op.drop_index(batch_op.f('ix_review_assignments_reviewer'))
        batch_op.drop_index(batch_op.f('ix_review_assignments_application_id'))

    op.drop_table('review_assignments')
    with op.batch_alter_table('module_progress', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_module_progress_application_id'))

    op.drop_table('module_progress')
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feedback_application_id'))

    op.drop_table('feedback')
    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bookings_application_id'))

    op.drop_table('bookings')
    with op.batch_alter_table('assessment_results', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assessment_results_application_id'))

    op.drop_table('assessment_results')
