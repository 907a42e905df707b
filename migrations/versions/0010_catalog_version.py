"""products: catalog_version, so a web process may keep a product's sizes and lot mix between joins

Revision ID: catalog_version
Revises: settlement
Create Date: 2026-12-02 00:00:00

A join reads the product's `catalog_version` in the statement that locks the session and uses its cached
catalog only when the version is the same (`core.product_lots`). Every change to a product, its sizes or
its allocations draws a new random version. Existing products get 0 until their next change.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "catalog_version"
down_revision: str | None = "settlement"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.add_column(sa.Column("catalog_version", sa.BigInteger(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_column("catalog_version")
