"""search indexes: covering indexes for chargersNear

Revision ID: 0004
Revises: 0006
Create Date: 2026-11-29 08:20:00

chargersNear counts, per site of the search circle, the Accepted chargers that have a
matching connector: (site_id, registration_status, online, id) on chargers and
(charger_id, max_power_w, status, connector_type) on connectors answer that from the
indexes alone (index-only scans), without reading table rows.

Only indexes on tables of 0001, so the position in the chain does not matter. It was
meant to follow 0003; 0005 and 0006 were already built on 0003 when it was written, so it
follows the head of that time (0006) to keep a single head.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_chargers_site_search",
        "chargers",
        ["site_id", "registration_status", "online", "id"],
        unique=False,
    )
    op.create_index(
        "ix_connectors_search",
        "connectors",
        ["charger_id", "max_power_w", "status", "connector_type"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_connectors_search", table_name="connectors")
    op.drop_index("ix_chargers_site_search", table_name="chargers")
