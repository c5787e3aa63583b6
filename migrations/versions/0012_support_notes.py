"""Support notes (the dashboard's customer support page).

Revision ID: 0012
Revises: 0012_charger_removed_at, 0014 (both came after 0009 on main: this joins them)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision: str = "0012"
down_revision: tuple[str, ...] | str | None = ("0012_charger_removed_at", "0014")
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "support_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("charger_id", sa.Integer(), nullable=True),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("text", sa.String(length=2000), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["charger_id"],
            ["chargers.id"],
            name=op.f("fk_support_notes_charger_id_chargers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_support_notes_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["charging_sessions.id"],
            name=op.f("fk_support_notes_session_id_charging_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_support_notes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_notes")),
    )
    op.create_index(op.f("ix_support_notes_organisation_id"), "support_notes", ["organisation_id"])
    op.create_index("ix_support_notes_user_id", "support_notes", ["user_id"])
    op.create_index("ix_support_notes_session_id", "support_notes", ["session_id"])


def downgrade() -> None:
    op.drop_index("ix_support_notes_session_id", table_name="support_notes")
    op.drop_index("ix_support_notes_user_id", table_name="support_notes")
    op.drop_index(op.f("ix_support_notes_organisation_id"), table_name="support_notes")
    op.drop_table("support_notes")
