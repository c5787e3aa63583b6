"""wider payment provider names ("sandbox-vipps" is 13 characters)

Revision ID: 0007
Revises: 0004
Create Date: 2026-11-29 08:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("payments", "payment_methods"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                "provider",
                existing_type=sa.String(length=12),
                type_=sa.String(length=20),
                existing_nullable=False,
            )


def downgrade() -> None:
    for table in ("payments", "payment_methods"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                "provider",
                existing_type=sa.String(length=20),
                type_=sa.String(length=12),
                existing_nullable=False,
            )
