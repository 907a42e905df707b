"""Orders: one per confirmed join, once stock is there; each buyer gets one message listing theirs.

Orders snapshot the buyer's delivery address; a buyer without one is asked for it and the order is
flagged until it arrives (`core.buyers.set_address`). With a payment provider plugged in
(`core.adapters.payments`), the message carries the buyer's payment link.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import notifications
from core.adapters import payments
from core.models import GroupSession, Order, Participant, ParticipantStatus, Product
from core.session_rows import participants
from core.settings import Settings
from core.texts import render, rupiah


def short_code(preferred: str, fallback: str) -> str:
    """`preferred` when it fits the 32-character code columns, else `fallback`."""
    return preferred if len(preferred) <= 32 else fallback


def create_orders(
    db: Session, settings: Settings, session: GroupSession, product: Product, at: datetime
) -> int:
    """One order per confirmed join, numbered within the session; each buyer gets one message listing
    theirs. Joins that already have an order are skipped. Returns the orders created."""
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
    payment_links = payments.payment_links_for(settings)
    for buyer_id, pairs in sorted(orders.items()):
        buyer = pairs[0][1].buyer
        language = buyer.language
        lines = "\n".join(
            render(
                language,
                "order_line",
                order=order.code,
                size=participant.variant.size,
                quantity=order.quantity,
                amount=rupiah(order.amount_due),
            )
            for order, participant in pairs
        )
        amount = sum(order.amount_due for order, _ in pairs)
        address = pairs[0][0].delivery_address
        address_note = (
            render(language, "order_address_known", address=address)
            if address
            else render(language, "order_address_missing")
        )
        link = payment_links.link_for(
            reference=f"{session.code}-{buyer_id}", buyer_phone=buyer.phone, amount=amount
        )
        if link:
            address_note += render(language, "order_payment_link", link=link)
        notifications.notify(
            db,
            settings,
            notifications.ORDER_CREATED,
            key=f"order_created:{session.id}:{buyer_id}",
            to_phone=buyer.phone,
            language=language,
            session_id=session.id,
            code=session.code,
            product=product.name,
            lines=lines,
            total=rupiah(amount),
            address=address_note,
        )
    return sum(len(pairs) for pairs in orders.values())
