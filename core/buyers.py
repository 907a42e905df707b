"""Buyer details that outlive a single session."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from core.models import Buyer, Order
from core.transitions import rows_changed


def set_address(db: Session, buyer: Buyer, address: str) -> int:
    """Store the delivery address; orders still waiting for one get it now. Returns orders completed."""
    buyer.address = address
    completed = rows_changed(
        db,
        update(Order)
        .where(Order.buyer_id == buyer.id, Order.needs_address.is_(True))
        .values(delivery_address=address, needs_address=False)
        .execution_options(synchronize_session=False),
    )
    db.flush()
    return completed
