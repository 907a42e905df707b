"""Online payment as people read it: an order's payment state in STATUS, a session's totals for the admin."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.clock import format_wib
from core.models import Order, OrderPayment, PaymentStatus
from core.texts import render

TOTALS = {
    "paid": (PaymentStatus.PAID,),
    "pending": (PaymentStatus.INVOICING, PaymentStatus.PENDING, PaymentStatus.FAILED),
    "expired": (PaymentStatus.EXPIRED,),
    "review": (PaymentStatus.REVIEW,),
}
"""A session's payment totals: paid; still owed (link on its way, link sent, or to pay through the admin);
expired unpaid; money received that the admin must check."""


def payments_by_participant(
    db: Session, participant_ids: Iterable[int]
) -> dict[int, tuple[str, OrderPayment | None]]:
    """participant id -> (its order's code, the order's payment row or None), for joins with an order."""
    rows = db.execute(
        select(Order.participant_id, Order.code, OrderPayment)
        .outerjoin(OrderPayment, OrderPayment.order_id == Order.id)
        .where(Order.participant_id.in_(list(participant_ids)))
    )
    return {participant_id: (code, payment) for participant_id, code, payment in rows}


def describe(language: str, payment: OrderPayment | None) -> str:
    """What STATUS adds after "order <code>": nothing without online payment."""
    if payment is None:
        return ""
    fields: dict[str, object] = {}
    if payment.status == PaymentStatus.PENDING:
        fields = {
            "due": format_wib(payment.due_at, language) if payment.due_at else "-",
            "link": payment.invoice_url,
        }
    elif payment.status == PaymentStatus.PAID:
        fields = {"paid_at": format_wib(payment.paid_at, language) if payment.paid_at else ""}
    return render(language, f"status_payment_{payment.status}", **fields)


def session_totals(db: Session, session_id: int) -> dict[str, dict[str, int]]:
    """`{"paid": {"orders": n, "amount": rupiah}, "pending": ..., "expired": ..., "review": ...}`."""
    rows = db.execute(
        select(OrderPayment.status, func.count(), func.coalesce(func.sum(OrderPayment.amount), 0))
        .join(Order, Order.id == OrderPayment.order_id)
        .where(Order.session_id == session_id)
        .group_by(OrderPayment.status)
    )
    by_status = {status: (int(count), int(amount)) for status, count, amount in rows}
    return {
        group: {
            "orders": sum(by_status.get(s, (0, 0))[0] for s in statuses),
            "amount": sum(by_status.get(s, (0, 0))[1] for s in statuses),
        }
        for group, statuses in TOTALS.items()
    }
