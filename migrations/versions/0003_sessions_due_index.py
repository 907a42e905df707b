"""sessions: partial index for the expiry sweep's claim (due sessions, oldest first)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 12:30:00

`claim_due_sessions` asks for the 20 oldest sessions still forming or moq_reached. With only
(status, ends_at) PostgreSQL reads and sorts every due session for each claim (4.6 ms at 10,000 due, see
bench/expiry.md); this index hands them over in order (0.75 ms, whatever the backlog).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DUE = "status IN ('forming', 'moq_reached')"


def upgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sessions_due_ends_at",
            ["ends_at", "id"],
            unique=False,
            postgresql_where=sa.text(DUE),
            sqlite_where=sa.text(DUE),
        )


def downgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_sessions_due_ends_at")
