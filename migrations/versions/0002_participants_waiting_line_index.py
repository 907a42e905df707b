"""participants: index for a size's waiting line (oldest first)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 12:05:26

Admitting waiting requests reads only the oldest few of each size's line; without this index that read
scanned every participant of the session.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("participants", schema=None) as batch_op:
        batch_op.create_index(
            "ix_participants_session_variant_status",
            ["session_id", "variant_id", "status", "id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("participants", schema=None) as batch_op:
        batch_op.drop_index("ix_participants_session_variant_status")
