"""products: excess_weight, the cost of a leftover unit next to a lost sale, for settlement at close

Revision ID: settlement
Revises: delivery
Create Date: 2026-11-26 09:00:00

Settlement at close (docs/design.md, "Settlement at close") minimises `excess_weight * E + R`. The weight
is stored exactly: NUMERIC(10, 4) on PostgreSQL, its decimal text on SQLite (where NUMERIC would be a
binary float). Existing products get the default, 1.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "settlement"
down_revision: str | None = "delivery"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "excess_weight",
                sa.Numeric(10, 4).with_variant(sa.String(24), "sqlite"),
                server_default="1",
                nullable=False,
            )
        )
        batch_op.create_check_constraint(
            op.f("ck_products_excess_weight_non_negative"), "CAST(excess_weight AS NUMERIC) >= 0"
        )


def downgrade() -> None:
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_products_excess_weight_non_negative"), type_="check")
        batch_op.drop_column("excess_weight")
