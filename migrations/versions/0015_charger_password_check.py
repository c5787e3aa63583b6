"""Chargers: password_check, so a restarted gateway verifies a reconnecting charger's
password without scrypt (core.security.password_check).

Revision ID: 0015
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("chargers") as batch:
        batch.add_column(sa.Column("password_check", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("chargers") as batch:
        batch.drop_column("password_check")
