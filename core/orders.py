"""Orders: one per confirmed join, once stock is there; each buyer gets one message listing theirs.

Orders snapshot the buyer's delivery address; a buyer without one is asked for it and the order is
flagged until it arrives (`core.buyers.set_address`). With online payment (`XENDIT_SECRET_KEY`), each
order's units are held under the order's own warehouse key (so an expired order gives back exactly its
units), each order gets an invoice row, and the message waits for the invoice job, which adds the links
(`core.invoicing`, `core.order_messages`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import invoicing
from core.models import GroupSession, Order, Participant, ParticipantStatus, Product
from core.order_messages import tell_buyer
from core.session_rows import participants
from core.settings import Settings
from core.stock_plan import order_hold_key
from core.warehouse import StockLine, Warehouse


def short_code(preferred: str, fallback: str) -> str:
    """`preferred` when it fits the 32-character code columns, else `fallback`."""
    return preferred if len(preferred) <= 32 else fallback


def create_orders(
    db: Session,
    settings: Settings,
    session: GroupSession,
    product: Product,
    at: datetime,
    warehouse: Warehouse,
) -> list[Order]:
    """One order per confirmed join, numbered within the session; each buyer gets one message listing
    theirs (with online payment, once their invoices exist). Joins that already have an order are skipped.
    Returns the orders created.

    Without online payment the caller has held the session's units under its session key; with it, the
    units are held here, per order (`InsufficientStock` rolls the caller back, as any hold does)."""
    confirmed = sorted(participants(db, session.id, ParticipantStatus.CONFIRMED), key=lambda p: p.id)
    existing = set(db.scalars(select(Order.participant_id).where(Order.session_id == session.id)))
    orders: dict[int, list[tuple[Order, Participant]]] = defaultdict(list)
    for number, participant in enumerate(confirmed, 1):
        if participant.id in existing:
            continue
        address = (participant.buyer.address or "").strip() or None
        order = Order(
            code=short_code(f"{session.code}-{number:03d}", f"O{session.id}-{number:03d}"),
            participant_id=participant.id,
            session_id=session.id,
            buyer_id=participant.buyer_id,
            variant_id=participant.variant_id,
            quantity=participant.quantity,
            amount_due=participant.total,
            delivery_address=address,
            needs_address=address is None,
            created_at=at,
        )
        db.add(order)
        orders[participant.buyer_id].append((order, participant))
    db.flush()
    created = [order for pairs in orders.values() for order, _ in pairs]
    paying: set[int] = set()
    if settings.online_payment:
        stock_keys = hold_each_order(warehouse, product, created)
        paying = invoicing.open_invoices(db, session, created, stock_keys, at)
    for buyer_id, pairs in sorted(orders.items()):
        if buyer_id not in paying:  # the invoice job tells them, with the links
            tell_buyer(db, settings, session, product, pairs[0][1].buyer, [order for order, _ in pairs])
    return created


def hold_each_order(warehouse: Warehouse, product: Product, orders: Sequence[Order]) -> dict[int, str]:
    """Hold each order's units under its own key (`order_hold_key`); returns the key per order id."""
    sku = {variant.id: variant.sku for variant in product.variants}
    keys = {}
    for order in orders:
        keys[order.id] = order_hold_key(order.code)
        line = StockLine(order.variant_id, sku[order.variant_id], order.quantity)
        warehouse.reserve(product, [line], key=keys[order.id])
    return keys
