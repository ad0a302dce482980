"""candidate links carry a generation; an application keeps the name and time zone it was given

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("link_generation", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("candidate_name", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("candidate_timezone", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.drop_column("candidate_timezone")
        batch_op.drop_column("candidate_name")
        batch_op.drop_column("link_generation")
