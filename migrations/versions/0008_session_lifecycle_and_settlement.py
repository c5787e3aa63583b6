"""session lifecycle (starting/failed/suspended, channel) and settlement of every session

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("charging_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("channel", sa.String(length=12), nullable=True))
        batch_op.add_column(sa.Column("status_reason", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("payment_note", sa.String(length=200), nullable=True))
    # A driver's RFID tag pays for many sessions, each with its own hold: the id token no
    # longer identifies one payment.
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("uq_payments_id_token_pk"), type_="unique")
        batch_op.create_index(op.f("ix_payments_id_token_pk"), ["id_token_pk"], unique=False)
        batch_op.add_column(sa.Column("charger_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            op.f("fk_payments_charger_id_chargers"),
            "chargers",
            ["charger_id"],
            ["id"],
            ondelete="SET NULL",
        )
    # Payments found their session through its one-time id token: tie them directly.
    op.execute(
        """
        UPDATE payments SET session_id = (
            SELECT MIN(cs.id) FROM charging_sessions cs WHERE cs.id_token_pk = payments.id_token_pk
        )
        WHERE session_id IS NULL AND purpose = 'session' AND id_token_pk IS NOT NULL
        """
    )
    op.execute(
        "UPDATE charging_sessions SET channel = 'rfid' "
        "WHERE channel IS NULL AND id_token_pk IN (SELECT id FROM id_tokens WHERE kind = 'rfid')"
    )


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("fk_payments_charger_id_chargers"), type_="foreignkey")
        batch_op.drop_column("charger_id")
        batch_op.drop_index(op.f("ix_payments_id_token_pk"))
        batch_op.create_unique_constraint(op.f("uq_payments_id_token_pk"), ["id_token_pk"])
    with op.batch_alter_table("charging_sessions", schema=None) as batch_op:
        batch_op.drop_column("payment_note")
        batch_op.drop_column("status_reason")
        batch_op.drop_column("channel")
