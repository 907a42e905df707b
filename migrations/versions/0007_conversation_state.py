"""conversation_states: where each buyer's conversation stands (context, guided flow, proposal)

Revision ID: conversation_state
Revises: reminders
Create Date: 2026-12-02 09:00:00

One row per buyer phone: the session the buyer asked about or acted on last, and what the bot waits
for (a guided-flow step or a proposal to confirm, JSON) until it expires. See core/conversation_state.py.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "conversation_state"
down_revision: str | None = "reminders"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "conversation_states",
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("session_code", sa.String(length=32), nullable=True),
        sa.Column("pending", sa.Text(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("message_sid", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("phone", name=op.f("pk_conversation_states")),
    )


def downgrade() -> None:
    op.drop_table("conversation_states")
