"""reminders and sharing: buyers' referral tag and opt-out, sessions' next reminder look, referrals

Revision ID: reminders
Revises: payments
Create Date: 2026-12-01 21:00:00

Open sessions get `next_reminder_at = starts_at`: the reminder sweep looks at each of them once and
schedules its next slot itself (see core/reminders.py).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "reminders"
down_revision: str | None = "payments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEDULED = "next_reminder_at IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table("buyers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("referral_tag", sa.String(length=6), nullable=True))
        batch_op.add_column(sa.Column("opted_out_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_buyers_referral_tag"), ["referral_tag"])

    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_reminder_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            "ix_sessions_next_reminder_at",
            ["next_reminder_at", "id"],
            unique=False,
            postgresql_where=sa.text(SCHEDULED),
            sqlite_where=sa.text(SCHEDULED),
        )
    op.execute("UPDATE sessions SET next_reminder_at = starts_at WHERE status IN ('forming', 'moq_reached')")

    op.create_table(
        "referrals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("sharer_id", sa.Integer(), nullable=False),
        sa.Column("referred_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("sharer_id <> referred_id", name=op.f("ck_referrals_not_self")),
        sa.ForeignKeyConstraint(["referred_id"], ["buyers.id"], name=op.f("fk_referrals_referred_id_buyers")),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name=op.f("fk_referrals_session_id_sessions")
        ),
        sa.ForeignKeyConstraint(["sharer_id"], ["buyers.id"], name=op.f("fk_referrals_sharer_id_buyers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referrals")),
        sa.UniqueConstraint("session_id", "referred_id", name="uq_referrals_session_referred"),
    )
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_referrals_sharer_id"), ["sharer_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_referrals_sharer_id"))
    op.drop_table("referrals")
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_sessions_next_reminder_at")
        batch_op.drop_column("next_reminder_at")
    with op.batch_alter_table("buyers", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_buyers_referral_tag"), type_="unique")
        batch_op.drop_column("opted_out_at")
        batch_op.drop_column("referral_tag")
