"""outbound_messages: the retry schedule and unconfirmed attempts live in the row; claim indexes

Revision ID: delivery
Revises: conversation_state
Create Date: 2026-11-26 09:00:00

Sending claims batches of due rows, the oldest unsent one per recipient (issue 11); a retry waits in its
row (`next_attempt_at`) instead of an RQ scheduled job; an attempt that got no answer is remembered
(`unconfirmed_since`) so the provider is asked before the message goes again (issue 10).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "delivery"
down_revision: str | None = "conversation_state"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNSENT = "status IN ('queued', 'sending')"


def upgrade() -> None:
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("unconfirmed_since", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE outbound_messages SET next_attempt_at = created_at")
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.alter_column("next_attempt_at", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.create_index(
            "ix_outbound_messages_unsent_recipient",
            ["to_phone", "id"],
            unique=False,
            postgresql_where=sa.text(UNSENT),
            sqlite_where=sa.text(UNSENT),
        )
        batch_op.create_index(
            "ix_outbound_messages_unsent_due",
            ["next_attempt_at", "id"],
            unique=False,
            postgresql_where=sa.text(UNSENT),
            sqlite_where=sa.text(UNSENT),
        )


def downgrade() -> None:
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_outbound_messages_unsent_due")
        batch_op.drop_index("ix_outbound_messages_unsent_recipient")
        batch_op.drop_column("unconfirmed_since")
        batch_op.drop_column("next_attempt_at")
